-- Failed attempts (retried or not) and the most frequent attempt error.
select count(*) filter (where status_code is null or status_code not between 200 and 299),
       (select error from herald.delivery_attempts where error is not null
         group by error order by count(*) desc limit 1)
  from herald.delivery_attempts
