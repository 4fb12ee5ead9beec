-- A reset's statements over every table of the schema herald but those in $1, whatever the
-- engine's layout: a truncate and a vacuum analyze of them all. Table names cannot be bound
-- as parameters, so the statements are written here and executed as they come back.
select format('truncate %s', tables), format('vacuum analyze %s', tables)
  from (select string_agg(format('herald.%I', tablename), ', ' order by tablename) as tables
          from pg_tables
         where schemaname = 'herald' and tablename <> all($1::text[])) t
