-- The plain table the producer-overhead scenario compares against: herald.events' columns and
-- id default, a primary key and a created_at index, no trigger.
create table if not exists public.herald_bench_plain (
    id          uuid primary key default gen_random_uuid(),
    event_type  text not null,
    user_id     uuid,
    resource_id uuid,
    data        jsonb not null check (jsonb_typeof(data) = 'object'),
    created_at  timestamptz not null default now()
);
create index if not exists herald_bench_plain_created_at on public.herald_bench_plain (created_at);
-- Its ids are made as herald.events makes them (time-ordered since migration 0012).
do $$
begin
    execute format('alter table public.herald_bench_plain alter column id set default %s',
                   (select pg_get_expr(d.adbin, d.adrelid)
                      from pg_attrdef d
                      join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
                     where d.adrelid = 'herald.events'::regclass and a.attname = 'id'));
end;
$$;
truncate public.herald_bench_plain;
