CREATE TABLE staging_rates (id bigint, rate numeric);
ALTER TABLE staging_rates RENAME TO rates;
CREATE INDEX rates_id ON rates (id);
ALTER TABLE rates ADD PRIMARY KEY (id);
