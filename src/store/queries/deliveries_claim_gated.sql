-- The policy claim: for each webhook in herald.webhook_gates whose wait is over (cool-down of
-- an open breaker, back-off after 429/503), one probe, cluster-wide: its oldest due delivery,
-- leased for $2 seconds. The webhook's row is locked (other workers skip it) and moved to
-- half-open, or its back-off to the lease's end, so that no other worker sends a second probe
-- while this one is in flight; the probe's result closes the breaker or ends the back-off (the
-- writer), or the lease ends and another probe goes. At most $1 probes; webhooks in $3 (no
-- capacity left on this worker) are skipped. A FIFO webhook's probe is its head if it is due
-- (herald.fifo_head, triggers/7_fifo.sql), never a delivery behind it.
with ready as (
    select w.id as webhook_id, w.ordering = 'fifo' as fifo
      from herald.webhook_gates g
      join herald.user_webhooks w on w.id = g.webhook_id
     where g.webhook_id <> all ($3::uuid[])
       -- A rate-limited webhook whose breaker is closed is the rate-limited claim's.
       and (w.breaker_state <> 'closed' or w.backoff_until is not null)
       and coalesce(greatest(w.breaker_until, w.backoff_until), '-infinity') <= now()
     limit $1::int8
       for no key update of w skip locked
),
probe as (
    select p.delivery_id, p.webhook_id, p.due_at
      from ready r
     cross join lateral (select q.delivery_id, q.webhook_id, q.due_at
                           from herald.queue q
                          where q.webhook_id = r.webhook_id and q.due_at <= now() and not r.fifo
                          order by q.due_at
                          limit 1
                            for update skip locked) p
    union all
    select h.delivery_id, h.webhook_id, h.due_at
      from ready r
     cross join lateral herald.fifo_head(r.webhook_id) h
     where r.fifo and h.due_at <= now()
),
claimed as (
    -- (A head is not locked above: the update re-checks that it is still due, or waiting its
    -- turn: deliveries_claim_fifo.sql.)
    update herald.queue q
       set due_at = now() + make_interval(secs => $2::float8)
      from probe
     where q.delivery_id = probe.delivery_id and (q.due_at <= now() or q.due_at = 'infinity')
    returning q.delivery_id, q.webhook_id, q.due_at as lease, probe.due_at as was_due
),
probing as (
    update herald.user_webhooks w
       set breaker_state = case when w.breaker_state = 'closed' then 'closed' else 'half_open' end,
           breaker_until = case when w.breaker_state = 'closed' then null else c.lease end,
           backoff_until = case when w.backoff_until is null then null else c.lease end
      from claimed c
     where w.id = c.webhook_id
)
select c.delivery_id as id, c.webhook_id, c.lease, o.*
  from claimed c
  left join herald.outgoing o on o.delivery_id = c.delivery_id
 order by c.was_due, c.delivery_id
