-- The sizes the console fixture reads: $1 users x $2 webhooks each, $3 deliveries, $4
-- attempts per delivery.
create temp table bench_args as
select $1::int as users, $2::int as per_user, $3::int8 as deliveries, $4::int as attempts
