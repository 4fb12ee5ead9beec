-- Attempts of each of the webhooks $1 over the last hour and the last day, per duration
-- bucket: at most 1,440 minutes x buckets rollup rows per webhook (primary key range).
select webhook_id, bucket,
       coalesce(sum(attempts) filter (where minute >= now() - interval '1 hour'), 0)::int8 as hour_attempts,
       coalesce(sum(delivered) filter (where minute >= now() - interval '1 hour'), 0)::int8 as hour_delivered,
       sum(attempts)::int8 as day_attempts,
       sum(delivered)::int8 as day_delivered
  from herald.attempt_rollup
 where webhook_id = any($1::uuid[])
   and minute >= now() - interval '1 day'
 group by webhook_id, bucket
