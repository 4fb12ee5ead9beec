insert into herald.events (event_type, user_id, resource_id, data)
values ($1, null, gen_random_uuid(), $2)
