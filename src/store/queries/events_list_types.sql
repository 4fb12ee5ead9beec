select name, scope, description, created_at from herald.event_types order by name
