-- Writes a batch of results in one round trip:
--  * each result applies only if its queue row still carries the claim's lease as due_at: a
--    worker that lost its lease, or a batch retried after its commit's acknowledgement was
--    lost, changes nothing. A final result deletes the queue row, a retry moves its due_at;
--  * the delivery record is updated in place (no indexed column changes: a HOT update);
--  * one attempt row per HTTP attempt made, never twice for the same attempt;
--  * the breaker and back-off state of the webhooks whose results applied, aggregated per
--    webhook (see `decided` below).
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
    select b.webhook_id, b.gone, b.throttled_at is not null as throttled, b.throttled_at,
           b.retry_until, b.answered_at > coalesce(w.backoff_from, '-infinity') as answered,
           case when b.reset then 0 else w.consecutive_failures end + b.failures as failures,
           -- A success closes the breaker; only the failures after it count.
           case when b.reset then 'closed' else w.breaker_state end as state,
           b.failures > 0 as failed, b.reset,
           w.breaker_opened_at, w.breaker_opens, w.backoff_level,
           w.enabled and w.disabled_at is null as was_active
      from unnest($17::uuid[], $18::bool[], $19::int4[], $20::bool[], $25::timestamptz[],
                  $26::timestamptz[], $27::timestamptz[])
           as b (webhook_id, reset, failures, gone, throttled_at, retry_until, answered_at)
      join herald.user_webhooks w on w.id = b.webhook_id
     -- Only webhooks with a result that applied: stale results and a retried batch whose
     -- first write committed do not move the breaker.
     where b.webhook_id in (select webhook_id from applied)
       and (b.failures > 0 or b.gone or b.throttled_at is not null or w.consecutive_failures <> 0
            or w.breaker_state <> 'closed' or w.backoff_until is not null)
),
-- The breaker: closed opens at threshold $21 for the cool-down ($22 s); a failed probe
-- (half-open) re-opens it for twice as long (up to an hour, or the cool-down if longer), or
-- disables the webhook once it has been open for $23 s. 410 Gone disables at once.
decided as (
    select c.*,
           case when c.gone then 'disable'
                when c.state = 'closed' and c.failures >= $21::int4 then 'open'
                when c.state = 'half_open' and c.failed
                     and now() - c.breaker_opened_at >= make_interval(secs => $23::float8) then 'disable'
                when c.state = 'half_open' and c.failed then 'reopen'
                else 'keep'
           end as action
      from counts c
),
breaker as (
    update herald.user_webhooks w
       set consecutive_failures = d.failures,
           enabled = case when d.action = 'disable' then false else w.enabled end,
           disabled_at = case when d.action = 'disable' and d.was_active then now() else w.disabled_at end,
           breaker_state = case when d.action in ('open', 'reopen') then 'open'
                                when d.action = 'disable' then w.breaker_state
                                else d.state end,
           breaker_until = case d.action
                             when 'open' then now() + make_interval(secs => $22::float8)
                             when 'reopen' then now() + make_interval(secs =>
                                  least(greatest($22::float8, 3600),
                                        $22::float8 * power(2, least(d.breaker_opens, 30))))
                             when 'keep' then case when d.state = 'closed' then null else w.breaker_until end
                             else w.breaker_until
                           end,
           breaker_opened_at = case when d.action = 'open' then now()
                                    when d.action = 'keep' and d.state = 'closed' then null
                                    else w.breaker_opened_at end,
           breaker_opens = case when d.action = 'open' then 1
                                when d.action = 'reopen' then d.breaker_opens + 1
                                when d.action = 'keep' and d.state = 'closed' then 0
                                else w.breaker_opens end,
           -- 429/503: nothing is sent before Retry-After (bounded by the caller) or, without
           -- it, a wait of 2^n s (n: such answers since the last success; at most $24 s).
           -- Another answer, to a request started after that, ends the wait; a success forgets n.
           backoff_until = case
                             -- (a newer answer replaces the wait, and the lease of a probe)
                             when d.throttled then greatest(
                                  case when d.throttled_at <= w.backoff_from then w.backoff_until end,
                                  coalesce(d.retry_until,
                                           now() + make_interval(secs => least($24::float8,
                                                                 power(2, least(d.backoff_level, 30))))))
                             when d.answered then null
                             else w.backoff_until
                           end,
           backoff_from = case when d.throttled then greatest(w.backoff_from, d.throttled_at)
                               else w.backoff_from end,
           backoff_level = case when d.throttled and d.retry_until is null then d.backoff_level + 1
                                when d.reset and d.answered and not d.throttled then 0
                                else d.backoff_level end,
           updated_at = now()
      from decided d
     where w.id = d.webhook_id
    returning w.id, d.action, w.breaker_until, w.backoff_until
),
-- herald.delivery.exhausted about each delivery that used its last attempt (operational events).
exhausted as (
    select herald.emit_exhausted(array_agg(r.id), array_agg(r.status_code), array_agg(r.error)) as events
      from results r
     where r.status = 'exhausted' and r.attempted = 1
       and r.id in (select id from applied)
    having count(*) > 0
)
select array(select id from applied) as applied,
       (select count(*) from breaker where action = 'open') as trips,
       -- When this worker should look again: the end of a cool-down or a back-off it set.
       array(select coalesce(least(breaker_until, backoff_until), breaker_until, backoff_until)
               from breaker
              where breaker_until is not null or backoff_until is not null) as wake_at,
       (select events from exhausted) as exhausted_events
