insert into herald.schema_migrations (name, kind, checksum) values ($1, 'migration', $2)
