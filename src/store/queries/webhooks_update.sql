-- $3 url (null: keep); $4/$5 set description?/value; $6/$7 set event_types?/value;
-- $8 enabled (null: keep). Enabling resets the circuit breaker. $9 headers, $10 ordering
-- (null: keep).
update herald.user_webhooks
   set url                  = coalesce($3::text, url),
       description          = case when $4::boolean then $5::text else description end,
       event_types          = case when $6::boolean then $7::jsonb else event_types end,
       enabled              = coalesce($8::boolean, enabled),
       consecutive_failures = case when $8::boolean then 0 else consecutive_failures end,
       disabled_at          = case when $8::boolean then null else disabled_at end,
       headers              = coalesce($9::jsonb, headers),
       ordering             = coalesce($10::text, ordering),
       updated_at           = now()
 where user_id = $1 and id = $2
returning id, user_id, url, enabled, event_types, description, scope, signature_scheme, public_key,
          consecutive_failures, disabled_at, breaker_state, breaker_until, headers, ordering,
          previous_secret_expires_at, created_at, updated_at
