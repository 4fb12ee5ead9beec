-- Registering again with the same scope updates the description; a different scope is a
-- conflict and returns no row.
insert into herald.event_types as t (name, scope, description)
values ($1, $2, $3)
on conflict (name) do update
   set description = excluded.description
 where t.scope = excluded.scope
returning name, scope, description, created_at, (xmax = 0) as created
