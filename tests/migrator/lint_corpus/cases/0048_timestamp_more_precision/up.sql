ALTER TABLE orders ALTER COLUMN placed_at TYPE timestamp(6);
