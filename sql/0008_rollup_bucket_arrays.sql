-- The console's per-webhook rollups: one row per webhook and minute (per hour for the day
-- window) holding the attempt counts of every duration bucket in an array, instead of one row
-- per bucket. A busy webhook spreads its attempts over some 20 buckets, so the webhooks screen
-- of a user with 100 webhooks read up to 100 x 60 x 20 rows for the hour; it now reads at most
-- 100 x 60 (and 100 x 24 for the day). Element i + 1 of `attempts` counts bucket i of
-- width_bucket(duration_ms, bounds) (bounds in src/domain/histogram.rs).
--
-- The rows already rolled up are converted in place (the tables keep their grants).

create temporary table rollup_minutes on commit drop as
select k.webhook_id, k.minute, k.delivered,
       array_agg(coalesce(r.attempts, 0) order by s.b) as attempts
  from (select webhook_id, minute, sum(delivered)::int as delivered
          from herald.attempt_rollup group by webhook_id, minute) k
 cross join generate_series(0, 30) as s (b)
  left join herald.attempt_rollup r
         on r.webhook_id = k.webhook_id and r.minute = k.minute and r.bucket = s.b
 group by k.webhook_id, k.minute, k.delivered;

create temporary table rollup_hours on commit drop as
select k.webhook_id, k.hour, k.delivered,
       array_agg(coalesce(r.attempts, 0) order by s.b) as attempts
  from (select webhook_id, hour, sum(delivered)::int as delivered
          from herald.attempt_rollup_hourly group by webhook_id, hour) k
 cross join generate_series(0, 30) as s (b)
  left join herald.attempt_rollup_hourly r
         on r.webhook_id = k.webhook_id and r.hour = k.hour and r.bucket = s.b
 group by k.webhook_id, k.hour, k.delivered;

truncate herald.attempt_rollup, herald.attempt_rollup_hourly;

alter table herald.attempt_rollup
    drop constraint attempt_rollup_pkey,
    drop column bucket,
    drop column attempts,
    add column attempts int[] not null,
    add primary key (webhook_id, minute);
alter table herald.attempt_rollup_hourly
    drop constraint attempt_rollup_hourly_pkey,
    drop column bucket,
    drop column attempts,
    add column attempts int[] not null,
    add primary key (webhook_id, hour);

insert into herald.attempt_rollup (webhook_id, minute, delivered, attempts)
select webhook_id, minute, delivered, attempts from rollup_minutes;
insert into herald.attempt_rollup_hourly (webhook_id, hour, delivered, attempts)
select webhook_id, hour, delivered, attempts from rollup_hours;
