LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;
UPDATE accounts SET plan = 'pro' WHERE id = 1;
