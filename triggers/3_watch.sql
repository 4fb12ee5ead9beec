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
--
-- Each watch gets a trigger function of its own, generated here with the condition in its
-- body: what fires is fixed when herald.watch runs, and nothing reads herald.watches (a plain
-- record of the watches that exist) when a trigger fires. The condition must be one boolean
-- expression over `new` and `old`: it is checked token by token (no `;`, no comment, no
-- dollar quoting, no subquery, balanced parentheses) and then parsed by PostgreSQL as a cursor
-- that is never fetched, so nothing in it runs while it is checked. Functions may be called;
-- they run, like the rest of the trigger, as the role whose write fired it.
--
-- Only the owner of the schema herald may watch or unwatch (EXECUTE is revoked from PUBLIC in
-- triggers/9_privileges.sql, and both functions check it).

-- Refuses, with SQLSTATE 42601 and a message saying why, any condition that is not a single
-- expression made of ordinary tokens. Strings are read as PostgreSQL reads them with
-- standard_conforming_strings on (fixed for this function and for every generated trigger).
create or replace function herald.watch_check_condition(p_condition text) returns void
language plpgsql
immutable
set standard_conforming_strings = on
as $$
declare
    n       int := length(p_condition);
    i       int := 1;
    j       int;
    c       text;
    depth   int := 0;
    word    text;
    prev    text := '';   -- the previous token: '.', 'word:<lowercase>', 'number', or other
    adjoins boolean;      -- the previous token ends right before this character
    last    int := 0;     -- where the previous token ended
begin
    while i <= n loop
        c := substr(p_condition, i, 1);
        if c ~ '^\s$' then
            i := i + 1;
            continue;
        end if;
        if c = ';' then
            raise exception 'herald.watch: the condition must be one expression; it contains ";" at character %', i
                using errcode = '42601';
        end if;
        if (c = '-' and substr(p_condition, i + 1, 1) = '-') or (c = '/' and substr(p_condition, i + 1, 1) = '*') then
            raise exception 'herald.watch: comments are not allowed in the condition (character %)', i
                using errcode = '42601';
        end if;
        if c = '$' then
            raise exception 'herald.watch: "$" (dollar quoting or a parameter) is not allowed in the condition (character %); quote strings with ''...''', i
                using errcode = '42601';
        end if;
        if c = '\' then
            raise exception 'herald.watch: "\" outside a string literal (character %)', i
                using errcode = '42601';
        end if;
        adjoins := last = i - 1;
        if c = '''' then
            -- E'...' (an "e" token right before the quote) takes backslash escapes.
            j := i + 1;
            loop
                if j > n then
                    raise exception 'herald.watch: unterminated string literal in the condition (from character %)', i
                        using errcode = '42601';
                end if;
                c := substr(p_condition, j, 1);
                if prev = 'word:e' and adjoins and c = '\' then
                    j := j + 2;
                elsif c = '''' and substr(p_condition, j + 1, 1) = '''' then
                    j := j + 2;
                elsif c = '''' then
                    exit;
                else
                    j := j + 1;
                end if;
            end loop;
            i := j + 1;
            prev := 'literal';
            last := j;
            continue;
        end if;
        if c = '"' then
            j := i + 1;
            loop
                if j > n then
                    raise exception 'herald.watch: unterminated quoted identifier in the condition (from character %)', i
                        using errcode = '42601';
                end if;
                if substr(p_condition, j, 1) = '"' then
                    if substr(p_condition, j + 1, 1) = '"' then
                        j := j + 2;
                        continue;
                    end if;
                    exit;
                end if;
                j := j + 1;
            end loop;
            i := j + 1;
            prev := 'quoted';
            last := j;
            continue;
        end if;
        if c ~ '^[A-Za-z_]$' or ascii(c) > 127 then
            j := i + 1;
            while j <= n and (substr(p_condition, j, 1) ~ '^[A-Za-z0-9_$]$' or ascii(substr(p_condition, j, 1)) > 127) loop
                j := j + 1;
            end loop;
            word := lower(substr(p_condition, i, j - i));
            -- A word after "." is a column name, whatever it spells.
            if prev <> '.' and word in ('select', 'with', 'values', 'table') then
                raise exception 'herald.watch: the condition may not contain a subquery ("%" at character %); it can use only new and old', word, i
                    using errcode = '42601';
            end if;
            prev := 'word:' || word;
            last := j - 1;
            i := j;
            continue;
        end if;
        if c ~ '^[0-9]$' then
            -- Digits, dots and an exponent; a letter after them starts a new token.
            j := i + 1;
            while j <= n and substr(p_condition, j, 1) ~ '^[0-9._]$' loop
                j := j + 1;
            end loop;
            if substr(p_condition, j, 3) ~ '^[eE][+-]?[0-9]' then
                j := j + 2;
                while j <= n and substr(p_condition, j, 1) ~ '^[0-9_]$' loop
                    j := j + 1;
                end loop;
            end if;
            prev := 'number';
            last := j - 1;
            i := j;
            continue;
        end if;
        if c = '(' then
            depth := depth + 1;
        elsif c = ')' then
            depth := depth - 1;
            if depth < 0 then
                raise exception 'herald.watch: unbalanced ")" at character % of the condition', i
                    using errcode = '42601';
            end if;
        end if;
        prev := c;
        last := i;
        i := i + 1;
    end loop;
    if depth <> 0 then
        raise exception 'herald.watch: unbalanced "(" in the condition' using errcode = '42601';
    end if;
end;
$$;

-- The names of a watch's trigger and function, derived from its arguments only. The trigger
-- name keeps the operation and a readable part of the event type and ends with a hash of the
-- exact type, so `a.b` and `a_b`, or two long names sharing their first 63 characters, never
-- share a trigger.
create or replace function herald.watch_names(
    p_table regclass, p_event_type text, p_on_op text,
    out trigger_name text, out function_name text)
language sql
immutable
as $$
    select format('herald_watch_%s_%s_%s', p_on_op,
                  left(regexp_replace(p_event_type, '[^A-Za-z0-9_]', '_', 'g'), 34),
                  left(md5(p_event_type), 8)),
           format('watch_%s_%s_%s_%s', p_table::oid, p_on_op,
                  left(regexp_replace(p_event_type, '[^A-Za-z0-9_]', '_', 'g'), 20),
                  left(md5(p_event_type), 8));
$$;

-- Raises unless the caller has the rights of the schema herald's owner.
create or replace function herald.watch_require_owner() returns void
language plpgsql
as $$
begin
    if not pg_has_role(current_user,
                       (select n.nspowner from pg_namespace n where n.nspname = 'herald'),
                       'USAGE') then
        raise exception 'herald.watch: only the owner of the schema herald may watch or unwatch tables (current user: %)', current_user
            using errcode = '42501';
    end if;
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
set standard_conforming_strings = on
as $$
declare
    v_names   record;
    v_scope   text;
    v_from    text;
    v_check   text;
    v_column  text;
    v_type    regtype;
    v_cond    text := coalesce(nullif(trim(condition), ''), 'true');
    v_marker  text;
    v_body    text;
    v_src     text;
    v_tgfoid  oid;
    v_cursor  refcursor;
begin
    perform herald.watch_require_owner();
    select t.scope into v_scope from herald.event_types t where t.name = p_event_type;
    if v_scope is null then
        raise exception 'herald.watch: unknown event type "%"', p_event_type using errcode = 'HR001';
    end if;
    if on_op is null or on_op not in ('insert', 'update') then
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

    -- 1. Tokens: one expression, nothing that could end it or hide the rest.
    perform herald.watch_check_condition(v_cond);

    -- 2. PostgreSQL parses and plans it against the real table, as a cursor that is opened
    -- and closed without a fetch: a second statement cannot even be opened as a cursor, and
    -- nothing in the condition is evaluated. A non-boolean, an unknown column, an aggregate or
    -- a reference to any other table fails here.
    v_check := format('select 1 from %s new%s where (%s)', p_table,
                      case on_op when 'update' then format(', %s old', p_table) else '' end, v_cond);
    begin
        open v_cursor for execute v_check;
        close v_cursor;
    exception when others then
        raise exception 'herald.watch: invalid condition for %: %', p_table, sqlerrm using errcode = '22023';
    end;

    -- 3. The trigger function, its body fixed now. Names come from the arguments alone.
    select * into v_names from herald.watch_names(p_table, p_event_type, on_op);
    v_marker := format('-- herald.watch %s %s %s', p_table::oid, on_op, quote_literal(p_event_type));
    v_from := case on_op
        when 'insert' then 'herald_new new'
        else format('herald_new new join herald_old old on old.%1$I = new.%1$I', resource_column)
    end;
    v_body := format(E'%s\n#variable_conflict use_column\nbegin\n'
                     '    insert into herald.events (event_type, user_id, resource_id, data)\n'
                     '    select %L, %s, %s, to_jsonb(new)\n'
                     '      from %s\n'
                     '     where (%s);\n'
                     '    return null;\n'
                     'end\n',
        v_marker,
        p_event_type,
        coalesce(format('new.%I::uuid', user_column), 'null::uuid'),
        coalesce(format('new.%I::uuid', resource_column), 'null::uuid'),
        v_from,
        v_cond);

    -- Refuse a name that is taken by something else (another watch, or the application's own
    -- trigger or function of that name).
    select p.prosrc into v_src from pg_proc p
     where p.pronamespace = 'herald'::regnamespace and p.proname = v_names.function_name;
    if v_src is not null and split_part(v_src, E'\n', 1) <> v_marker then
        raise exception 'herald.watch: the function herald.% already exists and is not this watch''s', v_names.function_name
            using errcode = '42723';
    end if;
    select t.tgfoid into v_tgfoid from pg_trigger t
     where t.tgrelid = p_table and t.tgname = v_names.trigger_name;
    if v_tgfoid is not null and v_tgfoid is distinct from to_regprocedure(format('herald.%I()', v_names.function_name)) then
        raise exception 'herald.watch: table % already has a trigger named % that is not this watch''s', p_table, v_names.trigger_name
            using errcode = '42710';
    end if;

    execute format('create or replace function herald.%I() returns trigger language plpgsql '
                   'set search_path from current set standard_conforming_strings = on as %L',
                   v_names.function_name, v_body);
    execute format('revoke all on function herald.%I() from public', v_names.function_name);
    execute format('drop trigger if exists %I on %s', v_names.trigger_name, p_table);
    execute format(
        'create trigger %I after %s on %s referencing new table as herald_new%s '
        'for each statement execute function herald.%I()',
        v_names.trigger_name, on_op, p_table,
        case on_op when 'update' then ' old table as herald_old' else '' end,
        v_names.function_name);

    insert into herald.watches (trigger_name, table_name, event_type, on_op, user_column, resource_column, condition, trigger_function)
    values (v_names.trigger_name, p_table, p_event_type, on_op, user_column, resource_column, condition,
            'herald.' || v_names.function_name)
    on conflict (table_name, trigger_name) do update
        set event_type = excluded.event_type, on_op = excluded.on_op, user_column = excluded.user_column,
            resource_column = excluded.resource_column, condition = excluded.condition,
            trigger_function = excluded.trigger_function, created_at = now();
    return v_names.trigger_name;
end;
$$;

create or replace function herald.unwatch(p_table regclass, p_event_type text, on_op text default 'insert')
returns boolean
language plpgsql
as $$
declare
    v_names record;
begin
    perform herald.watch_require_owner();
    select * into v_names from herald.watch_names(p_table, p_event_type, on_op);
    execute format('drop trigger if exists %I on %s', v_names.trigger_name, p_table);
    execute format('drop function if exists herald.%I()', v_names.function_name);
    delete from herald.watches where table_name = p_table and trigger_name = v_names.trigger_name;
    return found;
end;
$$;

-- Upgrade: watches made by an older herald.watch fire herald.watch_fire(), which executed the
-- query stored in herald.watches. Re-create each with its own function, then drop the old one.
do $$
declare
    v_trigger record;
    v_watch   record;
begin
    if to_regprocedure('herald.watch_fire()') is null then
        return;
    end if;
    for v_trigger in
        select t.tgrelid::regclass as table_name, t.tgname
          from pg_trigger t
         where t.tgfoid = 'herald.watch_fire()'::regprocedure
    loop
        select * into v_watch from herald.watches w
         where w.table_name = v_trigger.table_name and w.trigger_name = v_trigger.tgname;
        execute format('drop trigger %I on %s', v_trigger.tgname, v_trigger.table_name);
        delete from herald.watches w
         where w.table_name = v_trigger.table_name and w.trigger_name = v_trigger.tgname;
        if v_watch.event_type is null then
            raise warning 'herald migrate: dropped the trigger % on %, which had no record in herald.watches',
                v_trigger.tgname, v_trigger.table_name;
            continue;
        end if;
        perform herald.watch(v_watch.table_name, v_watch.event_type, v_watch.on_op, v_watch.condition,
                             v_watch.user_column, v_watch.resource_column);
    end loop;
    drop function herald.watch_fire();
end;
$$;
