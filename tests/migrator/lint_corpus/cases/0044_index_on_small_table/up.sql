-- countries has 10 rows: a plain index is built in milliseconds.
CREATE INDEX countries_name ON countries (name);
