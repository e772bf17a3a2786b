CREATE SEQUENCE accounts_ticket_seq;
ALTER TABLE accounts ADD COLUMN ticket bigint DEFAULT nextval('accounts_ticket_seq');
