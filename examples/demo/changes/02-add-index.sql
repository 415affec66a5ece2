-- A secondary index: built online (INPLACE/NOCOPY, LOCK=NONE), no table copy.
CREATE INDEX idx_status_created ON orders (status, created_at);
