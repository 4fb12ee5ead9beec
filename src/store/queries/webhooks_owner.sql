select user_id from herald.user_webhooks where id = $1
