//! Parsing of Herald's environment: defaults, humane durations, and the errors that name the variable.

use std::collections::HashMap;

use super::*;

fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("DATABASE_URL".into())
        .or_insert_with(|| "postgres://localhost/x".into());
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn config_defaults_match_the_spec() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.retry_schedule, RetrySchedule::standard());
    assert_eq!(c.breaker.threshold, 10);
    assert_eq!(c.http_timeout, Duration::from_secs(30));
    assert_eq!(c.lease, Duration::from_secs(300));
    assert_eq!(c.poll_interval, Duration::from_secs(1));
    assert_eq!(c.max_in_flight, 1024);
    assert_eq!(c.max_in_flight_per_webhook, 16);
    assert_eq!(c.retention, Duration::from_secs(7 * 86400));
    assert!(!c.allow_private_targets);
}

#[test]
fn config_bad_values_name_the_variable() {
    let cases = [
        ("HERALD_HTTP_TIMEOUT", "soon"),
        ("HERALD_POLL_INTERVAL", "0s"),
        ("HERALD_RETRY_SCHEDULE", "0,x"),
        ("HERALD_MAX_IN_FLIGHT", "0"),
        ("HERALD_MAX_IN_FLIGHT_PER_WEBHOOK", "many"),
        ("HERALD_BREAKER_THRESHOLD", "-1"),
        ("HERALD_LISTEN", "localhost"),
        ("HERALD_ALLOW_PRIVATE_TARGETS", "maybe"),
        ("HERALD_LOG_FORMAT", "xml"),
        ("HERALD_LEASE", "10s"),
        ("HERALD_CA_FILE", "/nonexistent/ca.pem"),
        ("HERALD_ADMIN_TOKEN", "short"),
    ];
    for (var, value) in cases {
        let err = parse(&[(var, value)])
            .err()
            .unwrap_or_else(|| panic!("{var}={value} accepted"));
        assert_eq!(err.var, var, "{err}");
    }
}

#[test]
fn config_empty_values_are_errors_naming_the_variable() {
    for var in VARIABLES {
        for empty in ["", "  "] {
            let err = parse(&[(var, empty)])
                .err()
                .unwrap_or_else(|| panic!("{var}={empty:?} accepted"));
            assert_eq!(err.var, *var, "{err}");
            assert!(err.to_string().contains("empty"), "{err}");
        }
    }
}

#[test]
fn config_secret_keys_parse_and_never_show() {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let key = STANDARD.encode([9u8; 32]);
    let c = parse(&[("HERALD_SECRET_KEYS", &key)]).unwrap();
    assert_eq!(c.secret_keys.ids().len(), 1);
    assert!(!format!("{c:?}").contains(&key));
    let err = parse(&[("HERALD_SECRET_KEYS", "abc")]).err().unwrap();
    assert_eq!(err.var, "HERALD_SECRET_KEYS");
}

#[test]
fn config_requires_database_url() {
    let err = Config::from_lookup(|_| None).err().unwrap();
    assert_eq!(err.var, "DATABASE_URL");
}

#[test]
fn config_debug_redacts_secrets() {
    let c = parse(&[
        ("DATABASE_URL", "postgres://app:hunter2@db/app"),
        ("HERALD_ADMIN_TOKEN", "super-secret-token-123"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("super-secret-token-123"), "{shown}");
}
