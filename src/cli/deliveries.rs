//! `herald deliveries list|retry|recover`: a webhook's delivery log and re-queuing, as the
//! admin API does them.

use std::collections::HashMap;

use clap::Subcommand;
use serde_json::json;

use super::{
    context::{state, uuid, Group, OpError},
    table::{self, opt, Table},
};
use crate::{
    api::{
        deliveries::{self, ListQuery, Page, Recover},
        webhooks,
    },
    store::admin::DeliveryView,
};

pub type DeliveriesArgs = Group<DeliveriesCommand>;

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Deliveries of a user's webhooks (or of one of them), newest first.
    List {
        #[arg(long, value_name = "UUID")]
        user: String,
        #[arg(long, value_name = "UUID")]
        webhook: Option<String>,
        /// pending, delivered, failed or exhausted.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        event_type: Option<String>,
        /// Created at or after this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Created before this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// At most this many (1 to 200, default 50).
        #[arg(long)]
        limit: Option<String>,
        /// Continue from a previous page's `next_cursor` (with --webhook).
        #[arg(long, requires = "webhook")]
        cursor: Option<String>,
    },
    /// Make one delivery due now (an exhausted one gets one more attempt).
    Retry {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Re-queue a webhook's failed and exhausted deliveries created since a time.
    Recover {
        #[arg(long, value_name = "UUID")]
        webhook: String,
        /// RFC 3339, e.g. 2026-01-01T00:00:00Z.
        #[arg(long, value_name = "TIME")]
        since: String,
        /// The webhook's owner (looked up when not given).
        #[arg(long, value_name = "UUID")]
        user: Option<String>,
    },
}

fn table(rows: &[(uuid::Uuid, &DeliveryView)]) -> String {
    let mut t = Table::new(&[
        "ID",
        "WEBHOOK",
        "EVENT TYPE",
        "STATUS",
        "ATTEMPTS",
        "LAST CODE",
        "LAST ERROR",
        "CREATED",
    ]);
    for (webhook, d) in rows {
        t.row(vec![
            d.id.to_string(),
            webhook.to_string(),
            d.event_type.clone(),
            d.status.to_string(),
            d.attempt_count.to_string(),
            opt(d.last_status_code),
            table::cell(d.last_error.as_deref().unwrap_or("-"), 50),
            d.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    t.render()
}

pub async fn run(args: DeliveriesArgs) -> Result<(), OpError> {
    let state = state()?;
    let out = args.output;
    match args.command {
        DeliveriesCommand::List {
            user,
            webhook,
            status,
            event_type,
            since,
            until,
            limit,
            cursor,
        } => {
            let user = uuid("user_id", &user)?;
            let params: HashMap<String, String> = [
                ("status", status),
                ("event_type", event_type),
                ("since", since),
                ("until", until),
                ("limit", limit),
                ("cursor", cursor),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect();
            let query = ListQuery::from_params(&params)?;
            let hooks = match webhook {
                Some(w) => vec![uuid("webhook_id", &w)?],
                None => webhooks::list(&state, user)
                    .await?
                    .into_iter()
                    .map(|w| w.id)
                    .collect(),
            };
            let mut pages: Vec<(uuid::Uuid, Page)> = Vec::new();
            for id in hooks {
                pages.push((id, deliveries::list(&state, user, id, &query).await?));
            }
            // One webhook: the API's page as is. Several: the newest `limit` of them all.
            let mut rows: Vec<(uuid::Uuid, &DeliveryView)> = pages
                .iter()
                .flat_map(|(w, p)| p.data.iter().map(move |d| (*w, d)))
                .collect();
            rows.sort_by_key(|(_, d)| std::cmp::Reverse(d.position()));
            rows.truncate(query.limit.unwrap_or(deliveries::DEFAULT_PAGE) as usize);
            let value = match pages.as_slice() {
                [(_, page)] => json!(page),
                _ => json!({ "data": rows.iter().map(|(_, d)| d).collect::<Vec<_>>() }),
            };
            out.print(&value, || {
                let mut text = table(&rows);
                if let [(_, page)] = pages.as_slice() {
                    if let Some(c) = &page.next_cursor {
                        text += &format!("more: --cursor {c}\n");
                    }
                }
                text
            })
        }
        DeliveriesCommand::Retry { id } => {
            let requeued = deliveries::retry(&state, uuid("delivery_id", &id)?).await?;
            out.print(&requeued, || {
                format!(
                    "delivery {} is due now (status {}, {} attempts so far)\n",
                    requeued.id, requeued.status, requeued.attempt_count
                )
            })
        }
        DeliveriesCommand::Recover {
            webhook,
            since,
            user,
        } => {
            let id = uuid("webhook_id", &webhook)?;
            let user = match user {
                Some(u) => uuid("user_id", &u)?,
                None => webhooks::owner(&state, id).await?,
            };
            let recovered = deliveries::recover(&state, user, id, Recover { since }).await?;
            out.print(&recovered, || {
                format!(
                    "re-queued {} deliveries of webhook {id}\n",
                    recovered.requeued
                )
            })
        }
    }
}
