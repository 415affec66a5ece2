-- Seeds the demo tables from MariaDB's SEQUENCE engine (seq_1_to_N): fast, no client loop.
INSERT INTO customers (email, name)
  SELECT CONCAT('user', seq, '@example.com'), CONCAT('User ', seq) FROM seq_1_to_20000;
INSERT INTO orders (customer_id, status, amount, quantity, note)
  SELECT 1 + (seq % 20000), ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'done'),
         (seq % 10000) / 100, 1 + seq % 5, IF(seq % 7 = 0, NULL, CONCAT('note ', seq % 100))
  FROM seq_1_to_300000;
INSERT INTO payments (customer_id, amount) SELECT 1 + (seq % 20000), (seq % 5000) / 100 FROM seq_1_to_1000;
ANALYZE TABLE customers, orders, payments;
