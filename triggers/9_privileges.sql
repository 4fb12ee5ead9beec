-- Least privilege. Herald's objects belong to the role that runs `herald migrate` (the schema
-- owner). Two kinds of roles get rights on them, through `herald migrate --grant-app ROLE` and
-- `--grant-worker ROLE` (or these functions called by the owner):
--
-- an application role: emit events (herald.emit, INSERT into herald.events), register event
--   types, read deliveries, attempts, events and every column of herald.user_webhooks but the
--   secrets; it cannot read secrets nor write deliveries or webhooks. The fan-out it sets off
--   runs as the owner (herald.fan_out_events is SECURITY DEFINER).
--
-- the worker role (`herald run`: pipeline, leader chores and admin API): claim and record
--   deliveries, write attempts and breaker counters, manage webhooks and their secrets, event
--   types, platform-manager roles and the sleepers table, retention deletes, herald.emit and
--   herald.wake. No DDL, no herald.watch, no schema_migrations.
--
-- herald.watch, herald.unwatch and these grant functions are for the owner only.

-- The role to grant to; a clear error when it does not exist.
create or replace function herald.grant_target(p_role text) returns regrole
language plpgsql
stable
as $$
declare
    v_role regrole := to_regrole(p_role);
begin
    if v_role is null then
        raise exception 'herald: role "%" does not exist; create it first (create role ... login)', p_role
            using errcode = '42704';
    end if;
    return v_role;
end;
$$;

create or replace function herald.grant_app(p_role text) returns void
language plpgsql
as $$
declare
    v_role     regrole := herald.grant_target(p_role);
    v_columns  text;
    v_sequence regclass;
begin
    execute format('grant usage on schema herald to %s', v_role);
    execute format('grant select, insert on herald.events to %s', v_role);
    -- Sequences behind herald.events' columns, if any (inserting needs them): owned by the
    -- table, or named in a column default.
    for v_sequence in
        select d.objid::regclass from pg_depend d
          join pg_class s on s.oid = d.objid and s.relkind = 'S'
         where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass
           and d.refobjid = 'herald.events'::regclass
        union
        select d.refobjid::regclass from pg_depend d
          join pg_attrdef ad on ad.oid = d.objid and ad.adrelid = 'herald.events'::regclass
          join pg_class s on s.oid = d.refobjid and s.relkind = 'S'
         where d.classid = 'pg_attrdef'::regclass and d.refclassid = 'pg_class'::regclass
    loop
        execute format('grant usage on sequence %s to %s', v_sequence, v_role);
    end loop;
    execute format('grant execute on function herald.emit(text, uuid, uuid, jsonb) to %s', v_role);
    execute format('grant select, insert, update (description) on herald.event_types to %s', v_role);
    execute format('grant select on herald.webhook_deliveries, herald.delivery_attempts to %s', v_role);
    -- The view builds each payload with this function, which runs as the reader.
    execute format('grant execute on function herald.event_payload(text, timestamptz, jsonb) to %s', v_role);
    -- Every column of the webhooks but the secrets (re-run after an upgrade for new columns).
    select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_columns
      from pg_attribute a
     where a.attrelid = 'herald.user_webhooks'::regclass and a.attnum > 0 and not a.attisdropped
       and a.attname not in ('secret', 'previous_secret');
    execute format('grant select (%s) on herald.user_webhooks to %s', v_columns, v_role);
end;
$$;

create or replace function herald.grant_worker(p_role text) returns void
language plpgsql
as $$
declare
    v_role regrole := herald.grant_target(p_role);
begin
    execute format('grant usage on schema herald to %s', v_role);
    -- Claims, results, retry/recover, retention.
    execute format('grant select on herald.webhook_deliveries, herald.outgoing to %s', v_role);
    execute format('grant select, update, delete on herald.deliveries to %s', v_role);
    execute format('grant select, insert, update, delete on herald.queue to %s', v_role);
    execute format('grant select, insert, delete on herald.delivery_attempts to %s', v_role);
    -- The admin API's webhooks (secrets included), the claim's secrets, breaker counters.
    execute format('grant select, insert, update, delete on herald.user_webhooks to %s', v_role);
    -- The policy claim locks the gated webhooks' rows.
    execute format('grant select, insert, update, delete on herald.webhook_gates to %s', v_role);
    -- Emit over HTTP, retention of the event log.
    execute format('grant select, insert, delete on herald.events to %s', v_role);
    execute format('grant select, insert, update (description) on herald.event_types to %s', v_role);
    execute format('grant select, insert, delete on herald.user_roles to %s', v_role);
    -- The gated wake: each listener declares itself asleep here.
    execute format('grant select, insert, update, delete on herald.sleepers to %s', v_role);
    execute format('grant select on herald.settings to %s', v_role);
    -- The replica registry (heartbeats) and what the leader keeps for the console and
    -- `herald status`: attempt rollups from a watermark, last failures, the queue snapshot.
    execute format('grant select, insert, update, delete on herald.replicas, herald.attempt_rollup, '
                   'herald.attempt_rollup_hourly, herald.attempt_rollup_fleet, '
                   'herald.webhook_last_failure, herald.attempt_rollup_state, herald.queue_snapshot '
                   'to %s', v_role);
    execute format('grant usage on all sequences in schema herald to %s', v_role);
    execute format('grant execute on function herald.emit(text, uuid, uuid, jsonb), herald.wake(), '
                   'herald.event_payload(text, timestamptz, jsonb), '
                   'herald.emit_exhausted(uuid[], int[], text[]), '
                   'herald.emit_operational(text, uuid, uuid, jsonb), '
                   'herald.refused_header(jsonb), herald.fifo_head(uuid), '
                   'herald.rate_tokens(numeric, int, float8, timestamptz), herald.requeue(uuid[]), '
                   'herald.analyze_queue() to %s', v_role);
    -- The leader vacuums the queue when it fills with dead tuples. Only the table's owner may
    -- before PostgreSQL 17 (a worker of another role leaves it to autovacuum); from 17 on,
    -- MAINTAIN lets it.
    if current_setting('server_version_num')::int >= 170000 then
        execute format('grant maintain on herald.queue to %s', v_role);
    end if;
end;
$$;

-- Nothing in the schema is callable by PUBLIC; the grants above name what each role may call.
-- (Trigger functions need no EXECUTE to fire.) `herald migrate` re-applies this file after any
-- other trigger file, so a re-created function never keeps PUBLIC's default EXECUTE.
revoke execute on all functions in schema herald from public;
