-- A UNIQUE key over a column with duplicates cannot succeed (the native ALTER fails, and gh-ost
-- with PanicOnWarnings fails its copy rather than drop rows). Blocked.
ALTER TABLE orders ADD UNIQUE KEY uk_customer (customer_id);
