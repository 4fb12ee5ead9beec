-- On someone's own database, Herald's operational events about the demo's webhooks (its dead
-- one's breaker) would reach their platform webhooks: the demo's webhooks tell nobody.
update herald.user_webhooks
   set operational_events = false
 where id = any($1::uuid[])
