insert into herald.event_types (name, scope, description)
values ($1, 'own', 'herald bench'), ($2, 'platform', 'herald bench')
