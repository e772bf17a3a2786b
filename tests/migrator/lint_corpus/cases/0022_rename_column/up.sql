ALTER TABLE accounts RENAME COLUMN notes TO remarks;
