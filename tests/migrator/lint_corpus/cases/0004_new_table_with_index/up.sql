CREATE TABLE invoices (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id),
  number text NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_account_id ON invoices (account_id);
CREATE UNIQUE INDEX invoices_number ON invoices (number);
