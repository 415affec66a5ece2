-- INT → BIGINT changes the stored format: the server would copy the table. gh-ost does it online.
ALTER TABLE orders MODIFY COLUMN quantity BIGINT NOT NULL DEFAULT 1;
