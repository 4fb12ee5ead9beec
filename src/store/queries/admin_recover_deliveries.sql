-- Re-queues a webhook's failed and exhausted deliveries created since $3 (herald.requeue);
-- attempt_count is kept (an exhausted delivery gets one more attempt). Answers how many.
with requeued as (
    update herald.deliveries d
       set status = 'failed', updated_at = now()
     where d.webhook_id = $2
       and d.status in ('failed', 'exhausted')
       and d.created_at >= $3
       and exists (select 1 from herald.user_webhooks w where w.id = d.webhook_id and w.user_id = $1)
    returning d.id
),
queued as (
    select * from herald.requeue(array(select id from requeued))
)
select count(*) from queued
