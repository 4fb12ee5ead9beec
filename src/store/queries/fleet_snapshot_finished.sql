-- Writes the delivered ($1) and exhausted ($2) counts of a finished walk over the deliveries
-- into herald.queue_snapshot.
insert into herald.queue_snapshot as s (status, deliveries, taken_at)
values ('delivered', $1::int8, now()), ('exhausted', $2::int8, now())
on conflict (status) do update
   set deliveries = excluded.deliveries, taken_at = excluded.taken_at
