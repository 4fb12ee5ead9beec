-- One event, its own transaction: what an application does ($1 type, $2 user, $3 data).
select herald.emit($1, $2, gen_random_uuid(), $3)
