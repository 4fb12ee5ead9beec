-- Delivery policies: what follows a change of a webhook's breaker or back-off state, the
-- validation of its custom headers, and Herald's operational events.
--
-- Error codes raised here (class HR, Herald): HR020 a custom header that may not be set.
--
-- These run as the role that changes the webhook or records the result (the worker role of
-- `herald migrate --grant-worker`, which may call them); herald.emit's fan-out runs as the
-- owner as always.

-- Custom headers: a JSON object of at most 16 string values of at most 1 KiB each, whose names
-- are HTTP tokens and not one of the headers Herald sets itself or a hop-by-hop header.
create or replace function herald.refused_header(p_headers jsonb) returns text
language sql immutable parallel safe
as $$
    select case
             when jsonb_typeof(p_headers) <> 'object' then 'headers must be a JSON object'
             when (select count(*) from jsonb_object_keys(p_headers)) > 16
               then 'at most 16 custom headers are allowed'
             else (select format('header "%s": %s', h.key,
                                 case
                                   when h.key !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]{1,255}$'
                                     then 'not a valid header name'
                                   when lower(h.key) like 'webhook-%'
                                     or lower(h.key) in ('content-type', 'user-agent', 'host',
                                                         'content-length', 'connection',
                                                         'keep-alive', 'proxy-connection',
                                                         'proxy-authenticate', 'proxy-authorization',
                                                         'te', 'trailer', 'trailers',
                                                         'transfer-encoding', 'upgrade')
                                     then 'set by Herald or hop-by-hop; it cannot be overridden'
                                   when jsonb_typeof(h.value) <> 'string' then 'the value must be a string'
                                   when octet_length(h.value #>> '{}') > 1024 then 'the value is longer than 1 KiB'
                                   when (h.value #>> '{}') ~ '[\x01-\x08\x0a-\x1f\x7f]'
                                     then 'the value contains control characters'
                                 end)
                     from jsonb_each(p_headers) h
                    where h.key !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]{1,255}$'
                       or lower(h.key) like 'webhook-%'
                       or lower(h.key) in ('content-type', 'user-agent', 'host', 'content-length',
                                           'connection', 'keep-alive', 'proxy-connection',
                                           'proxy-authenticate', 'proxy-authorization', 'te',
                                           'trailer', 'trailers', 'transfer-encoding', 'upgrade')
                       or jsonb_typeof(h.value) <> 'string'
                       or octet_length(h.value #>> '{}') > 1024
                       or (h.value #>> '{}') ~ '[\x01-\x08\x0a-\x1f\x7f]'
                    order by h.key
                    limit 1)
           end
$$;

create or replace function herald.check_webhook_headers() returns trigger
language plpgsql
as $$
declare
    v_refused text := herald.refused_header(new.headers);
begin
    if v_refused is not null then
        raise exception 'herald: %', v_refused using errcode = 'HR020';
    end if;
    return new;
end;
$$;

drop trigger if exists check_headers on herald.user_webhooks;
create trigger check_headers
    before insert or update of headers on herald.user_webhooks
    for each row
    execute function herald.check_webhook_headers();

-- Re-enabling a webhook closes its breaker and forgets its back-off.
create or replace function herald.reset_webhook_policies() returns trigger
language plpgsql
as $$
begin
    new.breaker_state := 'closed';
    new.breaker_until := null;
    new.breaker_opened_at := null;
    new.breaker_opens := 0;
    new.backoff_until := null;
    new.backoff_level := 0;
    return new;
end;
$$;

drop trigger if exists reset_policies on herald.user_webhooks;
create trigger reset_policies
    before update of disabled_at on herald.user_webhooks
    for each row
    when (old.disabled_at is not null and new.disabled_at is null)
    execute function herald.reset_webhook_policies();

-- Emits an operational event about a webhook through the ordinary fan-out, then takes back the
-- delivery it may have made to that same webhook: an event about a webhook never goes to it.
create or replace function herald.emit_operational(
    p_event_type text,
    p_webhook_id uuid,
    p_user_id    uuid,
    p_data       jsonb
) returns uuid
language plpgsql
as $$
declare
    v_id uuid;
begin
    v_id := herald.emit(p_event_type, p_user_id, null,
                        jsonb_build_object('webhook_id', p_webhook_id, 'user_id', p_user_id) || p_data);
    with gone as (
        delete from herald.deliveries d
         where d.event_id = v_id and d.webhook_id = p_webhook_id
        returning d.id
    )
    delete from herald.queue q using gone where q.delivery_id = gone.id;
    return v_id;
end;
$$;

-- How many tokens a rate-limited webhook's bucket holds now: what was left at p_at plus the
-- time since x the rate, up to the burst (null: one second's worth, at least 1). A bucket never
-- taken from (p_tokens null) is full; a webhook without a limit (p_rate null) has no end of them.
create or replace function herald.rate_tokens(p_rate numeric, p_burst int, p_tokens float8,
                                              p_at timestamptz)
returns float8
language sql stable parallel safe
as $$
    select case when p_rate is null then 'infinity'::float8
                else least(coalesce(p_burst, greatest(ceil(p_rate), 1))::float8,
                           coalesce(p_tokens + extract(epoch from now() - p_at)::float8
                                               * p_rate::float8,
                                    'infinity'))
           end
$$;

-- After a change of a webhook's breaker, back-off, ordering, rate limit or enabled state (or
-- the insert of a limited webhook): list it in (or take it out of) herald.webhook_gates, tell
-- the workers (`herald_gates`: each claimer reads the gates again, rather than on every round),
-- and tell platform webhooks about what happened. This runs in the transactions of the admin
-- API, the writer and the probe claim, never in a producer's: the events' fan-out notifies
-- nothing but sleepers.
create or replace function herald.webhook_policy_changed() returns trigger
language plpgsql
as $$
declare
    v_active boolean := new.enabled and new.disabled_at is null;
begin
    if v_active and (new.breaker_state <> 'closed' or new.backoff_until is not null
                     or new.ordering = 'fifo' or new.rate_limit_per_s is not null) then
        insert into herald.webhook_gates (webhook_id) values (new.id) on conflict do nothing;
    else
        delete from herald.webhook_gates where webhook_id = new.id;
    end if;
    perform pg_notify('herald_gates', '');

    if tg_op <> 'UPDATE' or not new.operational_events then
        return null;
    end if;
    if old.breaker_state = 'closed' and new.breaker_state = 'open' then
        perform herald.emit_operational('herald.endpoint.breaker_opened', new.id, new.user_id,
            jsonb_build_object('reason', format('%s consecutive failures', new.consecutive_failures),
                               'url', new.url, 'breaker_until', new.breaker_until));
    elsif old.breaker_state <> 'closed' and new.breaker_state = 'closed' and v_active then
        perform herald.emit_operational('herald.endpoint.recovered', new.id, new.user_id,
            jsonb_build_object('reason', 'a probe delivery succeeded', 'url', new.url,
                               'opened_at', old.breaker_opened_at));
    end if;
    if old.disabled_at is null and new.disabled_at is not null then
        perform herald.emit_operational('herald.endpoint.disabled', new.id, new.user_id,
            jsonb_build_object('reason',
                               case when new.breaker_state <> 'closed'
                                    then format('circuit breaker open since %s', new.breaker_opened_at)
                                    else 'the endpoint answered 410 Gone' end,
                               'url', new.url));
    end if;
    return null;
end;
$$;

drop trigger if exists policy_changed on herald.user_webhooks;
create trigger policy_changed
    after update of breaker_state, backoff_until, enabled, disabled_at, ordering, rate_limit_per_s,
                    rate_limit_burst
    on herald.user_webhooks
    for each row
    when (old.breaker_state is distinct from new.breaker_state
          or (old.backoff_until is null) <> (new.backoff_until is null)
          or old.ordering is distinct from new.ordering
          or old.enabled is distinct from new.enabled
          or old.disabled_at is distinct from new.disabled_at
          -- (a new rate or burst changes when the next token is due)
          or old.rate_limit_per_s is distinct from new.rate_limit_per_s
          or old.rate_limit_burst is distinct from new.rate_limit_burst)
    execute function herald.webhook_policy_changed();

-- A webhook created with a rate limit or FIFO ordering is gated from the start.
drop trigger if exists limited_inserted on herald.user_webhooks;
drop trigger if exists fifo_gate on herald.user_webhooks;
drop trigger if exists gated_inserted on herald.user_webhooks;
create trigger gated_inserted
    after insert on herald.user_webhooks
    for each row
    when (new.rate_limit_per_s is not null or new.ordering = 'fifo')
    execute function herald.webhook_policy_changed();

create or replace function herald.forget_webhook_gates() returns trigger
language plpgsql
as $$
begin
    delete from herald.webhook_gates g using old_webhooks o where g.webhook_id = o.id;
    if found then
        perform pg_notify('herald_gates', '');
    end if;
    return null;
end;
$$;

drop trigger if exists forget_gates on herald.user_webhooks;
create trigger forget_gates
    after delete on herald.user_webhooks
    referencing old table as old_webhooks
    for each statement
    execute function herald.forget_webhook_gates();

-- herald.delivery.exhausted for each delivery (by id) that used its last attempt, with the
-- outcome of that attempt; called by the writer in the statement that records it. Not for
-- deliveries of Herald's own events (no chain of events about events), nor for webhooks that
-- tell nobody.
create or replace function herald.emit_exhausted(p_ids uuid[], p_codes int[], p_errors text[])
returns int
language plpgsql
as $$
declare
    v_row record;
    v_n   int := 0;
begin
    for v_row in
        select d.id, d.webhook_id, d.event_id, d.event_type, w.user_id, x.code, x.error
          from unnest(p_ids, p_codes, p_errors) as x (id, code, error)
          join herald.deliveries d on d.id = x.id
          join herald.user_webhooks w on w.id = d.webhook_id
         where w.operational_events and d.event_type not like 'herald.%'
    loop
        perform herald.emit_operational('herald.delivery.exhausted', v_row.webhook_id, v_row.user_id,
            jsonb_build_object('reason', coalesce(v_row.error, 'failed'),
                               'delivery_id', v_row.id, 'event_id', v_row.event_id,
                               'event_type', v_row.event_type, 'last_status_code', v_row.code));
        v_n := v_n + 1;
    end loop;
    return v_n;
end;
$$;
