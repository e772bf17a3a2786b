ALTER TABLE orders ADD CONSTRAINT orders_id_state_key UNIQUE (id, state);
