-- Re-queues a webhook's failed and exhausted deliveries created since $3; attempt_count is
-- kept (an exhausted delivery gets one more attempt). Answers how many. Queue rows carry the
-- event's seq, as in admin_retry_delivery.sql.
with requeued as (
    update herald.deliveries d
       set status = 'failed', updated_at = now()
     where d.webhook_id = $2
       and d.status in ('failed', 'exhausted')
       and d.created_at >= $3
       and exists (select 1 from herald.user_webhooks w where w.id = d.webhook_id and w.user_id = $1)
    returning d.id, d.webhook_id, d.event_id
),
queued as (
    insert into herald.queue (delivery_id, webhook_id, due_at, seq)
    select id, webhook_id, now(), coalesce((select e.seq from herald.events e where e.id = event_id), 0)
      from requeued
    on conflict (delivery_id) do update set due_at = excluded.due_at,
                                            seq = coalesce(herald.queue.seq, excluded.seq)
)
select count(*) from requeued
