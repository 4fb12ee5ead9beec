-- A moment six hours ago, as the console's time filters write it.
select to_char((now() - interval '6 hours') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
