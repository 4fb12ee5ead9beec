-- Batches start out running: nothing is emitted yet.
insert into herald_demo.batches (owner_id, items)
select u.owner_id, 10 * u.n::int
  from unnest($1::uuid[]) with ordinality as u(owner_id, n)
returning id
