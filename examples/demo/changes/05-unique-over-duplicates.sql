-- A UNIQUE key over a column with duplicates would make gh-ost silently drop rows. Blocked.
ALTER TABLE orders ADD UNIQUE KEY uk_customer (customer_id);
