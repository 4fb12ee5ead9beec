-- $4 events starting at number $3, spread over the users $2 (round-robin), each fanned out
-- by the trigger to every webhook of its user: one statement per chunk, fanned out as a set.
insert into herald.events (event_type, user_id, resource_id, data)
select $1, ($2::uuid[])[1 + (i % array_length($2::uuid[], 1))], gen_random_uuid(),
       jsonb_build_object('seq', i, 'note', 'herald bench drain')
  from generate_series($3::int8, $3::int8 + $4::int8 - 1) as i
