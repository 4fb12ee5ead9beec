-- Due now (herald.requeue). attempt_count is kept, so an exhausted delivery gets exactly one
-- more attempt (the next-state function exhausts it again if that attempt fails).
with retried as (
    update herald.deliveries
       set status     = case when status = 'exhausted' then 'failed' else status end,
           updated_at = now()
     where id = $1 and status in ('pending', 'failed', 'exhausted')
    returning id, webhook_id, status, attempt_count
),
queued as (
    select * from herald.requeue(array(select id from retried))
)
select r.id, r.webhook_id, r.status, r.attempt_count, q.due_at as next_attempt_at
  from retried r
  join queued q on q.delivery_id = r.id
