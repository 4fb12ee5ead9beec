-- Counts the deliveries by status into herald.queue_snapshot (the leader, every few seconds;
-- readers then read four rows).
with counts as (
    select status, count(*) as n from herald.webhook_deliveries group by status
)
insert into herald.queue_snapshot as q (status, deliveries, taken_at)
select s.status, coalesce(c.n, 0), now()
  from unnest(array['pending', 'failed', 'delivered', 'exhausted']) as s (status)
  left join counts c on c.status = s.status
on conflict (status) do update
   set deliveries = excluded.deliveries, taken_at = excluded.taken_at
