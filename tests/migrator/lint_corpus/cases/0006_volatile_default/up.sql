ALTER TABLE accounts ADD COLUMN api_key uuid DEFAULT gen_random_uuid();
