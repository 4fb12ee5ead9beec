-- The current secret keeps signing (as the previous one) for $4 seconds. $3 is the new secret
-- (stored text), $5 its public key (ed25519) and $6 the scheme it was made for: a webhook of
-- another scheme is left alone (no row).
update herald.user_webhooks
   set previous_secret            = secret,
       previous_secret_expires_at = now() + make_interval(secs => $4::float8),
       secret                     = $3,
       public_key                 = $5,
       updated_at                 = now()
 where user_id = $1 and id = $2 and signature_scheme = $6
returning previous_secret_expires_at
