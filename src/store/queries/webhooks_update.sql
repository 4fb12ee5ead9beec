-- $3 url (null: keep); $4/$5 set description?/value; $6/$7 set event_types?/value;
-- $8 enabled (null: keep). Enabling resets the circuit breaker. $9 headers, $10 ordering
-- (null: keep). $11/$12 set rate_limit_per_s?/value (clearing it clears the burst); $13/$14 set
-- burst?/value.
update herald.user_webhooks
   set url                  = coalesce($3::text, url),
       description          = case when $4::boolean then $5::text else description end,
       event_types          = case when $6::boolean then $7::jsonb else event_types end,
       enabled              = coalesce($8::boolean, enabled),
       consecutive_failures = case when $8::boolean then 0 else consecutive_failures end,
       disabled_at          = case when $8::boolean then null else disabled_at end,
       headers              = coalesce($9::jsonb, headers),
       ordering             = coalesce($10::text, ordering),
       rate_limit_per_s     = case when $11::boolean then $12::float8::numeric else rate_limit_per_s end,
       rate_limit_burst     = case when $11::boolean and $12::float8 is null then null
                                   when $13::boolean then $14::int
                                   else rate_limit_burst end,
       updated_at           = now()
 where user_id = $1 and id = $2
returning id, user_id, url, enabled, event_types, description, scope, signature_scheme, public_key,
          consecutive_failures, disabled_at, breaker_state, breaker_until, headers, ordering,
          rate_limit_per_s::float8 as rate_limit_per_s, rate_limit_burst,
          previous_secret_expires_at, created_at, updated_at
