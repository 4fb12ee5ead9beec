-- One small batch of retention, walking events older than the cutoff ($1 seconds ago) in
-- creation order after the cursor ($3, $4; null: from the oldest), at most $2 of them:
--  * their delivered and exhausted deliveries last changed before the cutoff, with the
--    deliveries' attempts;
--  * the events themselves once no delivery needs them any more (a delivery's payload is built
--    from its event).
-- Answers what it deleted and where the next batch starts (null cursor: nothing left).
with batch as (
    select e.id, e.created_at
      from herald.events e
     where e.created_at < now() - make_interval(secs => $1::float8)
       and ($3::timestamptz is null or (e.created_at, e.id) > ($3::timestamptz, $4::uuid))
     order by e.created_at, e.id
     limit $2::int8
),
gone as (
    delete from herald.deliveries d
     using batch b
     where d.event_id = b.id
       and d.status in ('delivered', 'exhausted')
       and d.updated_at < now() - make_interval(secs => $1::float8)
    returning d.id
),
attempts as (
    delete from herald.delivery_attempts a using gone where a.delivery_id = gone.id
),
events_gone as (
    delete from herald.events e
     using batch b
     where e.id = b.id
       and not exists (select 1 from herald.deliveries d
                        where d.event_id = b.id and d.id not in (select id from gone))
    returning e.id
),
last as (
    select created_at, id from batch order by created_at desc, id desc limit 1
)
select (select count(*) from gone) as deliveries,
       (select count(*) from events_gone) as events,
       (select count(*) from batch) as scanned,
       (select created_at from last) as next_created_at,
       (select id from last) as next_id
