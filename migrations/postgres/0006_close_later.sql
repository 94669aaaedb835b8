-- WeChat refuses to close an order younger than 5 minutes. An order whose registration was
-- cancelled sooner stays open, watched, and is closed by the jobs from `close_after` on; a payment
-- that still arrives is recorded as paid after cancellation.
ALTER TABLE orders ADD COLUMN close_after BIGINT;
CREATE INDEX orders_close_after ON orders (close_after) WHERE close_after IS NOT NULL;
