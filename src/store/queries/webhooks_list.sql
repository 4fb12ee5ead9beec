select id, user_id, url, enabled, event_types, description, scope, signature_scheme, public_key,
       consecutive_failures, disabled_at, breaker_state, breaker_until, headers, ordering,
       previous_secret_expires_at, created_at, updated_at
  from herald.user_webhooks
 where user_id = $1
 order by created_at, id
