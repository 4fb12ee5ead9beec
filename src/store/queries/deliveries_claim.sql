-- Claims up to $1 due deliveries, oldest due first, and moves each one's due_at forward by the
-- lease ($2 seconds): the new due_at is the claim's fencing token.
--
-- Per-webhook limits: webhooks in $4 take nothing; webhooks in $5 may take up to $6 more rows
-- while others wait and up to $7 when they do not; every other webhook up to $8. Rows within the
-- first allowance come first, so a limit only bites when someone else has rows waiting in the
-- $3 oldest due candidates. The first step reads without locking; the second locks in that
-- order, skipping rows that another worker holds, until it has $1.
with candidates as (
    select q.delivery_id, q.webhook_id, q.due_at,
           row_number() over (partition by q.webhook_id order by q.due_at, q.delivery_id) as n
      from (select delivery_id, webhook_id, due_at
              from herald.queue
             where due_at <= now()
               -- Webhooks in $4, and those whose breaker is not closed or whose back-off runs
               -- (delivery policies: left to the policy claim, deliveries_claim_gated.sql), take
               -- nothing. Both lists make one array, built once per claim (empty while no
               -- webhook is full or gated: as cheap as no check; a per-row anti-join cost 3x
               -- the scan).
               -- webhook_id is compared through coalesce(), an expression the planner has no
               -- statistics for. On the bare column, a queue whose rows belong to one webhook
               -- (or a few) is estimated to have no row outside a list it cannot see, and the
               -- claim then reads and sorts every due row (a seq scan and a top-N sort: 75 ms a
               -- claim at 200k rows) instead of walking queue_due to the first $3.
               and coalesce(webhook_id, webhook_id)
                   <> all (array(select unnest($4::uuid[])
                                 union all
                                 select webhook_id from herald.webhook_gates))
             order by due_at
             limit $3::int8) q
),
allowed as (
    select c.delivery_id, c.n > coalesce(a.shared, $8::int8) as over_share, c.due_at
      from candidates c
      left join unnest($5::uuid[], $6::int8[], $7::int8[]) as a (webhook_id, shared, alone)
        on a.webhook_id = c.webhook_id
     where c.n <= coalesce(a.alone, $8::int8)
),
-- The first $1 allowed rows that no other worker holds, in the allowed order. The limit counts
-- rows locked, not rows tried: when several replicas claim at once they read the same oldest
-- candidates, and a claim that took only the first $1 of them came back with what the others
-- had not locked yet (a few rows), although the rest of its candidates were free. The lateral
-- lookup stops at the $1th lock, so an uncontended claim reads no more rows than before. The
-- per-webhook counts (n) include rows another worker holds, so an allowance is never exceeded.
locked as (
    select l.delivery_id, l.due_at
      from (select delivery_id from allowed order by over_share, due_at, delivery_id) a,
           lateral (select q.delivery_id, q.due_at
                      from herald.queue q
                     where q.delivery_id = a.delivery_id
                       and q.due_at <= now()
                       for update skip locked) l
     limit $1::int8
),
claimed as (
    update herald.queue q
       set due_at = now() + make_interval(secs => $2::float8)
      from locked
     where q.delivery_id = locked.delivery_id
    returning q.delivery_id, q.webhook_id, q.due_at as lease, locked.due_at as was_due
)
select c.delivery_id as id, c.webhook_id, c.lease, o.*
  from claimed c
  left join herald.outgoing o on o.delivery_id = c.delivery_id
 order by c.was_due, c.delivery_id
