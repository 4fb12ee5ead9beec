select name, kind, checksum from herald.schema_migrations
