insert into herald.user_webhooks (user_id, url, secret, scope, description)
values ($1, $2, $3, 'own', 'herald bench')
