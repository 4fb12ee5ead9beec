//! `herald webhooks list|create|get|update|delete|rotate-secret`: the admin API's webhook
//! operations on `DATABASE_URL`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::{
    context::{list, state, uuid, Group, OpError},
    table::{self, fields, opt, Table},
};
use crate::{
    api::{
        webhooks::{self, CreateWebhook, PatchWebhook, RotateSecret},
        ApiState,
    },
    store::webhooks::Webhook,
};

pub type WebhooksArgs = Group<WebhooksCommand>;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// A user's webhooks.
    List {
        #[arg(long, value_name = "UUID")]
        user: String,
    },
    /// Create a webhook; prints its signing secret this once.
    Create {
        #[arg(long, value_name = "UUID")]
        user: String,
        #[arg(long)]
        url: String,
        /// `own` or `platform`.
        #[arg(long, default_value = "own")]
        scope: String,
        /// Comma-separated event types (default: every type of the scope).
        #[arg(long, value_name = "a.b,c.d")]
        event_types: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        /// `hmac` (a `whsec_` secret, `v1,` signatures) or `ed25519` (`v1a,` signatures; the
        /// webhook shows its `whpk_` public key).
        #[arg(long, default_value = "hmac")]
        signature_scheme: String,
        /// A custom header sent with every request (repeat for more).
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// `none`, or `fifo`: one delivery at a time, in the order of the events.
        #[arg(long, default_value = "none")]
        ordering: String,
        /// At most this many deliveries per second, across every replica.
        #[arg(long, value_name = "N")]
        rate_limit_per_s: Option<f64>,
        /// How many may start at once after a quiet spell (default: one second's worth).
        #[arg(long, value_name = "N", requires = "rate_limit_per_s")]
        rate_limit_burst: Option<i64>,
    },
    /// One webhook.
    Get(Target),
    /// Change a webhook; absent options keep their value.
    Update {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        url: Option<String>,
        #[arg(long, conflicts_with = "no_description")]
        description: Option<String>,
        /// Remove the description.
        #[arg(long)]
        no_description: bool,
        /// Comma-separated event types (an empty text: none).
        #[arg(long, value_name = "a.b,c.d", conflicts_with = "all_event_types")]
        event_types: Option<String>,
        /// Every event type of the webhook's scope.
        #[arg(long)]
        all_event_types: bool,
        /// Enable (also resets the circuit breaker).
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// Replace the custom headers (repeat for more).
        #[arg(
            long = "header",
            value_name = "NAME=VALUE",
            conflicts_with = "no_headers"
        )]
        headers: Vec<String>,
        /// Remove every custom header.
        #[arg(long)]
        no_headers: bool,
        /// `none`, or `fifo`: one delivery at a time, in the order of the events.
        #[arg(long)]
        ordering: Option<String>,
        /// At most this many deliveries per second, across every replica.
        #[arg(long, value_name = "N", conflicts_with = "no_rate_limit")]
        rate_limit_per_s: Option<f64>,
        /// How many may start at once after a quiet spell.
        #[arg(long, value_name = "N", conflicts_with = "no_rate_limit")]
        rate_limit_burst: Option<i64>,
        /// Remove the rate limit.
        #[arg(long)]
        no_rate_limit: bool,
    },
    /// Delete a webhook with its deliveries and attempts.
    Delete(Target),
    /// New signing secret (printed this once); the old one keeps signing during the grace.
    RotateSecret {
        #[command(flatten)]
        target: Target,
        /// How long the previous secret keeps signing (`24h`, `30m`; at most 30 days).
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct Target {
    /// The webhook.
    #[arg(value_name = "ID")]
    id: String,
    /// Its owner (looked up when not given).
    #[arg(long, value_name = "UUID")]
    user: Option<String>,
}

impl Target {
    async fn resolve(&self, state: &ApiState) -> Result<(uuid::Uuid, uuid::Uuid), OpError> {
        let id = uuid("webhook_id", &self.id)?;
        let user = match &self.user {
            Some(u) => uuid("user_id", u)?,
            None => webhooks::owner(state, id).await?,
        };
        Ok((user, id))
    }
}

/// A column: its header and how a webhook shows in it.
type Column = (&'static str, fn(&Webhook) -> String);

/// The columns of the webhook list; later webhook fields go here too.
const COLUMNS: &[Column] = &[
    ("ID", |w| w.id.to_string()),
    ("URL", |w| table::cell(&w.url, 60)),
    ("SCOPE", |w| w.scope.to_string()),
    ("ENABLED", |w| w.enabled.to_string()),
    ("BREAKER", breaker),
    ("FAILURES", |w| w.consecutive_failures.to_string()),
    ("EVENT TYPES", event_types),
    ("DESCRIPTION", |w| {
        table::cell(w.description.as_deref().unwrap_or("-"), 40)
    }),
];

fn breaker(w: &Webhook) -> String {
    match (w.disabled_at, w.breaker_until) {
        (Some(at), _) => format!("disabled {}", at.format("%Y-%m-%d %H:%M:%S")),
        (None, Some(until)) if w.breaker_state != "closed" => {
            format!("{} until {}", w.breaker_state, until.format("%H:%M:%S"))
        }
        _ => w.breaker_state.clone(),
    }
}

/// `--header NAME=VALUE` options as the API's `headers` object.
fn header_options(options: &[String]) -> Result<serde_json::Value, OpError> {
    let mut map = serde_json::Map::new();
    for option in options {
        let Some((name, value)) = option.split_once('=') else {
            return Err(crate::api::error::ApiError::bad_request(
                "headers",
                format!("--header {option:?}: give NAME=VALUE"),
            )
            .into());
        };
        map.insert(name.trim().to_owned(), value.into());
    }
    Ok(serde_json::Value::Object(map))
}

fn event_types(w: &Webhook) -> String {
    match &w.event_types {
        None => "(all)".to_owned(),
        Some(t) if t.is_empty() => "(none)".to_owned(),
        Some(t) => t.join(","),
    }
}

fn rate_limit(w: &Webhook) -> String {
    match (w.rate_limit_per_s, w.rate_limit_burst) {
        (None, _) => "-".to_owned(),
        (Some(r), Some(b)) => format!("{r}/s, burst {b}"),
        (Some(r), None) => format!("{r}/s, burst {} (one second's worth)", r.ceil()),
    }
}

fn webhook_fields(w: &Webhook, extra: &[(&str, String)]) -> String {
    let mut pairs: Vec<(&str, String)> = COLUMNS.iter().map(|(h, f)| (*h, f(w))).collect();
    pairs.push(("USER", w.user_id.to_string()));
    pairs.push(("DISABLED AT", opt(w.disabled_at)));
    pairs.push(("HEADERS", w.headers.to_string()));
    pairs.push(("ORDERING", w.ordering.clone()));
    pairs.push(("RATE LIMIT", rate_limit(w)));
    pairs.push(("PREVIOUS SECRET UNTIL", opt(w.previous_secret_expires_at)));
    pairs.push(("CREATED", w.created_at.to_string()));
    pairs.push(("UPDATED", w.updated_at.to_string()));
    pairs.extend(extra.iter().cloned());
    fields(&pairs)
}

pub async fn run(args: WebhooksArgs) -> Result<(), OpError> {
    let state = state()?;
    let out = args.output;
    match args.command {
        WebhooksCommand::List { user } => {
            let list = webhooks::list(&state, uuid("user_id", &user)?).await?;
            out.print(&json!({ "data": list }), || {
                let mut t = Table::new(&COLUMNS.iter().map(|(h, _)| *h).collect::<Vec<_>>());
                for w in &list {
                    t.row(COLUMNS.iter().map(|(_, f)| f(w)).collect());
                }
                t.render()
            })
        }
        WebhooksCommand::Create {
            user,
            url,
            scope,
            event_types,
            description,
            disabled,
            signature_scheme,
            headers,
            ordering,
            rate_limit_per_s,
            rate_limit_burst,
        } => {
            let req = CreateWebhook {
                url,
                event_types: event_types.as_deref().map(list),
                description,
                scope,
                enabled: !disabled,
                signature_scheme,
                headers: if headers.is_empty() {
                    None
                } else {
                    Some(header_options(&headers)?)
                },
                ordering,
                rate_limit_per_s,
                rate_limit_burst,
            };
            let created = webhooks::create(&state, uuid("user_id", &user)?, req).await?;
            out.print(&created, || {
                webhook_fields(
                    &created.webhook,
                    &created
                        .secret
                        .as_ref()
                        .map(|s| ("SECRET", format!("{s} (shown this once)")))
                        .into_iter()
                        .collect::<Vec<_>>(),
                )
            })
        }
        WebhooksCommand::Get(target) => {
            let (user, id) = target.resolve(&state).await?;
            let w = webhooks::get(&state, user, id).await?;
            out.print(&w, || webhook_fields(&w, &[]))
        }
        WebhooksCommand::Update {
            target,
            url,
            description,
            no_description,
            event_types,
            all_event_types,
            enable,
            disable,
            headers,
            no_headers,
            ordering,
            rate_limit_per_s,
            rate_limit_burst,
            no_rate_limit,
        } => {
            let (user, id) = target.resolve(&state).await?;
            let req = PatchWebhook {
                url: url.map(Some),
                description: if no_description {
                    Some(None)
                } else {
                    description.map(Some)
                },
                event_types: if all_event_types {
                    Some(None)
                } else {
                    event_types.as_deref().map(|t| Some(list(t)))
                },
                enabled: (enable || disable).then_some(Some(enable)),
                headers: if no_headers {
                    Some(None)
                } else if headers.is_empty() {
                    None
                } else {
                    Some(Some(header_options(&headers)?))
                },
                ordering: ordering.map(Some),
                rate_limit_per_s: if no_rate_limit {
                    Some(None)
                } else {
                    rate_limit_per_s.map(Some)
                },
                rate_limit_burst: rate_limit_burst.map(Some),
            };
            let w = webhooks::update(&state, user, id, req).await?;
            out.print(&w, || webhook_fields(&w, &[]))
        }
        WebhooksCommand::Delete(target) => {
            let (user, id) = target.resolve(&state).await?;
            webhooks::delete(&state, user, id).await?;
            out.print(&json!({ "deleted": id }), || {
                format!("deleted webhook {id}\n")
            })
        }
        WebhooksCommand::RotateSecret { target, grace } => {
            let (user, id) = target.resolve(&state).await?;
            let grace_seconds = grace
                .map(|g| {
                    crate::domain::duration::parse_duration(&g)
                        .map(|d| d.as_secs())
                        .map_err(|e| OpError(format!("grace: {e}")))
                })
                .transpose()?;
            let rotated =
                webhooks::rotate_secret(&state, user, id, RotateSecret { grace_seconds }).await?;
            out.print(&rotated, || {
                let mut pairs = vec![("ID", rotated.id.to_string())];
                if let Some(s) = &rotated.secret {
                    pairs.push(("SECRET", format!("{s} (shown this once)")));
                }
                if let Some(k) = &rotated.public_key {
                    pairs.push(("PUBLIC KEY", k.clone()));
                }
                pairs.push((
                    "PREVIOUS SECRET UNTIL",
                    opt(rotated.previous_secret_expires_at),
                ));
                fields(&pairs)
            })
        }
    }
}
