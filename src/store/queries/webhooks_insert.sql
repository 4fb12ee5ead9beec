insert into herald.user_webhooks (user_id, url, secret, event_types, description, scope, enabled)
values ($1, $2, $3, $4, $5, $6, $7)
returning id, user_id, url, enabled, event_types, description, scope, consecutive_failures,
          disabled_at, previous_secret_expires_at, created_at, updated_at
