-- Webhooks the claim leaves to the policy claim: how many, whether a probe may go now, and
-- when the next wait ends.
select count(*) as gated,
       coalesce(bool_or(coalesce(greatest(w.breaker_until, w.backoff_until), '-infinity') <= now()),
                false) as ready,
       min(greatest(w.breaker_until, w.backoff_until))
           filter (where greatest(w.breaker_until, w.backoff_until) > now()) as next_at
  from herald.webhook_gates g
  join herald.user_webhooks w on w.id = g.webhook_id
