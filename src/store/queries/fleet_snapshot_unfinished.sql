-- Counts the pending and failed deliveries into herald.queue_snapshot (the leader, every few
-- seconds; readers then read four rows). The queue holds exactly those deliveries, so the count
-- costs what the backlog holds, not the history the deliveries keep for the retention period.
with counts as (
    select d.status, count(*) as n
      from herald.queue q
      join herald.deliveries d on d.id = q.delivery_id
     group by d.status
)
insert into herald.queue_snapshot as s (status, deliveries, taken_at)
select u.status, coalesce(c.n, 0), now()
  from unnest(array['pending', 'failed']) as u (status)
  left join counts c on c.status = u.status
on conflict (status) do update
   set deliveries = excluded.deliveries, taken_at = excluded.taken_at
