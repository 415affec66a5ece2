-- DECIMAL(10,2) → DECIMAL(14,2) needs a copy, and gh-ost cannot copy a table with a foreign key.
ALTER TABLE payments MODIFY COLUMN amount DECIMAL(14,2) NOT NULL;
