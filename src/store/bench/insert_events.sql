-- Several events in one statement and one transaction, one per user in $2 (repeats allowed);
-- the fan-out trigger handles them as one set.
insert into herald.events (event_type, user_id, resource_id, data)
select $1, u, gen_random_uuid(), $3
  from unnest($2::uuid[]) as u
returning id
