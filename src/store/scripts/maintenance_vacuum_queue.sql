-- Vacuums the queue (never waiting for a lock). Only its owner may: for another role
-- PostgreSQL warns and skips it, and autovacuum is left to do it.
vacuum (skip_locked) herald.queue
