ALTER TABLE events VALIDATE CONSTRAINT events_account_fk;
