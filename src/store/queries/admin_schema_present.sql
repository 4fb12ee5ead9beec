select to_regclass('herald.webhook_deliveries') is not null
