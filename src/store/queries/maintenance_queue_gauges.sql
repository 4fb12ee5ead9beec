select count(*) as due,
       coalesce(extract(epoch from now() - min(next_attempt_at)), 0)::float8 as oldest_due_seconds
  from herald.webhook_deliveries
 where status in ('pending', 'failed')
   and next_attempt_at <= now()
