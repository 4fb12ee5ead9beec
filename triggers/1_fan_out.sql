-- Fan-out: one statement's events become deliveries as one set.
--
-- Error codes raised here (class HR, Herald):
--   HR001 unknown event type            HR002 own event without user_id
--   HR003 payload larger than herald.settings.max_payload_bytes
-- A payload that is not a JSON object is refused by the check constraint event_data_is_object.
--
-- Each delivery is a row in herald.deliveries (no payload copy: it is built from the event when
-- sent) plus a row in herald.queue, due now. A FIFO webhook's rows carry the event's seq (its
-- order of delivery) and wait their turn with due_at 'infinity' (triggers/7_fifo.sql); other
-- webhooks' rows carry null.
--
-- Two paths, because every statement the trigger runs costs the producer its executor start-up
-- (opening relations and indexes, building each plan node and expression), whatever its rows:
--   * the common statement, valid events of `own` types only, takes the fast path: one probe
--     that finds no event needing more (no aggregate), then the insert of own deliveries;
--   * any other statement (a platform event, or a bad one) takes the general path: the query
--     that validates (and raises), then the insert of both scopes.
-- Both end with the same wake check. Counted with callgrind for single own events inserted by
-- a prepared statement (BENCHMARKS.md): 549k instructions per insert, against 609k when every
-- statement took the general path.

-- A time-ordered id (48 bits of Unix milliseconds, version 7, random bits): new rows land at the
-- right edge of the primary key instead of on a random page. herald.events.id's default is the
-- same expression, written out (sql/0012_time_ordered_event_ids.sql): EXECUTE on this function
-- is revoked from PUBLIC, and a default runs as the inserting role. Change both together.
create or replace function herald.new_delivery_id() returns uuid
language sql volatile parallel safe
as $$
    select encode(int8send(((extract(epoch from now()) * 1000)::int8 << 16)
                           | 28672 | (random() * 4095)::int8)
                  || int8send((random() * 4611686018427387903)::int8 | (-9223372036854775807 - 1)),
                  'hex')::uuid
$$;

-- SECURITY DEFINER: the roles that insert events (see `herald migrate --grant-app`) may not
-- read webhooks' secrets or write deliveries; the fan-out does that as the schema owner, with a
-- search_path fixed so that no caller's schema can shadow what it calls.
create or replace function herald.fan_out_events() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_check      record;
    v_bad        record;
    v_inserted   bigint;
begin
    -- The probe finds an event that is of no registered `own` type, has no user, or is over
    -- the size limit; when there is none, the statement takes the fast path (below).
    perform 1
       from new_events e
      where e.user_id is null
         or not exists (select 1 from herald.event_types t
                         where t.name = e.event_type and t.scope = 'own')
         or octet_length(e.data::text) > (select max_payload_bytes from herald.settings);
    if not found then
        -- The fast path: own deliveries only.
        with inserted as (
            insert into herald.deliveries (id, webhook_id, event_id, event_type, resource_id, created_at, seq)
            select herald.new_delivery_id(), w.id, e.id, e.event_type, e.resource_id, e.created_at,
                   case when w.ordering = 'fifo' then coalesce(e.seq, 0) end
              from new_events e
              join herald.user_webhooks w
                on w.user_id = e.user_id
               and w.scope = 'own'
               and w.enabled and w.disabled_at is null
               and (w.event_types is null or w.event_types ? e.event_type)
            on conflict (webhook_id, event_type, resource_id) where resource_id is not null do nothing
            returning id, webhook_id, seq
        )
        insert into herald.queue (delivery_id, webhook_id, seq, due_at)
        select id, webhook_id, seq, case when seq is null then now() else 'infinity' end
          from inserted;
    else
        -- The general path: validate, and write both scopes.
        select s.max_payload_bytes as max_bytes,
               coalesce(bool_or(t.name is null
                                or (t.scope = 'own' and e.user_id is null)
                                or octet_length(e.data::text) > s.max_payload_bytes), false) as bad
          into v_check
          from herald.settings s
          cross join new_events e
          left join herald.event_types t on t.name = e.event_type
         group by s.max_payload_bytes;
        if not found then
            return null;
        end if;
        if v_check.bad then
            select e.event_type, t.scope, e.user_id, octet_length(e.data::text) as bytes into v_bad
              from new_events e
              left join herald.event_types t on t.name = e.event_type
             where t.name is null
                or (t.scope = 'own' and e.user_id is null)
                or octet_length(e.data::text) > v_check.max_bytes
             limit 1;
            if v_bad.scope is null then
                raise exception 'herald: unknown event type "%"', v_bad.event_type
                    using errcode = 'HR001',
                          hint = 'Register it first: insert into herald.event_types (name, scope) values (...).';
            elsif v_bad.scope = 'own' and v_bad.user_id is null then
                raise exception 'herald: event type "%" has scope own and needs a user_id', v_bad.event_type
                    using errcode = 'HR002';
            else
                raise exception 'herald: payload of a "%" event is % bytes, over the limit of % bytes',
                        v_bad.event_type, v_bad.bytes, v_check.max_bytes
                    using errcode = 'HR003';
            end if;
        end if;

        -- The probe found an event needing more and the validation passed: the statement
        -- holds platform events.
        with e as (
            select n.id, n.event_type, n.user_id, n.resource_id, n.created_at, n.seq, t.scope
              from new_events n
              join herald.event_types t on t.name = n.event_type
        ),
        inserted as (
            insert into herald.deliveries (id, webhook_id, event_id, event_type, resource_id, created_at, seq)
            select herald.new_delivery_id(), w.id, e.id, e.event_type, e.resource_id, e.created_at,
                   case when w.ordering = 'fifo' then coalesce(e.seq, 0) end
              from e
              join herald.user_webhooks w
                on w.user_id = e.user_id
               and w.scope = 'own'
               and w.enabled and w.disabled_at is null
               and (w.event_types is null or w.event_types ? e.event_type)
             where e.scope = 'own'
            union all
            select herald.new_delivery_id(), w.id, e.id, e.event_type, e.resource_id, e.created_at,
                   case when w.ordering = 'fifo' then coalesce(e.seq, 0) end
              from e
              join herald.user_webhooks w
                on w.scope = 'platform'
               and w.enabled and w.disabled_at is null
               and (w.event_types is null or w.event_types ? e.event_type)
              join herald.user_roles r on r.user_id = w.user_id and r.role = 'PLATFORMMANAGER'
             where e.scope = 'platform'
            on conflict (webhook_id, event_type, resource_id) where resource_id is not null do nothing
            returning id, webhook_id, seq
        )
        insert into herald.queue (delivery_id, webhook_id, seq, due_at)
        select id, webhook_id, seq, case when seq is null then now() else 'infinity' end
          from inserted;
    end if;

    get diagnostics v_inserted = row_count;
    -- The gated wake: at most one NOTIFY per statement, and only while a worker sleeps.
    if v_inserted > 0 and exists (select 1 from herald.sleepers)
       and (select notify_enabled from herald.settings) then
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
