-- The producer-overhead scenario's ceiling: copies of herald.events, herald.deliveries and
-- herald.queue with the same columns, defaults, constraints, indexes and storage settings, and
-- no trigger. One statement that writes an event, its delivery and its queue row into them is
-- the fan-out's own work without the trigger that does it (see overhead_insert_ceiling.sql).
drop table if exists public.herald_bench_ceiling_events, public.herald_bench_ceiling_deliveries,
                     public.herald_bench_ceiling_queue;
create table public.herald_bench_ceiling_events (like herald.events including all);
create table public.herald_bench_ceiling_deliveries (like herald.deliveries including all);
create table public.herald_bench_ceiling_queue (like herald.queue including all);
do $$
declare
    r record;
begin
    for r in select c.relname, c.reloptions
               from pg_class c
              where c.relnamespace = 'herald'::regnamespace
                and c.relname in ('events', 'deliveries', 'queue')
                and c.reloptions is not null
    loop
        execute format('alter table public.%I set (%s)', 'herald_bench_ceiling_' || r.relname,
                       array_to_string(r.reloptions, ', '));
    end loop;
end;
$$;
