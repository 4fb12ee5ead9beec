-- Every table of the schema herald, quoted, and its bare name.
select format('herald.%I', tablename), tablename::text
  from pg_tables
 where schemaname = 'herald'
 order by tablename
