-- Built without blocking writes.
CREATE INDEX CONCURRENTLY events_account_id ON events (account_id);
