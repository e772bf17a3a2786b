-- accounts_email_idx already exists (built concurrently earlier): attaching it is instant.
ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE USING INDEX accounts_email_idx;
