delete from herald.user_webhooks where user_id = $1 and id = $2
