-- Many events in one statement: a plain INSERT into herald.events fans out as a set.
insert into herald.events (event_type, user_id, resource_id, data)
select 'order.created', u.user_id, gen_random_uuid(),
       jsonb_build_object('order', u.n, 'amount_cents', 100 * u.n, 'currency', 'EUR',
                          'via', 'bulk insert')
  from unnest($1::uuid[]) with ordinality as u(user_id, n)
returning id
