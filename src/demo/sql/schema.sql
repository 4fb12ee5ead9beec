-- The demo's own application table, in a schema of its own so that a DATABASE_URL's other
-- schemas are left alone. herald.watch turns a batch's move to `completed` into a
-- `batch.completed` event for its owner, in the same transaction as the update.
create schema if not exists herald_demo;

create table if not exists herald_demo.batches (
    id           uuid primary key default gen_random_uuid(),
    owner_id     uuid not null,
    items        int not null,
    status       text not null default 'running',
    created_at   timestamptz not null default now(),
    completed_at timestamptz
);

select herald.watch(
    'herald_demo.batches',
    'batch.completed',
    on_op           => 'update',
    condition       => $$new.status = 'completed' and old.status is distinct from 'completed'$$,
    user_column     => 'owner_id',
    resource_column => 'id');
