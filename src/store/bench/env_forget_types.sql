delete from herald.event_types where name like 'bench.%'
