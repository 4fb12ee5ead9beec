-- Due now. attempt_count is kept, so an exhausted delivery gets exactly one more attempt
-- (the next-state function exhausts it again if that attempt fails).
update herald.webhook_deliveries
   set status          = case when status = 'exhausted' then 'failed' else status end,
       next_attempt_at = now(),
       updated_at      = now()
 where id = $1 and status in ('pending', 'failed', 'exhausted')
returning id, webhook_id, status, attempt_count, next_attempt_at
