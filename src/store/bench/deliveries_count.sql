select count(*) from herald.webhook_deliveries
