//! Who takes part in the demo: the event types, the demo table with its watch, a platform
//! manager with a platform webhook, and users with a healthy, a flaky and a dead webhook, each
//! pointing at its own path of the local [`Receiver`] and registered there with its secret.

use anyhow::{bail, Context};
use uuid::Uuid;

use super::receiver::{Behaviour, Receiver};
use crate::{
    domain::{keyring::KeyRing, scope::Scope, secret::WebhookSecret},
    store::{
        events::{self, Registered},
        webhooks::{self, NewWebhook, Redacted},
        Pool,
    },
};

const SCHEMA: &str = include_str!("sql/schema.sql");
const OTHER_PLATFORM_WEBHOOKS: &str = include_str!("sql/other_platform_webhooks.sql");

/// The event types the demo registers: name, scope, description.
pub const EVENT_TYPES: [(&str, Scope, &str); 3] = [
    (
        "order.created",
        Scope::Own,
        "An order was placed (herald demo)",
    ),
    (
        "batch.completed",
        Scope::Own,
        "A batch moved to completed (herald demo, via herald.watch)",
    ),
    (
        "platform.maintenance",
        Scope::Platform,
        "Planned maintenance (herald demo)",
    ),
];

/// What a demo webhook's endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Healthy,
    Flaky,
    Dead,
    Platform,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Healthy, Role::Flaky, Role::Dead, Role::Platform];

    pub fn name(self) -> &'static str {
        match self {
            Role::Healthy => "healthy",
            Role::Flaky => "flaky",
            Role::Dead => "dead",
            Role::Platform => "platform",
        }
    }

    pub fn path(self) -> String {
        format!("/{}", self.name())
    }

    pub fn behaviour(self) -> Behaviour {
        match self {
            Role::Healthy | Role::Platform => Behaviour::Healthy,
            Role::Flaky => Behaviour::Flaky {
                failures: 2,
                status: 500,
            },
            // 502, not 503: a 503 (like a 429) backs the whole endpoint off, 1 s, 2 s, 4 s, ... while
            // it lasts, which would stretch the breaker's story over half a minute.
            Role::Dead => Behaviour::Dead { status: 502 },
        }
    }

    /// How the endpoint answers, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Healthy | Role::Platform => "204 at once",
            Role::Flaky => "500 twice per message, then 204",
            Role::Dead => "always 502",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DemoWebhook {
    pub id: Uuid,
    pub role: Role,
    pub user_id: Uuid,
}

/// The users and webhooks of one demo run.
#[derive(Debug, Clone)]
pub struct Cast {
    pub webhooks: Vec<DemoWebhook>,
}

impl Cast {
    /// The owner of the webhook with `role`.
    pub fn user(&self, role: Role) -> Uuid {
        self.webhooks
            .iter()
            .find(|w| w.role == role)
            .map(|w| w.user_id)
            .unwrap_or_default()
    }

    pub fn has(&self, role: Role) -> bool {
        self.webhooks.iter().any(|w| w.role == role)
    }

    pub fn webhook_ids(&self) -> Vec<Uuid> {
        self.webhooks.iter().map(|w| w.id).collect()
    }
}

/// How many platform webhooks already exist that a platform event would reach.
pub async fn other_platform_webhooks(pool: &Pool) -> anyhow::Result<i64> {
    Ok(pool
        .get()
        .await?
        .query_one(OTHER_PLATFORM_WEBHOOKS, &[])
        .await?
        .try_get(0)?)
}

/// Registers the event types, creates the demo table and its watch, and one user (with a
/// webhook) per [`Role`]; the platform user is made a platform manager first. Without
/// `with_platform`, there is no platform user or webhook.
pub async fn create(pool: &Pool, receiver: &Receiver, with_platform: bool) -> anyhow::Result<Cast> {
    for (name, scope, description) in EVENT_TYPES {
        match events::register_type(pool, name, scope, Some(description)).await? {
            Registered::Created(_) | Registered::Updated(_) => {}
            Registered::ScopeConflict => bail!(
                "the event type {name} already exists in this database with a scope other \
                 than {scope}; run the demo on another database (or unset DATABASE_URL)"
            ),
        }
    }
    pool.get()
        .await?
        .batch_execute(SCHEMA)
        .await
        .context("creating herald_demo.batches and its watch")?;

    let mut webhooks = Vec::new();
    for role in Role::ALL {
        if role == Role::Platform && !with_platform {
            continue;
        }
        let user_id = Uuid::new_v4();
        let scope = if role == Role::Platform {
            events::grant_manager(pool, user_id).await?;
            Scope::Platform
        } else {
            Scope::Own
        };
        let secret = WebhookSecret::generate()?;
        let path = role.path();
        receiver.add_endpoint(&path, role.behaviour());
        receiver.set_secret(&path, secret.clone());
        let description = format!("herald demo: {} ({})", role.name(), role.describe());
        let secret_text = secret.expose();
        let webhook = webhooks::create(
            pool,
            &KeyRing::none(),
            &NewWebhook {
                user_id,
                url: &receiver.url(&path),
                secret: Redacted(&secret_text),
                signature_scheme: "hmac",
                public_key: None,
                event_types: None,
                description: Some(&description),
                scope,
                enabled: true,
                headers: None,
                ordering: "none",
                rate_limit: None,
            },
        )
        .await
        .with_context(|| format!("creating the {} webhook", role.name()))?;
        webhooks.push(DemoWebhook {
            id: webhook.id,
            role,
            user_id,
        });
    }
    Ok(Cast { webhooks })
}
