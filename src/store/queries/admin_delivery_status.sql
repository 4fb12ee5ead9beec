select status from herald.webhook_deliveries where id = $1
