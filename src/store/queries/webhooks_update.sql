-- $3 url (null: keep); $4/$5 set description?/value; $6/$7 set event_types?/value;
-- $8 enabled (null: keep). Enabling resets the circuit breaker. $9 headers (null: keep).
-- $10/$11 set rate_limit_per_s?/value (clearing it clears the burst); $12/$13 set burst?/value.
update herald.user_webhooks
   set url                  = coalesce($3::text, url),
       description          = case when $4::boolean then $5::text else description end,
       event_types          = case when $6::boolean then $7::jsonb else event_types end,
       enabled              = coalesce($8::boolean, enabled),
       consecutive_failures = case when $8::boolean then 0 else consecutive_failures end,
       disabled_at          = case when $8::boolean then null else disabled_at end,
       headers              = coalesce($9::jsonb, headers),
       rate_limit_per_s     = case when $10::boolean then $11::float8::numeric else rate_limit_per_s end,
       rate_limit_burst     = case when $10::boolean and $11::float8 is null then null
                                   when $12::boolean then $13::int
                                   else rate_limit_burst end,
       updated_at           = now()
 where user_id = $1 and id = $2
returning id, user_id, url, enabled, event_types, description, scope, signature_scheme, public_key,
          consecutive_failures, disabled_at, breaker_state, breaker_until, headers,
          rate_limit_per_s::float8 as rate_limit_per_s, rate_limit_burst,
          previous_secret_expires_at, created_at, updated_at
