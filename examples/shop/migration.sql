-- Expand step of status → status_code: the new, compact shape of `status` ('new'=1, 'paid'=2,
-- 'shipped'=3, 'delivered'=4, 'cancelled'=5), nullable so that a reader can tell a row not written
-- since the rename (NULL: fall back to `status`). shopsvc (schema version v2) writes both columns
-- from the prepare phase on and reads status_code when it is set.
--
-- Widening `amount` changes the column type, which MariaDB 10.11 cannot do in place (error 1846,
-- "Cannot change column type. Try ALGORITHM=COPY"): the planner sends the whole change to gh-ost,
-- so the cut-over gate and shopsvc's participants are exercised.
ALTER TABLE orders
  ADD COLUMN status_code SMALLINT NULL,
  MODIFY amount DECIMAL(14,2) NOT NULL;
