//! `herald event-types list|register` and `herald events emit`, as the admin API does them.

use clap::Subcommand;
use serde_json::json;

use super::{
    context::{state, Group, OpError},
    table::{self, Table},
};
use crate::api::{
    events::{self, EmitEvent, RegisterEventType},
    request,
};

pub type EventTypesArgs = Group<EventTypesCommand>;

#[derive(Debug, Subcommand)]
pub enum EventTypesCommand {
    /// Every registered event type.
    List,
    /// Register an event type (again: updates its description; its scope cannot change).
    Register {
        /// Dot-separated words of [a-zA-Z0-9_], e.g. order.created.
        name: String,
        /// `own` or `platform`.
        #[arg(long)]
        scope: String,
        #[arg(long)]
        description: Option<String>,
    },
}

pub type EventsArgs = Group<EventsCommand>;

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Emit one event (validated and fanned out like `herald.emit`).
    Emit {
        /// A registered event type.
        #[arg(value_name = "TYPE")]
        event_type: String,
        /// The owner (required for `own` events).
        #[arg(long, value_name = "UUID")]
        user: Option<String>,
        /// What the event is about (makes delivery idempotent per webhook).
        #[arg(long, value_name = "UUID")]
        resource: Option<String>,
        /// The event's data: a JSON object.
        #[arg(long, value_name = "JSON")]
        data: String,
    },
}

pub async fn run_types(args: EventTypesArgs) -> Result<(), OpError> {
    let state = state()?;
    let out = args.output;
    match args.command {
        EventTypesCommand::List => {
            let types = events::list_types(&state).await?;
            out.print(&json!({ "data": types }), || {
                let mut t = Table::new(&["NAME", "SCOPE", "DESCRIPTION"]);
                for e in &types {
                    t.row(vec![
                        e.name.clone(),
                        e.scope.to_string(),
                        table::cell(e.description.as_deref().unwrap_or("-"), 60),
                    ]);
                }
                t.render()
            })
        }
        EventTypesCommand::Register {
            name,
            scope,
            description,
        } => {
            let req = RegisterEventType {
                name,
                scope,
                description,
            };
            let r = events::register_type(&state, req).await?;
            out.print(&r.event_type, || {
                let verb = if r.created { "registered" } else { "updated" };
                format!(
                    "{verb} event type {} ({})\n",
                    r.event_type.name, r.event_type.scope
                )
            })
        }
    }
}

pub async fn run_events(args: EventsArgs) -> Result<(), OpError> {
    let out = args.output;
    match args.command {
        EventsCommand::Emit {
            event_type,
            user,
            resource,
            data,
        } => {
            let data: serde_json::Value =
                serde_json::from_str(&data).map_err(|e| OpError(format!("data: not JSON: {e}")))?;
            // The API's parser, so NUL and type checks name the same fields.
            let req: EmitEvent = request::json_value(json!({
                "event_type": event_type,
                "user_id": user,
                "resource_id": resource,
                "data": data,
            }))?;
            let state = state()?;
            let emitted = events::emit(&state, req).await?;
            out.print(&emitted, || format!("emitted event {}\n", emitted.id))
        }
    }
}
