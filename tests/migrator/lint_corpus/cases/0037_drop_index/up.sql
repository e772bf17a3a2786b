DROP INDEX orders_account_id;
