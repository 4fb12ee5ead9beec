-- Herald's schema. Forward-only: never edit this file once released; add 0002_*.sql instead.

create schema if not exists herald;

-- Who may own platform-scoped webhooks.
create table herald.user_roles (
    user_id    uuid not null,
    role       text not null check (role ~ '^[A-Z][A-Z_]*$'),
    created_at timestamptz not null default now(),
    primary key (user_id, role)
);

-- The registry of event types. Names are dot-separated words of [a-zA-Z0-9_].
create table herald.event_types (
    name        text primary key
                constraint event_type_name_format
                check (name ~ '^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$' and length(name) <= 255),
    scope       text not null check (scope in ('own', 'platform')),
    description text,
    created_at  timestamptz not null default now()
);

create table herald.user_webhooks (
    id                          uuid primary key default gen_random_uuid(),
    user_id                     uuid not null,
    url                         text not null constraint webhook_url_length check (length(url) <= 2048),
    secret                      text not null,
    -- Secret rotation: the previous secret keeps signing until its grace period ends.
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    enabled                     boolean not null default true,
    event_types                 jsonb constraint webhook_event_types_is_array
                                check (event_types is null or jsonb_typeof(event_types) = 'array'),
    description                 text,
    scope                       text not null default 'own' check (scope in ('own', 'platform')),
    consecutive_failures        int not null default 0,
    disabled_at                 timestamptz,
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now()
);
create index user_webhooks_by_owner on herald.user_webhooks (user_id, scope);
create index user_webhooks_platform on herald.user_webhooks (user_id) where scope = 'platform';

-- The event log. Inserting here is how an event enters Herald.
create table herald.events (
    id          uuid primary key default gen_random_uuid(),
    event_type  text not null,
    user_id     uuid,
    resource_id uuid,
    data        jsonb not null constraint event_data_is_object check (jsonb_typeof(data) = 'object'),
    created_at  timestamptz not null default now()
);
create index events_created_at on herald.events (created_at);

create table herald.webhook_deliveries (
    id                uuid primary key default gen_random_uuid(),
    webhook_id        uuid not null references herald.user_webhooks (id) on delete cascade,
    event_id          uuid not null,
    event_type        text not null,
    payload           jsonb not null,
    resource_id       uuid,
    status            text not null default 'pending'
                      constraint delivery_status check (status in ('pending', 'delivered', 'failed', 'exhausted')),
    attempt_count     int not null default 0,
    next_attempt_at   timestamptz not null default now(),
    last_status_code  int,
    last_error        text,
    delivered_at      timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
-- Idempotent fan-out: the same (webhook, type, resource) is delivered once.
create unique index webhook_deliveries_idempotency
    on herald.webhook_deliveries (webhook_id, event_type, resource_id)
    where resource_id is not null;
-- Serves the claim: due rows, oldest first.
create index webhook_deliveries_due
    on herald.webhook_deliveries (next_attempt_at)
    where status in ('pending', 'failed');
-- Serves the admin API's listing and retention.
create index webhook_deliveries_by_webhook on herald.webhook_deliveries (webhook_id, created_at desc, id desc);
create index webhook_deliveries_terminal on herald.webhook_deliveries (updated_at)
    where status in ('delivered', 'exhausted');

-- The delivery log: one row per HTTP attempt.
create table herald.delivery_attempts (
    id            bigint generated always as identity primary key,
    delivery_id   uuid not null references herald.webhook_deliveries (id) on delete cascade,
    webhook_id    uuid not null,
    attempt       int not null,
    started_at    timestamptz not null,
    duration_ms   double precision not null,
    status_code   int,
    error         text,
    response_excerpt text,
    created_at    timestamptz not null default now()
);
create index delivery_attempts_by_delivery on herald.delivery_attempts (delivery_id, attempt);
create index delivery_attempts_created_at on herald.delivery_attempts (created_at);

-- Workers that are about to wait for a NOTIFY. Producers notify only while a row exists
-- (the gated wake, see triggers/wake.sql and ARCHITECTURE.md).
create table herald.sleepers (
    worker_id   uuid primary key,
    backend_pid int not null,
    since       timestamptz not null default now()
);

-- Instance-wide settings read by the triggers. Exactly one row.
create table herald.settings (
    singleton          boolean primary key default true check (singleton),
    notify_enabled     boolean not null default true,
    max_payload_bytes  int not null default 262144 check (max_payload_bytes > 0)
);
insert into herald.settings default values;

-- Tables watched by herald.watch (triggers/3_watch.sql).
create table herald.watches (
    trigger_name    text not null,
    table_name      regclass not null,
    event_type      text not null,
    on_op           text not null check (on_op in ('insert', 'update')),
    user_column     text,
    resource_column text,
    condition       text,
    query           text not null,
    created_at      timestamptz not null default now(),
    primary key (table_name, trigger_name)
);
