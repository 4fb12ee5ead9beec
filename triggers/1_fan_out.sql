-- Fan-out: one statement's events become deliveries as one set.
--
-- Error codes raised here (class HR, Herald):
--   HR001 unknown event type            HR002 own event without user_id
--   HR003 payload larger than herald.settings.max_payload_bytes
-- A payload that is not a JSON object is refused by the check constraint event_data_is_object.
-- SECURITY DEFINER: the roles that insert events (see `herald migrate --grant-app`) may not
-- read webhooks' secrets or write deliveries; the fan-out does that as the schema owner, with a
-- search_path fixed so that no caller's schema can shadow what it calls.
create or replace function herald.fan_out_events() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_bad        record;
    v_max_bytes  int;
    v_notify     boolean;
    v_inserted   bigint;
begin
    select s.max_payload_bytes, s.notify_enabled into v_max_bytes, v_notify from herald.settings s;

    select e.event_type, t.scope, e.user_id, octet_length(e.data::text) as bytes into v_bad
      from new_events e
      left join herald.event_types t on t.name = e.event_type
     where t.name is null
        or (t.scope = 'own' and e.user_id is null)
        or octet_length(e.data::text) > v_max_bytes
     limit 1;
    if found then
        if v_bad.scope is null then
            raise exception 'herald: unknown event type "%"', v_bad.event_type
                using errcode = 'HR001',
                      hint = 'Register it first: insert into herald.event_types (name, scope) values (...).';
        elsif v_bad.scope = 'own' and v_bad.user_id is null then
            raise exception 'herald: event type "%" has scope own and needs a user_id', v_bad.event_type
                using errcode = 'HR002';
        else
            raise exception 'herald: payload of a "%" event is % bytes, over the limit of % bytes',
                    v_bad.event_type, v_bad.bytes, v_max_bytes
                using errcode = 'HR003';
        end if;
    end if;

    insert into herald.webhook_deliveries (webhook_id, event_id, event_type, payload, resource_id)
    with e as (
        select n.id, n.event_type, n.user_id, n.resource_id, t.scope,
               jsonb_build_object(
                   'type', n.event_type,
                   'timestamp', to_char(n.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   'data', n.data) as payload
          from new_events n
          join herald.event_types t on t.name = n.event_type
    )
    select w.id, e.id, e.event_type, e.payload, e.resource_id
      from e
      join herald.user_webhooks w
        on w.user_id = e.user_id
       and w.scope = 'own'
       and w.enabled and w.disabled_at is null
       and (w.event_types is null or w.event_types ? e.event_type)
     where e.scope = 'own'
    union all
    select w.id, e.id, e.event_type, e.payload, e.resource_id
      from e
      join herald.user_webhooks w
        on w.scope = 'platform'
       and w.enabled and w.disabled_at is null
       and (w.event_types is null or w.event_types ? e.event_type)
      join herald.user_roles r on r.user_id = w.user_id and r.role = 'PLATFORMMANAGER'
     where e.scope = 'platform'
    on conflict (webhook_id, event_type, resource_id) where resource_id is not null do nothing;

    get diagnostics v_inserted = row_count;
    -- The gated wake: at most one NOTIFY per statement, and only while a worker sleeps.
    if v_inserted > 0 and v_notify and exists (select 1 from herald.sleepers) then
        perform pg_notify('herald_wake', '');
    end if;
    return null;
end;
$$;

drop trigger if exists fan_out on herald.events;
create trigger fan_out
    after insert on herald.events
    referencing new table as new_events
    for each statement
    execute function herald.fan_out_events();

-- Deliveries inserted or made due by other paths (API retry, recover) wake sleepers the same way.
create or replace function herald.wake() returns void
language sql
as $$
    select pg_notify('herald_wake', '')
     where exists (select 1 from herald.sleepers)
       and (select notify_enabled from herald.settings);
$$;
