-- The fleet's per-minute rows older than $1 seconds, and the last failures of webhooks that
-- no longer exist (both small: one row per minute, one per webhook).
with fleet as (
    delete from herald.attempt_rollup_fleet
     where minute < now() - make_interval(secs => $1::float8)
)
delete from herald.webhook_last_failure l
 where not exists (select 1 from herald.user_webhooks w where w.id = l.webhook_id)
