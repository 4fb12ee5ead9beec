-- The last queue snapshot, and the oldest due delivery (the first entry of
-- webhook_deliveries_due).
select (select jsonb_object_agg(status, deliveries) from herald.queue_snapshot) as by_status,
       (select min(taken_at) from herald.queue_snapshot) as taken_at,
       (select min(next_attempt_at) from herald.webhook_deliveries
         where status in ('pending', 'failed') and next_attempt_at <= now()) as oldest_due
