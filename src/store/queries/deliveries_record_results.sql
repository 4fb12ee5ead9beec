-- Writes a batch of results in one round trip:
--  * each result applies only if its queue row still carries the claim's lease as due_at: a
--    worker that lost its lease, or a batch retried after its commit's acknowledgement was
--    lost, changes nothing. A final result deletes the queue row, a retry moves its due_at;
--  * the delivery record is updated in place (no indexed column changes: a HOT update);
--  * one attempt row per HTTP attempt made, never twice for the same attempt;
--  * the breaker counters of the webhooks whose results applied, aggregated per webhook, and
--    trips at threshold $21.
with results as (
    select *
      from unnest($1::uuid[], $2::int4[], $3::timestamptz[], $4::text[], $5::timestamptz[],
                  $6::int4[], $7::text[], $8::int4[])
           as r (id, claimed_attempts, lease, status, next_attempt_at, status_code, error, attempted)
),
dequeued as (
    delete from herald.queue q
     using results r
     where q.delivery_id = r.id and q.due_at = r.lease and r.next_attempt_at is null
    returning q.delivery_id
),
requeued as (
    update herald.queue q
       set due_at = r.next_attempt_at
      from results r
     where q.delivery_id = r.id and q.due_at = r.lease and r.next_attempt_at is not null
    returning q.delivery_id
),
applied as (
    update herald.deliveries d
       set status = r.status,
           attempt_count = d.attempt_count + r.attempted,
           last_status_code = coalesce(r.status_code, case when r.attempted = 0 then d.last_status_code end),
           last_error = r.error,
           delivered_at = case when r.status = 'delivered' then now() else d.delivered_at end,
           updated_at = now()
      from results r
     where d.id = r.id
       and d.attempt_count = r.claimed_attempts
       and r.id in (select delivery_id from dequeued union all select delivery_id from requeued)
    returning d.id, d.webhook_id
),
attempts as (
    insert into herald.delivery_attempts
           (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code, error, response_excerpt)
    select a.delivery_id, a.webhook_id, a.attempt, a.started_at, a.duration_ms, a.status_code,
           a.error, a.excerpt
      from unnest($9::uuid[], $10::uuid[], $11::int4[], $12::timestamptz[], $13::float8[],
                  $14::int4[], $15::text[], $16::text[])
           as a (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code, error, excerpt)
     where exists (select 1 from herald.deliveries d where d.id = a.delivery_id)
       -- A batch retried after its commit's acknowledgement was lost is not logged twice.
       and not exists (select 1 from herald.delivery_attempts x
                        where x.delivery_id = a.delivery_id and x.attempt = a.attempt
                          and x.started_at = a.started_at)
),
counts as (
    select b.webhook_id, b.gone,
           case when b.reset then 0 else w.consecutive_failures end + b.failures as failures,
           w.enabled and w.disabled_at is null as was_active
      from unnest($17::uuid[], $18::bool[], $19::int4[], $20::bool[])
           as b (webhook_id, reset, failures, gone)
      join herald.user_webhooks w on w.id = b.webhook_id
     -- Only webhooks with a result that applied: stale results and a retried batch whose
     -- first write committed do not move the breaker.
     where b.webhook_id in (select webhook_id from applied)
       and (b.failures > 0 or b.gone or w.consecutive_failures <> 0)
),
breaker as (
    update herald.user_webhooks w
       set consecutive_failures = c.failures,
           enabled = case when c.gone or c.failures >= $21::int4 then false else w.enabled end,
           disabled_at = case when c.was_active and (c.gone or c.failures >= $21::int4)
                              then now() else w.disabled_at end,
           updated_at = now()
      from counts c
     where w.id = c.webhook_id
    returning w.id, c.was_active and not c.gone and c.failures >= $21::int4 as tripped
)
select array(select id from applied) as applied,
       (select count(*) from breaker where tripped) as trips
