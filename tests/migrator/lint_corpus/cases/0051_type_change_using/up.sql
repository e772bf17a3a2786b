ALTER TABLE events ALTER COLUMN kind TYPE varchar(40) USING left(kind, 40);
