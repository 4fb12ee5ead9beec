-- The producer-overhead scenario's floor: the narrowest delivery row an in-transaction fan-out
-- could write, its primary key and the idempotency key as its only indexes, no trigger
-- (see overhead_insert_floor.sql; the event goes to public.herald_bench_plain).
drop table if exists public.herald_bench_floor_deliveries;
create table public.herald_bench_floor_deliveries (
    id          uuid primary key,
    webhook_id  uuid not null,
    event_id    uuid not null,
    event_type  text not null,
    resource_id uuid,
    created_at  timestamptz not null
);
create unique index herald_bench_floor_deliveries_idempotency
    on public.herald_bench_floor_deliveries (webhook_id, event_type, resource_id)
    where resource_id is not null;
