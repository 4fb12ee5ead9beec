-- Analyzes the queue without waiting for a lock, as the schema owner whatever the caller's
-- role (herald.analyze_queue is SECURITY DEFINER), so that the planner's row count and the
-- plans cached by every session catch up with a backlog.
select herald.analyze_queue()
