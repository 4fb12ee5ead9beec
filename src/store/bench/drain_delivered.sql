select count(*) from herald.webhook_deliveries where status = 'delivered'
