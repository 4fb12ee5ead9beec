-- Claims up to $1 due deliveries, oldest due first, at most $3 in flight per webhook (counting
-- the $4/$5 webhooks already busy in this worker), and moves each row's next_attempt_at forward
-- by the lease ($2 seconds). The new next_attempt_at is the claim's fencing token.
with busy as (
    select b.webhook_id, b.n
      from unnest($4::uuid[], $5::int8[]) as b (webhook_id, n)
),
candidates as (
    select d.id, d.next_attempt_at,
           row_number() over (partition by d.webhook_id order by d.next_attempt_at, d.id)
               + coalesce(b.n, 0) as slot
      from (select id, webhook_id, next_attempt_at
              from herald.webhook_deliveries
             where status in ('pending', 'failed')
               and next_attempt_at <= now()
               and webhook_id <> all (array(select webhook_id from busy where n >= $3::int8))
             order by next_attempt_at
             limit $6::int8) d
      left join busy b on b.webhook_id = d.webhook_id
),
locked as (
    select d.id, d.next_attempt_at as due_at
      from herald.webhook_deliveries d
     where d.id in (select c.id from candidates c where c.slot <= $3::int8
                     order by c.next_attempt_at limit $1::int8)
       and d.status in ('pending', 'failed')
       and d.next_attempt_at <= now()
       for update skip locked
),
claimed as (
    update herald.webhook_deliveries d
       set next_attempt_at = now() + make_interval(secs => $2::float8),
           updated_at = now()
      from locked
     where d.id = locked.id
    returning d.id, d.webhook_id, d.event_id, d.payload, d.attempt_count,
              d.next_attempt_at, d.created_at, locked.due_at
)
select c.id, c.webhook_id, c.event_id, c.payload::text as body, c.attempt_count,
       c.next_attempt_at as lease, c.created_at,
       w.url, w.secret,
       case when w.previous_secret_expires_at > now() then w.previous_secret end as previous_secret,
       coalesce(w.enabled and w.disabled_at is null, false) as active
  from claimed c
  left join herald.user_webhooks w on w.id = c.webhook_id
 order by c.due_at, c.id
