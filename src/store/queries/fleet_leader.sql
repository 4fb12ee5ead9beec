-- The worker id in the leader session's application_name (`herald-leader:<worker id>`).
select substr(application_name, length('herald-leader:') + 1) as worker_id, backend_start
  from herald.leader
 where application_name like 'herald-leader:%'
 limit 1
