CREATE TABLE payments (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id),
  amount numeric(12,2) NOT NULL CHECK (amount > 0),
  token uuid NOT NULL DEFAULT gen_random_uuid()
);
ALTER TABLE payments ADD CONSTRAINT payments_amount_cap CHECK (amount < 1000000);
ALTER TABLE payments ADD COLUMN note text DEFAULT random()::text;
