select id, user_id, url, enabled, event_types, description, scope, signature_scheme, public_key,
       consecutive_failures, disabled_at, breaker_state, breaker_until, headers, ordering,
       rate_limit_per_s::float8 as rate_limit_per_s, rate_limit_burst,
       previous_secret_expires_at, created_at, updated_at
  from herald.user_webhooks
 where user_id = $1
 order by created_at, id
