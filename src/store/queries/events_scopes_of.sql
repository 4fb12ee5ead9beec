select name, scope from herald.event_types where name = any($1::text[])
