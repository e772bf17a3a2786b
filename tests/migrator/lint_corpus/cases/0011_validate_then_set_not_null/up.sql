-- The check was added NOT VALID by 0010 (another transaction); validating it here only takes a
-- SHARE UPDATE EXCLUSIVE lock, and SET NOT NULL then uses it instead of scanning.
ALTER TABLE accounts VALIDATE CONSTRAINT accounts_name_not_null;
ALTER TABLE accounts ALTER COLUMN name SET NOT NULL;
