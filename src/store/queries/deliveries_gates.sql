-- Webhooks the claim leaves to the policy claims: how many (and how many FIFO), whether a
-- probe may go now, whether a FIFO webhook's head is due (and its bucket, if it has a rate
-- limit, holds a token), the rate-limited ones (breaker closed, not FIFO) whose bucket holds a
-- whole token now, and when the next wait ends, the next head is due or the next token comes
-- (a limited webhook's bucket is below one token only after a claim took from it).
select count(*) as gated,
       count(*) filter (where w.ordering = 'fifo') as fifo,
       coalesce(bool_or(s.probed and coalesce(p.next_at, '-infinity') <= now()), false) as ready,
       coalesce(bool_or(not s.probed and h.due_at <= now()
                        and coalesce(p.next_at, '-infinity') <= now()), false) as fifo_ready,
       coalesce(array_agg(w.id) filter (where not s.probed and w.ordering <> 'fifo'
                                          and w.rate_limit_per_s is not null
                                          and coalesce(p.next_at, '-infinity') <= now()),
                '{}') as limited,
       least(min(p.next_at) filter (where p.next_at > now()),
             min(h.due_at) filter (where not s.probed and h.due_at > now())) as next_at
  from herald.webhook_gates g
  join herald.user_webhooks w on w.id = g.webhook_id
 cross join lateral (
       select w.breaker_state <> 'closed' or w.backoff_until is not null as probed) s
 cross join lateral (
       -- A probe's wait, or when the bucket holds one token again (null: it is full).
       select case when s.probed then greatest(w.breaker_until, w.backoff_until)
                   else w.rate_tokens_at + make_interval(secs =>
                            (1 - w.rate_tokens) / w.rate_limit_per_s::float8)
              end as next_at) p
  left join lateral herald.fifo_head(w.id) h on w.ordering = 'fifo'
