-- The current secret keeps signing (as the previous one) for $4 seconds.
update herald.user_webhooks
   set previous_secret            = secret,
       previous_secret_expires_at = now() + make_interval(secs => $4::float8),
       secret                     = $3,
       updated_at                 = now()
 where user_id = $1 and id = $2
returning previous_secret_expires_at
