-- Vacuums the queue (never waiting for a lock; never truncating it either, by the table's own
-- vacuum_truncate = false: sql/0011_queue_keeps_its_pages.sql). Only its owner may: for another
-- role PostgreSQL warns and skips it, and autovacuum is left to do it.
vacuum (skip_locked) herald.queue