-- One small batch of retention for deliveries written before the queue was reshaped (they
-- carry their own payload and may have outlived their event): delivered and exhausted ones
-- last changed before the cutoff ($1 seconds ago), at most $2, with their attempts.
with gone as (
    delete from herald.deliveries
     where id in (select id from herald.deliveries
                   where payload is not null
                     and created_at < now() - make_interval(secs => $1::float8)
                     and status in ('delivered', 'exhausted')
                     and updated_at < now() - make_interval(secs => $1::float8)
                   limit $2::int8)
    returning id
),
attempts as (
    delete from herald.delivery_attempts a using gone where a.delivery_id = gone.id
)
select count(*) from gone
