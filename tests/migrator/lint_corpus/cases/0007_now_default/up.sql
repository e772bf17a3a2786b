-- now() is STABLE: PostgreSQL 11+ stores it once as a fast default, no rewrite.
ALTER TABLE accounts ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
