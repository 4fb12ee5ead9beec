-- Webhooks the claim leaves to the policy claim and the FIFO claim: how many, whether a probe
-- may go now, whether a FIFO webhook's head is due (for the FIFO claim), and when the next wait
-- ends or the next head is due.
select count(*) as gated,
       coalesce(bool_or(w.probing and coalesce(greatest(w.breaker_until, w.backoff_until),
                                               '-infinity') <= now()),
                false) as ready,
       coalesce(bool_or(not w.probing and h.due_at <= now()), false) as fifo_ready,
       least(min(greatest(w.breaker_until, w.backoff_until))
                 filter (where w.probing and greatest(w.breaker_until, w.backoff_until) > now()),
             min(h.due_at) filter (where not w.probing and h.due_at > now())) as next_at
  from herald.webhook_gates g
  cross join lateral (select u.id, u.ordering, u.breaker_until, u.backoff_until,
                             u.breaker_state <> 'closed' or u.backoff_until is not null as probing
                        from herald.user_webhooks u where u.id = g.webhook_id) w
  left join lateral herald.fifo_head(w.id) h on w.ordering = 'fifo'
