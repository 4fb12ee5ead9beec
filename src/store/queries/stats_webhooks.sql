-- Attempts of each of the webhooks $1 by duration bucket (an array: element i + 1 counts
-- bucket i): over the last hour from the per-minute rollup (at most 60 rows per webhook), over
-- the last day from the per-hour rollup (the current hour and the 23 before it: at most 24).
select webhook_id, true as last_hour, attempts, delivered::int8 as delivered
  from herald.attempt_rollup
 where webhook_id = any($1::uuid[])
   and minute >= now() - interval '1 hour'
union all
select webhook_id, false, attempts, delivered::int8
  from herald.attempt_rollup_hourly
 where webhook_id = any($1::uuid[])
   and hour >= date_trunc('hour', now()) - interval '23 hours'
