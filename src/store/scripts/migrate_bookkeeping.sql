-- What migrations record which files they applied in, created before the first of them.
create schema if not exists herald;
create table if not exists herald.schema_migrations (
    name       text primary key,
    kind       text not null check (kind in ('migration', 'trigger')),
    checksum   text not null,
    applied_at timestamptz not null default now()
);
