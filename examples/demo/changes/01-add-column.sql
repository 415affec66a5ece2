-- A new nullable column at the end: metadata only (INSTANT) on MariaDB 10.3+ and MySQL 8.0.12+.
ALTER TABLE orders ADD COLUMN coupon VARCHAR(32) NULL;
