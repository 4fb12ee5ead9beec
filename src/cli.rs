//! The command line: a thin layer over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{bench, demo, secrets, store};

mod context;
mod deliveries;
mod events;
mod status;
mod table;
mod webhooks;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Webhook delivery worker that lives next to PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or upgrade the schema `herald` (safe to run from several replicas at once).
    Migrate(MigrateArgs),
    /// Run the delivery worker and the admin HTTP API until SIGINT/SIGTERM.
    Run(crate::app::RunArgs),
    /// The first thing to try: a throwaway PostgreSQL, a worker, a receiver and live events.
    Demo(demo::DemoArgs),
    /// Benchmarks: drain, idle-latency, steady, soak, replicas, fairness, producer-overhead, fan-out.
    Bench(bench::BenchArgs),
    /// Webhooks of a user: list, create, get, update, delete, rotate-secret (on DATABASE_URL).
    Webhooks(webhooks::WebhooksArgs),
    /// A webhook's deliveries: list, retry one, recover since a time (on DATABASE_URL).
    Deliveries(deliveries::DeliveriesArgs),
    /// The event-type registry: list, register (on DATABASE_URL).
    EventTypes(events::EventTypesArgs),
    /// Emit an event (on DATABASE_URL).
    Events(events::EventsArgs),
    /// Replicas, leader, queue depth by status, oldest due delivery, deliveries/s.
    Status(context::Output),
    /// Stored webhook secrets (encryption at rest with HERALD_SECRET_KEYS).
    Secrets(secrets::SecretsArgs),
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// After migrating, grant ROLE what an application needs: emit events, register event
    /// types, read deliveries and attempts (no secrets, no writes to deliveries or webhooks).
    /// Repeatable.
    #[arg(long, value_name = "ROLE")]
    grant_app: Vec<String>,
    /// After migrating, grant ROLE exactly what `herald run` needs. Repeatable.
    #[arg(long, value_name = "ROLE")]
    grant_worker: Vec<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Webhooks(args) => return context::run(webhooks::run(args)),
        Command::Deliveries(args) => return context::run(deliveries::run(args)),
        Command::EventTypes(args) => return context::run(events::run_types(args)),
        Command::Events(args) => return context::run(events::run_events(args)),
        Command::Status(out) => return context::run(status::run(out)),
        Command::Migrate(args) => crate::runtime::new().and_then(|rt| rt.block_on(migrate(args))),
        Command::Run(args) => match crate::app::run_cli(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Secrets(args) => secrets::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let url = crate::config::database_url()?;
    crate::runtime::init_tracing(crate::config::LogFormat::Text, "info");
    let (mut client, _conn) = store::connect_one(&url, "herald-migrate", None)
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot connect to {}: {e}", crate::config::redact_url(&url))
        })?;
    let report = store::migrate::run(&mut client).await?;
    if report.changed_nothing() {
        println!("herald migrate: schema is up to date");
    } else {
        for m in &report.applied {
            println!("applied migration {m}");
        }
        for t in &report.triggers_applied {
            println!("applied triggers {t}");
        }
    }
    for (kind, roles) in [
        (store::migrate::Grant::App, &args.grant_app),
        (store::migrate::Grant::Worker, &args.grant_worker),
    ] {
        for role in roles {
            store::migrate::grant(&client, kind, role).await?;
            println!(
                "granted {} rights to {role}",
                format!("{kind:?}").to_lowercase()
            );
        }
    }
    Ok(())
}
