-- The events that the watch trigger emitted for these batches.
select id from herald.events
 where event_type = 'batch.completed' and resource_id = any($1::uuid[])
