-- Drops at most $2 per-webhook rollup rows older than $1 seconds (the fleet's and the
-- failures of deleted webhooks go with stats_prune_small.sql).
delete from herald.attempt_rollup
 where ctid in (select ctid from herald.attempt_rollup
                 where minute < now() - make_interval(secs => $1::float8)
                 limit $2)
