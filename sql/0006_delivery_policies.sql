-- Delivery policies per webhook: a circuit breaker that recovers, the whole endpoint backing off
-- on 429/503, static custom headers. Forward-only: never edit this file once released.
--
-- The claim skips webhooks listed in herald.webhook_gates (a small table, empty while no
-- webhook has a breaker open or a back-off running); their deliveries wait unclaimed, using no
-- attempts, and a separate claim lets a single probe through when the wait ends. The rows of
-- herald.webhook_gates follow the webhook's state (triggers/6_policies.sql).

alter table herald.user_webhooks
    -- closed: deliveries flow; open: they wait until breaker_until; half_open: one probe is in
    -- flight until breaker_until (its lease), and its result closes or re-opens the breaker.
    add column breaker_state text not null default 'closed'
        constraint webhook_breaker_state check (breaker_state in ('closed', 'open', 'half_open')),
    add column breaker_until timestamptz,
    -- When the breaker first opened since it was last closed (for HERALD_BREAKER_DISABLE_AFTER).
    add column breaker_opened_at timestamptz,
    -- How often it opened since it was last closed: the cool-down doubles each time.
    add column breaker_opens int not null default 0,
    -- 429/503: none of the webhook's deliveries is sent before backoff_until; backoff_level
    -- counts the answers without Retry-After since the last success (the wait doubles).
    -- backoff_from is when the last such answer came: only a request started after it ends the
    -- wait (answers to requests already in flight do not).
    add column backoff_until timestamptz,
    add column backoff_from timestamptz,
    add column backoff_level int not null default 0,
    -- Static headers added to every request: a JSON object of string values (checked by the
    -- trigger herald.check_webhook_headers, which names the refused header).
    add column headers jsonb not null default '{}'::jsonb
        constraint webhook_headers_is_object check (jsonb_typeof(headers) = 'object'),
    -- Whether Herald tells platform webhooks about this one (breaker opened, recovered,
    -- disabled, deliveries exhausted).
    add column operational_events boolean not null default true;

-- Webhooks whose deliveries the claim leaves to the policy claim. No row: nothing to check.
create table herald.webhook_gates (
    webhook_id uuid primary key,
    since      timestamptz not null default now()
);
comment on table herald.webhook_gates is
    'Webhooks with a breaker not closed or a back-off running; maintained by triggers on herald.user_webhooks.';

-- Operational events, emitted by Herald itself to platform webhooks.
insert into herald.event_types (name, scope, description) values
    ('herald.endpoint.breaker_opened', 'platform', 'A webhook''s circuit breaker opened: its deliveries wait.'),
    ('herald.endpoint.recovered', 'platform', 'A webhook''s circuit breaker closed again after a successful probe.'),
    ('herald.endpoint.disabled', 'platform', 'A webhook was disabled (410 Gone, or its breaker stayed open too long).'),
    ('herald.delivery.exhausted', 'platform', 'A delivery used its last attempt without success.')
on conflict (name) do nothing;
