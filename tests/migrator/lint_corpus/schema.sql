-- The database every corpus case starts from, applied before the cases are linted: busy tables
-- (20,000 rows each, analyzed, so pg_class knows) and one small lookup table.
CREATE TYPE order_state AS ENUM ('new', 'paid');
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  email varchar(100),
  name varchar(50),
  plan text,
  balance numeric(10,2),
  status text,
  code char(4),
  notes text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email_idx ON accounts (email);
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  account_id bigint,
  total numeric(12,2),
  state order_state NOT NULL DEFAULT 'new',
  placed_at timestamp(3)
);
CREATE INDEX orders_account_id ON orders (account_id);
CREATE TABLE events (id bigint PRIMARY KEY, account_id bigint, kind text, payload jsonb);
CREATE INDEX events_kind ON events (kind);
CREATE TABLE legacy_sessions (id bigint PRIMARY KEY, token text);
CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz, body text);
CREATE TABLE imports (id bigint, line text);
CREATE TABLE bookings (id bigint PRIMARY KEY, room int, during tstzrange);
CREATE TABLE countries (code char(2) PRIMARY KEY, name text);

INSERT INTO accounts (id, email, name, plan, balance, status, code, notes)
  SELECT g, 'user' || g || '@example.com', 'user ' || g, 'free', 0, 'active', 'ABCD', '' FROM generate_series(1, 20000) g;
INSERT INTO orders (id, account_id, total, placed_at) SELECT g, g, 10, now() FROM generate_series(1, 20000) g;
INSERT INTO events (id, account_id, kind) SELECT g, g, 'login' FROM generate_series(1, 20000) g;
INSERT INTO legacy_sessions SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO audit_log SELECT g, now(), 'x' FROM generate_series(1, 20000) g;
INSERT INTO imports SELECT g, 'x' FROM generate_series(1, 20000) g;
INSERT INTO bookings SELECT g, g % 50, tstzrange(now() + g * interval '1 hour', now() + (g + 1) * interval '1 hour')
  FROM generate_series(1, 20000) g;
INSERT INTO countries VALUES ('de', 'Germany'), ('fr', 'France'), ('it', 'Italy'), ('es', 'Spain'), ('pt', 'Portugal'),
  ('nl', 'Netherlands'), ('be', 'Belgium'), ('at', 'Austria'), ('ch', 'Switzerland'), ('pl', 'Poland');
ANALYZE;
