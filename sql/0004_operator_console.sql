-- What the operator console and `herald status` read: the replicas seen, per-minute attempt
-- counts rolled up by the leader from a watermark, each webhook's last failure, and a
-- snapshot of the queue depth by status. Every screen then reads a few bounded rows instead
-- of counting millions of deliveries or attempts.

-- One row per `herald run` process, upserted on its heartbeat.
create table herald.replicas (
    worker_id    uuid primary key,
    host         text not null,
    version      text not null,
    started_at   timestamptz not null,
    last_seen_at timestamptz not null
);
create index replicas_last_seen on herald.replicas (last_seen_at desc);

-- Attempts per webhook, minute (of started_at) and duration bucket (width_bucket over the
-- bounds in src/domain/histogram.rs), for the hour window: kept two hours.
create table herald.attempt_rollup (
    webhook_id uuid not null,
    minute     timestamptz not null,
    bucket     smallint not null,
    attempts   int not null,
    delivered  int not null,
    primary key (webhook_id, minute, bucket)
);
create index attempt_rollup_minute on herald.attempt_rollup (minute);

-- The same per hour, for the day window: at most 24 x buckets rows per webhook and day.
create table herald.attempt_rollup_hourly (
    webhook_id uuid not null,
    hour       timestamptz not null,
    bucket     smallint not null,
    attempts   int not null,
    delivered  int not null,
    primary key (webhook_id, hour, bucket)
);
create index attempt_rollup_hourly_hour on herald.attempt_rollup_hourly (hour);

-- The same counts for the whole fleet, one row per minute.
create table herald.attempt_rollup_fleet (
    minute    timestamptz primary key,
    attempts  int not null,
    delivered int not null
);

-- The newest failed attempt of each webhook (the console's "last error").
create table herald.webhook_last_failure (
    webhook_id  uuid primary key,
    attempt_id  bigint not null,
    at          timestamptz not null,
    status_code int,
    error       text
);

-- The rollup reads the attempt log in id order from its watermark. (An append-only btree: new
-- entries go to its right edge.)
create index delivery_attempts_id on herald.delivery_attempts (id);

-- How far the rollup has read herald.delivery_attempts (by id). Exactly one row.
create table herald.attempt_rollup_state (
    singleton       boolean primary key default true check (singleton),
    last_attempt_id bigint not null default 0,
    rolled_at       timestamptz
);
insert into herald.attempt_rollup_state default values;

-- Queue depth by status, counted by the leader every few seconds.
create table herald.queue_snapshot (
    status     text primary key,
    deliveries bigint not null,
    taken_at   timestamptz not null
);
