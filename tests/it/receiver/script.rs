//! The script a [`super::TestReceiver`] answers from: replies, behaviours, routes.

use std::{collections::HashMap, time::Duration};

use bytes::Bytes;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long (after recording the request) before answering.
    pub delay: Duration,
    /// Never answer (the connection stays open until the client gives up).
    pub hang: bool,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            hang: false,
        }
    }

    /// `204 No Content`, the default.
    pub fn ok() -> Self {
        Self::status(204)
    }

    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::ok()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// How a route answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Every request gets this reply.
    Always(Reply),
    /// The k-th request on the route gets `replies[k]`; the last reply repeats.
    Sequence(Vec<Reply>),
    /// The k-th request carrying the same `webhook-id` gets `replies[k]`; the last repeats.
    PerWebhookId(Vec<Reply>),
    /// The first request of every `n`-th distinct `webhook-id` on the route gets `failure`;
    /// every other request gets `success`.
    EveryNthIdFailsOnce {
        n: usize,
        failure: Reply,
        success: Reply,
    },
}

impl Behaviour {
    pub fn status(status: u16) -> Self {
        Self::Always(Reply::status(status))
    }

    pub fn reply(reply: Reply) -> Self {
        Self::Always(reply)
    }

    pub fn hang() -> Self {
        Self::Always(Reply::hang())
    }

    /// Each message fails `n` times with `status`, then gets 204.
    pub fn fail_first_per_id(n: usize, status: u16) -> Self {
        let mut replies = vec![Reply::status(status); n];
        replies.push(Reply::ok());
        Self::PerWebhookId(replies)
    }
}

/// Where a behaviour applies: every path, or one path (query ignored). A path's own
/// behaviour wins over `All`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    All,
    Path(String),
}

impl From<&str> for Route {
    fn from(path: &str) -> Self {
        Route::Path(path.to_owned())
    }
}

#[derive(Default)]
pub(super) struct Script {
    pub(super) behaviours: HashMap<Route, Behaviour>,
    pub(super) seen_by_route: HashMap<Route, usize>,
    pub(super) seen_by_id: HashMap<(Route, String), usize>,
}

impl Script {
    pub(super) fn next_reply(&mut self, path: &str, webhook_id: Option<&str>) -> Reply {
        let route = Route::Path(path.to_owned());
        let route = if self.behaviours.contains_key(&route) {
            route
        } else {
            Route::All
        };
        let Some(behaviour) = self.behaviours.get(&route) else {
            return Reply::ok();
        };
        let pick = |replies: &[Reply], k: usize| {
            replies
                .get(k)
                .or_else(|| replies.last())
                .cloned()
                .unwrap_or_else(Reply::ok)
        };
        match behaviour {
            Behaviour::Always(reply) => reply.clone(),
            Behaviour::Sequence(replies) => {
                let seen = self.seen_by_route.entry(route).or_default();
                *seen += 1;
                pick(replies, *seen - 1)
            }
            Behaviour::PerWebhookId(replies) => {
                let key = (route, webhook_id.unwrap_or_default().to_owned());
                let seen = self.seen_by_id.entry(key).or_default();
                *seen += 1;
                pick(replies, *seen - 1)
            }
            Behaviour::EveryNthIdFailsOnce {
                n,
                failure,
                success,
            } => {
                let key = (route.clone(), webhook_id.unwrap_or_default().to_owned());
                let seen = self.seen_by_id.entry(key).or_default();
                *seen += 1;
                if *seen > 1 {
                    return success.clone();
                }
                // seen_by_route counts the distinct ids here.
                let distinct = self.seen_by_route.entry(route).or_default();
                *distinct += 1;
                if *distinct % (*n).max(1) == 0 {
                    failure.clone()
                } else {
                    success.clone()
                }
            }
        }
    }
}
