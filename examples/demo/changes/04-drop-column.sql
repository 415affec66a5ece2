-- Destructive: the data in `note` is gone for good. Blocked unless --allow-destructive.
ALTER TABLE orders DROP COLUMN note;
