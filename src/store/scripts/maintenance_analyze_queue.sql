-- Analyzes the queue (never waiting for a lock), so that the planner's row count and the plans
-- cached by every session catch up with a backlog. Only its owner may: for another role
-- PostgreSQL warns and skips it, and autovacuum is left to do it.
analyze (skip_locked) herald.queue
