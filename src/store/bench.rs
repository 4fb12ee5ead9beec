//! The statements of `herald bench`: the fixtures every scenario starts from and the figures
//! it reads back. Files in `bench/scripts/` hold several statements, or statements that only
//! executing checks (`vacuum`); `tests/it/queries.rs` prepares the others and executes those.

pub const ATTEMPT_ERRORS: &str = include_str!("bench/attempt_errors.sql");
pub const CONSOLE_ARGS: &str = include_str!("bench/console_args.sql");
pub const CONSOLE_BIG_WEBHOOK: &str = include_str!("bench/console_big_webhook.sql");
pub const CONSOLE_NO_TIMEOUT: &str = include_str!("bench/console_no_timeout.sql");
pub const CONSOLE_SOME_TIME: &str = include_str!("bench/console_some_time.sql");
pub const DELIVERIES_COUNT: &str = include_str!("bench/deliveries_count.sql");
pub const DRAIN_DELIVERED: &str = include_str!("bench/drain_delivered.sql");
pub const DRAIN_PENDING: &str = include_str!("bench/drain_pending.sql");
pub const DRAIN_SPAN: &str = include_str!("bench/drain_span.sql");
pub const DRAIN_WRITE_QUEUE: &str = include_str!("bench/drain_write_queue.sql");
pub const EMIT_ONE: &str = include_str!("bench/emit_one.sql");
pub const ENV_FORGET_TYPES: &str = include_str!("bench/env_forget_types.sql");
pub const ENV_OWN_WEBHOOKS: &str = include_str!("bench/env_own_webhooks.sql");
pub const ENV_PLATFORM_MANAGER: &str = include_str!("bench/env_platform_manager.sql");
pub const ENV_PLATFORM_WEBHOOKS: &str = include_str!("bench/env_platform_webhooks.sql");
pub const ENV_REGISTER_TYPES: &str = include_str!("bench/env_register_types.sql");
pub const ENV_RESET_STATEMENTS: &str = include_str!("bench/env_reset_statements.sql");
pub const ENV_SERVER: &str = include_str!("bench/env_server.sql");
pub const ENV_SLEEPERS: &str = include_str!("bench/env_sleepers.sql");
pub const ENV_WAKE_MODE: &str = include_str!("bench/env_wake_mode.sql");
pub const ENV_WEBHOOK: &str = include_str!("bench/env_webhook.sql");
pub const FAN_OUT_INSERT: &str = include_str!("bench/fan_out_insert.sql");
pub const INSERT_EVENTS: &str = include_str!("bench/insert_events.sql");
pub const OVERHEAD_CLOSE_GATE: &str = include_str!("bench/overhead_close_gate.sql");
pub const OVERHEAD_INSERT_CEILING: &str = include_str!("bench/overhead_insert_ceiling.sql");
pub const OVERHEAD_INSERT_FLOOR: &str = include_str!("bench/overhead_insert_floor.sql");
pub const OVERHEAD_INSERT_EVENT: &str = include_str!("bench/overhead_insert_event.sql");
pub const OVERHEAD_INSERT_PLAIN: &str = include_str!("bench/overhead_insert_plain.sql");
pub const OVERHEAD_OPEN_GATE: &str = include_str!("bench/overhead_open_gate.sql");
pub const PG_COUNTERS: &str = include_str!("bench/pg_counters.sql");
pub const SOAK_NOTIFY_QUEUE: &str = include_str!("bench/soak_notify_queue.sql");
pub const SOAK_TABLES: &str = include_str!("bench/soak_tables.sql");

pub const CONSOLE_FIXTURE: &str = include_str!("bench/scripts/console_fixture.sql");
pub const CONSOLE_VACUUM: &str = include_str!("bench/scripts/console_vacuum.sql");
pub const OVERHEAD_CEILING_TABLES: &str = include_str!("bench/scripts/overhead_ceiling_tables.sql");
pub const OVERHEAD_FLOOR_TABLE: &str = include_str!("bench/scripts/overhead_floor_table.sql");
pub const OVERHEAD_PLAIN_TABLE: &str = include_str!("bench/scripts/overhead_plain_table.sql");
