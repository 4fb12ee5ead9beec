//! The route table: every route the API serves, in one place. The router dispatches from
//! it and a test checks that the OpenAPI document describes each entry.

/// What a request asks for, once matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
    ListWebhooks,
    CreateWebhook,
    GetWebhook,
    UpdateWebhook,
    DeleteWebhook,
    RotateSecret,
    ListDeliveries,
    RecoverDeliveries,
    RetryDelivery,
    ListEventTypes,
    RegisterEventType,
    EmitEvent,
    GrantPlatformManager,
    RevokePlatformManager,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// OpenAPI-style template: `{name}` matches one path segment.
    pub path: &'static str,
    pub endpoint: Endpoint,
    /// Whether the bearer token is required (everything but `/healthz`).
    pub auth: bool,
}

const fn route(method: &'static str, path: &'static str, endpoint: Endpoint) -> Route {
    Route {
        method,
        path,
        endpoint,
        auth: true,
    }
}

/// The path of one webhook of a user, followed by `$rest`.
macro_rules! webhook {
    ($rest:literal) => {
        concat!("/v1/users/{user_id}/webhooks/{webhook_id}", $rest)
    };
}

/// A user's platform-manager role.
const PLATFORM_MANAGER: &str = "/v1/users/{user_id}/roles/platform-manager";

use Endpoint::*;

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        endpoint: Healthz,
        auth: false,
    },
    route("GET", "/readyz", Readyz),
    route("GET", "/metrics", Metrics),
    route("GET", "/v1/openapi.json", OpenApi),
    route("GET", "/v1/users/{user_id}/webhooks", ListWebhooks),
    route("POST", "/v1/users/{user_id}/webhooks", CreateWebhook),
    route("GET", webhook!(""), GetWebhook),
    route("PATCH", webhook!(""), UpdateWebhook),
    route("DELETE", webhook!(""), DeleteWebhook),
    route("POST", webhook!("/rotate-secret"), RotateSecret),
    route("GET", webhook!("/deliveries"), ListDeliveries),
    route("POST", webhook!("/recover"), RecoverDeliveries),
    route("POST", "/v1/deliveries/{delivery_id}/retry", RetryDelivery),
    route("GET", "/v1/event-types", ListEventTypes),
    route("POST", "/v1/event-types", RegisterEventType),
    route("POST", "/v1/events", EmitEvent),
    route("PUT", PLATFORM_MANAGER, GrantPlatformManager),
    route("DELETE", PLATFORM_MANAGER, RevokePlatformManager),
];

/// The outcome of looking a request up in [`ROUTES`].
#[derive(Debug)]
pub enum Lookup {
    /// The route and the path parameters, in template order.
    Found(&'static Route, Vec<String>),
    /// The path exists, but not with this method; the methods it has.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

pub fn lookup(method: &str, path: &str) -> Lookup {
    let mut allowed = Vec::new();
    for r in ROUTES {
        if let Some(params) = match_template(r.path, path) {
            if r.method == method || (method == "HEAD" && r.method == "GET") {
                return Lookup::Found(r, params);
            }
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed(allowed)
    }
}

fn match_template(template: &str, path: &str) -> Option<Vec<String>> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut params = Vec::new();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                if ps.is_empty() {
                    return None;
                }
                params.push(ps.to_owned());
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_extracts_parameters_in_order() {
        let Lookup::Found(r, params) = lookup("POST", "/v1/users/u1/webhooks/w1/recover") else {
            panic!("no match");
        };
        assert_eq!(r.endpoint, RecoverDeliveries);
        assert_eq!(params, ["u1", "w1"]);
    }

    #[test]
    fn lookup_tells_wrong_method_from_unknown_path() {
        assert!(matches!(
            lookup("PUT", "/v1/event-types"),
            Lookup::MethodNotAllowed(m) if m == ["GET", "POST"]
        ));
        assert!(matches!(lookup("GET", "/v1/nothing"), Lookup::NotFound));
        assert!(matches!(
            lookup("GET", "/v1/users//webhooks"),
            Lookup::NotFound
        ));
    }
}
