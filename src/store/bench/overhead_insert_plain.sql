insert into public.herald_bench_plain (event_type, user_id, resource_id, data)
values ($1, $2, gen_random_uuid(), $3)
