-- invoices is created by 0004, which is not applied yet: the table is new.
CREATE INDEX invoices_issued_at ON invoices (issued_at);
