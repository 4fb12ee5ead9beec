-- The fleet's attempts per minute over the last $1 minutes (the current one included).
select minute, attempts::int8, delivered::int8
  from herald.attempt_rollup_fleet
 where minute > date_trunc('minute', now()) - make_interval(mins => $1::int)
 order by minute
