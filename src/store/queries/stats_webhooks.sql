-- Attempts of each of the webhooks $1 per duration bucket: over the last hour from the
-- per-minute rollup (at most 60 x buckets rows per webhook), over the last day from the
-- per-hour rollup (the current hour and the 23 before it: at most 24 x buckets rows).
select webhook_id, bucket, sum(attempts)::int8 as hour_attempts, sum(delivered)::int8 as hour_delivered,
       0::int8 as day_attempts, 0::int8 as day_delivered
  from herald.attempt_rollup
 where webhook_id = any($1::uuid[])
   and minute >= now() - interval '1 hour'
 group by webhook_id, bucket
union all
select webhook_id, bucket, 0, 0, sum(attempts)::int8, sum(delivered)::int8
  from herald.attempt_rollup_hourly
 where webhook_id = any($1::uuid[])
   and hour >= date_trunc('hour', now()) - interval '23 hours'
 group by webhook_id, bucket
