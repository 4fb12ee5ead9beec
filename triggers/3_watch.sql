-- herald.watch: turn row changes of an application table into events, without application code.
--
--   select herald.watch(
--       'public.batches',                 -- the table
--       'batch.completed',                -- a registered event type
--       on_op       => 'update',          -- 'insert' or 'update'
--       condition   => $$new.status = 'completed' and old.status is distinct from 'completed'$$,
--       user_column => 'owner_id',        -- owner of the event (null allowed for platform types)
--       resource_column => 'id');         -- resource id and, for updates, the row key
--
-- The trigger is statement-level with transition tables, so a bulk UPDATE emits all of its
-- events in one INSERT into herald.events (one fan-out). In `condition`, `new` is the row after
-- the change and, for updates, `old` the row before it. The event's data is the new row as JSON.

create or replace function herald.watch_fire() returns trigger
language plpgsql
as $$
declare
    v_query text;
begin
    select w.query into v_query from herald.watches w
     where w.table_name = tg_relid::regclass and w.trigger_name = tg_name;
    if v_query is not null then
        execute v_query;
    end if;
    return null;
end;
$$;

create or replace function herald.watch(
    p_table          regclass,
    p_event_type     text,
    on_op            text default 'insert',
    condition        text default null,
    user_column      text default 'user_id',
    resource_column  text default 'id'
) returns text
language plpgsql
as $$
declare
    v_trigger text;
    v_query   text;
    v_scope   text;
    v_from    text;
    v_column  text;
    v_type    regtype;
begin
    select t.scope into v_scope from herald.event_types t where t.name = p_event_type;
    if v_scope is null then
        raise exception 'herald.watch: unknown event type "%"', p_event_type using errcode = 'HR001';
    end if;
    if on_op not in ('insert', 'update') then
        raise exception 'herald.watch: on_op must be ''insert'' or ''update'', not %', quote_nullable(on_op)
            using errcode = '22023';
    end if;
    if on_op = 'update' and resource_column is null then
        raise exception 'herald.watch: an update watch needs resource_column to pair old and new rows'
            using errcode = '22023';
    end if;
    if user_column is null and v_scope = 'own' then
        raise exception 'herald.watch: event type "%" has scope own; give user_column', p_event_type
            using errcode = 'HR002';
    end if;
    -- Both columns must be uuid: a cast from, say, text would be accepted now and then fail
    -- the application's write at the first row that does not hold a uuid.
    foreach v_column in array array[user_column, resource_column] loop
        continue when v_column is null;
        select a.atttypid::regtype into v_type from pg_attribute a
         where a.attrelid = p_table and a.attname = v_column and a.attnum > 0 and not a.attisdropped;
        if v_type is null then
            raise exception 'herald.watch: table % has no column "%"', p_table, v_column using errcode = '42703';
        elsif v_type <> 'uuid'::regtype then
            raise exception 'herald.watch: column "%" of table % is %, not uuid', v_column, p_table, v_type
                using errcode = '42804';
        end if;
    end loop;

    v_trigger := left('herald_watch_' || on_op || '_' || regexp_replace(p_event_type, '[^A-Za-z0-9_]', '_', 'g'), 63);
    v_from := case on_op
        when 'insert' then 'herald_new new'
        else format('herald_new new join herald_old old on old.%1$I = new.%1$I', resource_column)
    end;
    v_query := format(
        'insert into herald.events (event_type, user_id, resource_id, data) '
        'select %L, %s, %s, to_jsonb(new) from %s where %s',
        p_event_type,
        coalesce(format('new.%I::uuid', user_column), 'null::uuid'),
        coalesce(format('new.%I::uuid', resource_column), 'null::uuid'),
        v_from,
        coalesce(nullif(trim(condition), ''), 'true'));

    -- Validate the condition and the columns' types now, against the real table, rather
    -- than at the first matching write.
    begin
        execute format('select 1 from %s where false and exists (select 1 from %s where %s)',
            p_table,
            replace(replace(v_from, 'herald_new', p_table::text), 'herald_old', p_table::text),
            coalesce(nullif(trim(condition), ''), 'true'));
        execute format('select %s, %s from %s new where false',
            coalesce(format('new.%I::uuid', user_column), 'null::uuid'),
            coalesce(format('new.%I::uuid', resource_column), 'null::uuid'),
            p_table);
    exception when others then
        raise exception 'herald.watch: invalid watch on %: %', p_table, sqlerrm using errcode = '22023';
    end;

    execute format('drop trigger if exists %I on %s', v_trigger, p_table);
    execute format(
        'create trigger %I after %s on %s referencing new table as herald_new%s '
        'for each statement execute function herald.watch_fire()',
        v_trigger, on_op, p_table,
        case on_op when 'update' then ' old table as herald_old' else '' end);

    insert into herald.watches (trigger_name, table_name, event_type, on_op, user_column, resource_column, condition, query)
    values (v_trigger, p_table, p_event_type, on_op, user_column, resource_column, condition, v_query)
    on conflict (table_name, trigger_name) do update
        set event_type = excluded.event_type, user_column = excluded.user_column,
            resource_column = excluded.resource_column, condition = excluded.condition,
            query = excluded.query;
    return v_trigger;
end;
$$;

create or replace function herald.unwatch(p_table regclass, p_event_type text, on_op text default 'insert')
returns boolean
language plpgsql
as $$
declare
    v_trigger text := left('herald_watch_' || on_op || '_' || regexp_replace(p_event_type, '[^A-Za-z0-9_]', '_', 'g'), 63);
begin
    execute format('drop trigger if exists %I on %s', v_trigger, p_table);
    delete from herald.watches where table_name = p_table and trigger_name = v_trigger;
    return found;
end;
$$;
