-- Per demo webhook: its deliveries' outcomes, its attempts, and whether its breaker tripped.
select w.id,
       count(d.id)                                            as deliveries,
       count(d.id) filter (where d.status = 'delivered')      as delivered,
       count(d.id) filter (where d.status = 'exhausted')      as exhausted,
       count(d.id) filter (where d.attempt_count > 1)         as retried,
       count(d.id) filter (where d.status = 'delivered'
                             and d.attempt_count > 1)         as delivered_after_retries,
       coalesce(sum(d.attempt_count), 0)::bigint             as attempts,
       w.disabled_at is not null                              as tripped
  from herald.user_webhooks w
  left join herald.webhook_deliveries d on d.webhook_id = w.id
 where w.id = any($1::uuid[])
 group by w.id
