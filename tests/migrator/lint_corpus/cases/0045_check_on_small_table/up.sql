ALTER TABLE countries ADD CONSTRAINT countries_code_length CHECK (length(code) = 2);
