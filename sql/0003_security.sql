-- Security: signature schemes per webhook, and herald.watches as a plain record of what exists.
-- Forward-only: never edit this file once released; add a later NNNN_*.sql instead.

-- `hmac` signs with the `whsec_` secret (`v1,` signatures); `ed25519` with a `whsk_` signing
-- key kept in the same `secret` column (`v1a,` signatures), receivers verifying with the
-- `whpk_` public key below. With HERALD_SECRET_KEYS set, `secret` and `previous_secret` hold
-- ciphertext (`herald-aead:v1:<key id>:...`) instead of the plaintext.
alter table herald.user_webhooks
    add column signature_scheme text not null default 'hmac'
        constraint webhook_signature_scheme check (signature_scheme in ('hmac', 'ed25519')),
    add column public_key text
        constraint webhook_public_key check (
            (signature_scheme = 'ed25519') = (public_key is not null)
            and (public_key is null or public_key like 'whpk\_%'));

-- Each watch now fires its own generated trigger function, whose body is fixed when
-- herald.watch runs; nothing reads this table when a trigger fires. The `query` it used to
-- execute as stored is gone; `trigger_function` names the generated function.
alter table herald.watches drop column query;
alter table herald.watches add column trigger_function text;
