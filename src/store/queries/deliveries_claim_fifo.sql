-- The FIFO claim: for each FIFO webhook (ordering = 'fifo', listed in herald.webhook_gates)
-- whose breaker is closed and which has no back-off running, its head (herald.fifo_head: the
-- queue row with the lowest seq, whatever its due time) if the head is due, leased for $2
-- seconds. The webhook's row is locked (other workers skip it), so two workers never claim two
-- heads of one webhook; a head that is leased or waits for a retry holds everything behind it.
-- At most $1 webhooks; webhooks in $3 (no capacity left on this worker) are skipped. A FIFO
-- webhook whose breaker is not closed or whose back-off runs is probed with its head by the
-- policy claim (deliveries_claim_gated.sql).
with ready as (
    select w.id as webhook_id, b.tokens
      from herald.webhook_gates g
      join herald.user_webhooks w on w.id = g.webhook_id
     cross join lateral (
           select herald.rate_tokens(w.rate_limit_per_s, w.rate_limit_burst, w.rate_tokens,
                                     w.rate_tokens_at) as tokens) b
     where w.ordering = 'fifo'
       and w.breaker_state = 'closed' and w.backoff_until is null
       -- A rate limit too: a head goes only with a whole token, which it spends (below).
       and b.tokens >= 1
       and g.webhook_id <> all ($3::uuid[])
     limit $1::int8
       for no key update of w skip locked
),
head as (
    select h.delivery_id, h.webhook_id, h.due_at
      from ready r
     cross join lateral herald.fifo_head(r.webhook_id) h
     where h.due_at <= now()
),
claimed as (
    -- The head as this statement's snapshot saw it: the update waits for a writer changing it
    -- and re-checks that it is still due or waiting its turn ('infinity'): a claim or a retry
    -- that just committed moved it.
    update herald.queue q
       set due_at = now() + make_interval(secs => $2::float8)
      from head
     where q.delivery_id = head.delivery_id and (q.due_at <= now() or q.due_at = 'infinity')
    returning q.delivery_id, q.webhook_id, q.due_at as lease, head.due_at as was_due
),
debited as (
    update herald.user_webhooks w
       set rate_tokens = r.tokens - 1,
           rate_tokens_at = now()
      from ready r
      join claimed c on c.webhook_id = r.webhook_id
     where w.id = r.webhook_id and w.rate_limit_per_s is not null
)
select c.delivery_id as id, c.webhook_id, c.lease, o.*
  from claimed c
  left join herald.outgoing o on o.delivery_id = c.delivery_id
 order by c.was_due, c.delivery_id
