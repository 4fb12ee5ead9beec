vacuum analyze herald.deliveries, herald.queue, herald.delivery_attempts, herald.user_webhooks
