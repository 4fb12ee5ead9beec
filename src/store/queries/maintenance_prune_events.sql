delete from herald.events
 where id in (select id from herald.events
               where created_at < now() - make_interval(secs => $1::float8)
               limit $2::int8)
