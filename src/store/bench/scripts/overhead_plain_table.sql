-- The plain table the producer-overhead scenario compares against: herald.events' columns,
-- a primary key and a created_at index, no trigger.
create table if not exists public.herald_bench_plain (
    id          uuid primary key default gen_random_uuid(),
    event_type  text not null,
    user_id     uuid,
    resource_id uuid,
    data        jsonb not null check (jsonb_typeof(data) = 'object'),
    created_at  timestamptz not null default now()
);
create index if not exists herald_bench_plain_created_at on public.herald_bench_plain (created_at);
truncate public.herald_bench_plain;
