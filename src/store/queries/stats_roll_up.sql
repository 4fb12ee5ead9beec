-- Rolls the attempts written since the watermark into the per-minute tables and moves the
-- watermark, in one statement. $1 the duration bucket bounds (ms, ascending); $2 the most
-- attempt ids read per run; $3 seconds an attempt must have existed before it is read, so that
-- a writer's transaction still open (holding lower ids) is not skipped when a later one commits.
-- Both probes read at most $2 ids past the watermark, through delivery_attempts_id.
--
-- The state is one row; `limit 1` says so to the planner, whose guess for a table never
-- analyzed (fresh or truncated) is ~1,800 rows: multiplied through the joins below, that guess
-- gave a plan costed in billions.
with state as (
    select last_attempt_id as lo from herald.attempt_rollup_state limit 1 for update
), young as (
    select min(a.id) as id from herald.delivery_attempts a, state
     where a.id > state.lo and a.id <= state.lo + $2::bigint
       and a.created_at > now() - make_interval(secs => $3::float8)
), newest as (
    select max(id) as id from herald.delivery_attempts
), hi as (
    select greatest(state.lo,
                    least(coalesce(young.id - 1, newest.id, state.lo), state.lo + $2::bigint)) as id
      from state, young, newest
), batch as (
    select a.id, a.webhook_id, a.started_at, a.duration_ms, a.status_code, a.error,
           coalesce(a.status_code between 200 and 299, false) as ok
      from herald.delivery_attempts a, state, hi
     where a.id > state.lo and a.id <= hi.id
), per_bucket as (
    -- Counts per webhook, period and duration bucket, at both grains ('minute' and 'hour').
    select g.grain, a.webhook_id, date_trunc(g.grain, a.started_at) as period,
           width_bucket(a.duration_ms, $1::float8[]) as b,
           count(*)::int as n, (count(*) filter (where a.ok))::int as ok_n
      from batch a cross join (values ('minute'), ('hour')) as g (grain)
     group by 1, 2, 3, 4
), dense as (
    -- One row per grain, webhook and period: the count of each bucket 0..cardinality($1), dense.
    select k.grain, k.webhook_id, k.period, sum(coalesce(c.ok_n, 0))::int as delivered,
           array_agg(coalesce(c.n, 0) order by s.b) as attempts
      from (select distinct grain, webhook_id, period from per_bucket) k
     cross join generate_series(0, cardinality($1::float8[])) as s (b)
      left join per_bucket c
             on (c.grain, c.webhook_id, c.period, c.b) = (k.grain, k.webhook_id, k.period, s.b)
     group by k.grain, k.webhook_id, k.period
), per_minute as (
    -- A row already there adds the new counts bucket by bucket.
    insert into herald.attempt_rollup as r (webhook_id, minute, delivered, attempts)
    select webhook_id, period, delivered, attempts from dense where grain = 'minute'
    on conflict (webhook_id, minute) do update
       set attempts  = (select array_agg(coalesce(x, 0) + coalesce(y, 0) order by i)
                          from unnest(r.attempts, excluded.attempts) with ordinality as t (x, y, i)),
           delivered = r.delivered + excluded.delivered
), per_hour as (
    insert into herald.attempt_rollup_hourly as r (webhook_id, hour, delivered, attempts)
    select webhook_id, period, delivered, attempts from dense where grain = 'hour'
    on conflict (webhook_id, hour) do update
       set attempts  = (select array_agg(coalesce(x, 0) + coalesce(y, 0) order by i)
                          from unnest(r.attempts, excluded.attempts) with ordinality as t (x, y, i)),
           delivered = r.delivered + excluded.delivered
), fleet as (
    insert into herald.attempt_rollup_fleet as f (minute, attempts, delivered)
    select date_trunc('minute', started_at), count(*), count(*) filter (where ok)
      from batch
     group by 1
    on conflict (minute) do update
       set attempts  = f.attempts + excluded.attempts,
           delivered = f.delivered + excluded.delivered
), failures as (
    insert into herald.webhook_last_failure as l (webhook_id, attempt_id, at, status_code, error)
    select distinct on (webhook_id) webhook_id, id, started_at, status_code, error
      from batch
     where not ok
     order by webhook_id, id desc
    on conflict (webhook_id) do update
       set attempt_id  = excluded.attempt_id,
           at          = excluded.at,
           status_code = excluded.status_code,
           error       = excluded.error
     where excluded.attempt_id > l.attempt_id
), moved as (
    update herald.attempt_rollup_state
       set last_attempt_id = (select id from hi), rolled_at = now()
)
select (select count(*) from batch) as rolled,
       (select id from hi) as watermark,
       (select coalesce(max(id), 0) from herald.delivery_attempts) - (select id from hi) as behind
