-- The last queue snapshot, taken when its pending and failed deliveries were counted (the
-- delivered and exhausted ones are counted by a slower walk over the table), and the oldest due
-- delivery: the queue holds exactly the pending and failed deliveries, so its first due entry
-- (queue_due) is the answer. A claimed row's
-- due_at is its lease's end, in the future, so deliveries in flight are not counted as due.
select (select jsonb_object_agg(status, deliveries) from herald.queue_snapshot) as by_status,
       (select min(taken_at) from herald.queue_snapshot
         where status in ('pending', 'failed')) as taken_at,
       (select min(due_at) from herald.queue where due_at <= now()) as oldest_due
