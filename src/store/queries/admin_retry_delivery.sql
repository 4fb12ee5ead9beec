-- Due now. attempt_count is kept, so an exhausted delivery gets exactly one more attempt
-- (the next-state function exhausts it again if that attempt fails). The queue row carries the
-- event's seq whatever the webhook's ordering (a FIFO webhook takes it in that order; for
-- others it is unused), so a delivery re-queued while its webhook switches to fifo is numbered.
with retried as (
    update herald.deliveries
       set status     = case when status = 'exhausted' then 'failed' else status end,
           updated_at = now()
     where id = $1 and status in ('pending', 'failed', 'exhausted')
    returning id, webhook_id, status, attempt_count, event_id
),
queued as (
    insert into herald.queue (delivery_id, webhook_id, due_at, seq)
    select id, webhook_id, now(), coalesce((select e.seq from herald.events e where e.id = event_id), 0)
      from retried
    on conflict (delivery_id) do update set due_at = excluded.due_at,
                                            seq = coalesce(herald.queue.seq, excluded.seq)
    returning delivery_id, due_at
)
select r.id, r.webhook_id, r.status, r.attempt_count, q.due_at as next_attempt_at
  from retried r
  join queued q on q.delivery_id = r.id
