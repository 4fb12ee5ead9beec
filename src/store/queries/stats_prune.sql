-- Drops at most $3 rollup rows of each table: per-minute rows older than $1 seconds (the
-- hour window's), per-hour rows older than $2 seconds (the day window's). Answers how many.
with minutes as (
    delete from herald.attempt_rollup
     where ctid in (select ctid from herald.attempt_rollup
                     where minute < now() - make_interval(secs => $1::float8)
                     limit $3)
    returning 1
), hours as (
    delete from herald.attempt_rollup_hourly
     where ctid in (select ctid from herald.attempt_rollup_hourly
                     where hour < now() - make_interval(secs => $2::float8)
                     limit $3)
    returning 1
)
select (select count(*) from minutes) + (select count(*) from hours)
