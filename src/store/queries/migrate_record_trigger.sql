insert into herald.schema_migrations (name, kind, checksum) values ($1, 'trigger', $2)
on conflict (name) do update set checksum = excluded.checksum, applied_at = now()
