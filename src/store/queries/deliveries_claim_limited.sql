-- The rate-limited claim: for each webhook with a rate limit whose breaker is closed and whose
-- token bucket holds a whole token now, its oldest due deliveries, as many as it holds whole
-- tokens and this worker may take, leased for $2 seconds. At most $1 in all; webhook $3[i] may
-- take $4[i] more, any other $5. The webhook's row is locked (other workers skip it) and its
-- bucket refilled (by the time elapsed x the rate, up to the burst) and debited in the same
-- statement, so the limit holds across every replica. A webhook whose breaker is not closed or
-- whose back-off runs is the probe claim's (deliveries_claim_gated.sql): the breaker wins.
with ready as (
    select w.id as webhook_id, b.tokens,
           least(floor(b.tokens)::int8, coalesce(a.left_, $5::int8)) as take
      from herald.webhook_gates g
      join herald.user_webhooks w on w.id = g.webhook_id
     cross join lateral (
           select herald.rate_tokens(w.rate_limit_per_s, w.rate_limit_burst, w.rate_tokens,
                                     w.rate_tokens_at) as tokens) b
      left join unnest($3::uuid[], $4::int8[]) as a (webhook_id, left_) on a.webhook_id = w.id
     where w.rate_limit_per_s is not null
       -- A FIFO webhook's head goes through the FIFO claim, which also spends its tokens.
       and w.ordering <> 'fifo'
       and w.breaker_state = 'closed' and w.backoff_until is null
       and b.tokens >= 1
       and coalesce(a.left_, $5::int8) > 0
     limit $1::int8
       for no key update of w skip locked
),
-- Within this worker's free slots ($1), in a stable order.
budget as (
    select r.webhook_id, r.take,
           sum(r.take) over (order by r.webhook_id) - r.take as before
      from ready r
),
picked as (
    select p.delivery_id, p.webhook_id, p.due_at
      from budget r
     cross join lateral (select q.delivery_id, q.webhook_id, q.due_at
                           from herald.queue q
                          where q.webhook_id = r.webhook_id and q.due_at <= now()
                          order by q.due_at
                          limit least(r.take, $1::int8 - r.before)
                            for update skip locked) p
     where r.before < $1::int8
),
claimed as (
    update herald.queue q
       set due_at = now() + make_interval(secs => $2::float8)
      from picked
     where q.delivery_id = picked.delivery_id
    returning q.delivery_id, q.webhook_id, q.due_at as lease, picked.due_at as was_due
),
-- A bucket is written only when the claim took from it.
debited as (
    update herald.user_webhooks w
       set rate_tokens = r.tokens - t.n,
           rate_tokens_at = now()
      from ready r
      join (select webhook_id, count(*) as n from claimed group by webhook_id) t
        on t.webhook_id = r.webhook_id
     where w.id = r.webhook_id
)
select c.delivery_id as id, c.webhook_id, c.lease, o.*
  from claimed c
  left join herald.outgoing o on o.delivery_id = c.delivery_id
 order by c.was_due, c.delivery_id
