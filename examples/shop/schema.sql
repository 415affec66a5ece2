-- The example shop's table. shopsvc reads and writes it through graybox; migration.sql is the
-- change the end-to-end test and `make demo` run through ghostgate while shopsvc is under load.
CREATE TABLE orders (
  id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT NOT NULL,
  status      VARCHAR(20) NOT NULL,
  amount      DECIMAL(12,2) NOT NULL,
  updated_at  DATETIME(6) NOT NULL,
  KEY idx_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
