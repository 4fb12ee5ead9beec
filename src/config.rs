//! Configuration: parsed once at start from the environment into typed values. A bad value
//! is an error that names the variable.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    domain::{duration::parse_duration, keyring::KeyRing, retry::RetrySchedule},
    store::deliveries::BreakerPolicy,
};

/// Every variable `herald run` reads. A variable that is set but empty is an error naming it,
/// never a silent default.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "HERALD_LISTEN",
    "HERALD_ADMIN_TOKEN",
    "HERALD_RETRY_SCHEDULE",
    "HERALD_BREAKER_THRESHOLD",
    "HERALD_BREAKER_COOLDOWN",
    "HERALD_BREAKER_DISABLE_AFTER",
    "HERALD_MAX_RETRY_AFTER",
    "HERALD_HTTP_TIMEOUT",
    "HERALD_CONNECT_TIMEOUT",
    "HERALD_LEASE",
    "HERALD_POLL_INTERVAL",
    "HERALD_MAX_IN_FLIGHT",
    "HERALD_MAX_IN_FLIGHT_PER_WEBHOOK",
    "HERALD_RETENTION",
    "HERALD_SHUTDOWN_GRACE",
    "HERALD_ALLOW_PRIVATE_TARGETS",
    "HERALD_ALLOW_HTTP",
    "HERALD_CA_FILE",
    "HERALD_DB_POOL_SIZE",
    "HERALD_LOG_FORMAT",
    "HERALD_SECRET_KEYS",
];

/// The value of `var` from `get`: `None` when unset, an error naming it when set to nothing
/// (or only spaces).
pub fn non_empty(
    var: &'static str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    match get(var) {
        Some(v) if v.trim().is_empty() => Err(ConfigError {
            var,
            reason: "is set but empty; unset it to use the default, or give a value".into(),
        }),
        other => Ok(other),
    }
}

/// [`non_empty`] on the process environment (a value that is not UTF-8 is an error too).
pub fn env_var(var: &'static str) -> Result<Option<String>, ConfigError> {
    if let Some(raw) = std::env::var_os(var) {
        if raw.to_str().is_none() {
            return Err(ConfigError {
                var,
                reason: "is not valid UTF-8".into(),
            });
        }
    }
    non_empty(var, |k| std::env::var(k).ok())
}

/// `HERALD_HTTP_TIMEOUT` unless set: the total time of one attempt.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// `HERALD_CONNECT_TIMEOUT` unless set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `HERALD_LEASE` unless set.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);
/// `HERALD_MAX_IN_FLIGHT` unless set.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// What a missing `DATABASE_URL` is told.
const DATABASE_URL_NOT_SET: &str =
    "not set; give a PostgreSQL URL like postgres://user@localhost/app";

/// `DATABASE_URL`, when set: how the commands that need only the database read it, and the
/// demo and bench, which start a throwaway server without it. [`Config::from_env`] reads it
/// for `herald run`.
pub fn database_url_opt() -> Result<Option<String>, ConfigError> {
    env_var("DATABASE_URL")
}

/// `DATABASE_URL`, which must be set.
pub fn database_url() -> Result<String, ConfigError> {
    database_url_opt()?.ok_or_else(|| ConfigError {
        var: "DATABASE_URL",
        reason: DATABASE_URL_NOT_SET.into(),
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `herald run` needs, with the defaults README.md documents.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub admin_token: Option<String>,
    pub retry_schedule: RetrySchedule,
    /// `HERALD_BREAKER_THRESHOLD`, `HERALD_BREAKER_COOLDOWN`, `HERALD_BREAKER_DISABLE_AFTER`
    /// and `HERALD_MAX_RETRY_AFTER` (the bound on the wait a 429/503 imposes).
    pub breaker: BreakerPolicy,
    pub http_timeout: Duration,
    pub connect_timeout: Duration,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
    pub retention: Duration,
    pub allow_private_targets: bool,
    pub allow_http: bool,
    pub ca_file: Option<PathBuf>,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    pub pool_size: usize,
    /// `HERALD_SECRET_KEYS`: webhook secrets are stored encrypted with the first key; every
    /// key opens what it sealed. Empty: plaintext storage.
    pub secret_keys: KeyRing,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("retry_schedule", &self.retry_schedule.to_string())
            .field("breaker", &self.breaker)
            .field("http_timeout", &self.http_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("lease", &self.lease)
            .field("poll_interval", &self.poll_interval)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_in_flight_per_webhook", &self.max_in_flight_per_webhook)
            .field("retention", &self.retention)
            .field("allow_private_targets", &self.allow_private_targets)
            .field("allow_http", &self.allow_http)
            .field("ca_file", &self.ca_file)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("log_format", &self.log_format)
            .field("pool_size", &self.pool_size)
            .field("secret_keys", &self.secret_keys.ids())
            .finish()
    }
}

/// Hides the password of a `postgres://user:password@host/db` URL (or `password=` in a
/// key/value connection string).
pub fn redact_url(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url) {
        if parsed.password().is_some() {
            let _ = parsed.set_password(Some("redacted"));
        }
        return parsed.to_string();
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=redacted"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A boolean variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
pub fn parse_flag(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    let v = value.trim().to_ascii_lowercase();
    if ["1", "true", "yes", "on"].contains(&v.as_str()) {
        Ok(true)
    } else if ["0", "false", "no", "off"].contains(&v.as_str()) {
        Ok(false)
    } else {
        Err(ConfigError {
            var,
            reason: format!("{v:?} is not true or false"),
        })
    }
}

impl Config {
    /// Defaults for everything but the database.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_token: None,
            retry_schedule: RetrySchedule::standard(),
            breaker: BreakerPolicy::default(),
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            lease: DEFAULT_LEASE,
            poll_interval: Duration::from_secs(1),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_in_flight_per_webhook: 16,
            retention: Duration::from_secs(7 * 24 * 3600),
            allow_private_targets: false,
            allow_http: false,
            ca_file: None,
            shutdown_grace: Duration::from_secs(30),
            log_format: LogFormat::Text,
            pool_size: 8,
            secret_keys: KeyRing::none(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        for var in VARIABLES {
            env_var(var)?;
        }
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        for var in VARIABLES {
            non_empty(var, &get)?;
        }
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let database_url = get("DATABASE_URL").ok_or_else(|| ConfigError {
            var: "DATABASE_URL",
            reason: DATABASE_URL_NOT_SET.into(),
        })?;
        let mut c = Self::with_database(database_url);
        if let Some(v) = get("HERALD_LISTEN") {
            c.listen = v.trim().parse().map_err(|_| ConfigError {
                var: "HERALD_LISTEN",
                reason: format!("{v:?} is not an address like 127.0.0.1:8080"),
            })?;
        }
        c.admin_token = get("HERALD_ADMIN_TOKEN");
        if let Some(t) = &c.admin_token {
            if t.len() < 16 {
                return Err(ConfigError {
                    var: "HERALD_ADMIN_TOKEN",
                    reason: "too short; use at least 16 characters".into(),
                });
            }
        }
        if let Some(v) = get("HERALD_RETRY_SCHEDULE") {
            c.retry_schedule = v
                .parse()
                .map_err(|e: crate::domain::retry::ScheduleError| ConfigError {
                    var: "HERALD_RETRY_SCHEDULE",
                    reason: e.to_string(),
                })?;
        }
        let duration = |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => parse_duration(&v).map_err(|reason| ConfigError { var, reason }),
            }
        };
        let positive_duration =
            |var: &'static str, default: Duration| positive(var, duration(var, default)?);
        c.http_timeout = positive_duration("HERALD_HTTP_TIMEOUT", c.http_timeout)?;
        c.connect_timeout = positive_duration("HERALD_CONNECT_TIMEOUT", c.connect_timeout)?;
        c.lease = positive_duration("HERALD_LEASE", c.lease)?;
        c.poll_interval = positive_duration("HERALD_POLL_INTERVAL", c.poll_interval)?;
        c.retention = positive_duration("HERALD_RETENTION", c.retention)?;
        c.shutdown_grace = duration("HERALD_SHUTDOWN_GRACE", c.shutdown_grace)?;
        c.breaker.cooldown = positive_duration("HERALD_BREAKER_COOLDOWN", c.breaker.cooldown)?;
        c.breaker.disable_after =
            positive_duration("HERALD_BREAKER_DISABLE_AFTER", c.breaker.disable_after)?;
        c.breaker.max_retry_after =
            positive_duration("HERALD_MAX_RETRY_AFTER", c.breaker.max_retry_after)?;
        let number =
            |var: &'static str, default: usize, max: usize| -> Result<usize, ConfigError> {
                match get(var) {
                    None => Ok(default),
                    Some(v) => match v.trim().parse::<usize>() {
                        Ok(n) if (1..=max).contains(&n) => Ok(n),
                        _ => Err(ConfigError {
                            var,
                            reason: format!("{v:?} is not a whole number between 1 and {max}"),
                        }),
                    },
                }
            };
        c.breaker.threshold = number(
            "HERALD_BREAKER_THRESHOLD",
            c.breaker.threshold as usize,
            1_000_000,
        )? as u32;
        c.max_in_flight = number("HERALD_MAX_IN_FLIGHT", c.max_in_flight, 100_000)?;
        c.max_in_flight_per_webhook = number(
            "HERALD_MAX_IN_FLIGHT_PER_WEBHOOK",
            c.max_in_flight_per_webhook,
            100_000,
        )?;
        c.pool_size = number("HERALD_DB_POOL_SIZE", c.pool_size, 1_000)?;
        let flag = |var: &'static str| -> Result<bool, ConfigError> {
            get(var).map_or(Ok(false), |v| parse_flag(var, &v))
        };
        c.allow_private_targets = flag("HERALD_ALLOW_PRIVATE_TARGETS")?;
        c.allow_http = flag("HERALD_ALLOW_HTTP")?;
        c.ca_file = get("HERALD_CA_FILE").map(PathBuf::from);
        if let Some(path) = &c.ca_file {
            if !path.is_file() {
                return Err(ConfigError {
                    var: "HERALD_CA_FILE",
                    reason: format!("{} is not a readable file", path.display()),
                });
            }
        }
        if let Some(v) = get("HERALD_SECRET_KEYS") {
            c.secret_keys = KeyRing::parse(&v).map_err(|e| ConfigError {
                var: "HERALD_SECRET_KEYS",
                reason: e.to_string(),
            })?;
        }
        c.log_format = match get("HERALD_LOG_FORMAT").map(|v| v.trim().to_ascii_lowercase()) {
            None => LogFormat::Text,
            Some(v) if v == "text" => LogFormat::Text,
            Some(v) if v == "json" => LogFormat::Json,
            Some(v) => {
                return Err(ConfigError {
                    var: "HERALD_LOG_FORMAT",
                    reason: format!("{v:?} is not text or json"),
                })
            }
        };
        if c.lease <= c.http_timeout {
            return Err(ConfigError {
                var: "HERALD_LEASE",
                reason: format!(
                    "the lease ({}) must be longer than HERALD_HTTP_TIMEOUT ({})",
                    humantime::format_duration(c.lease),
                    humantime::format_duration(c.http_timeout)
                ),
            });
        }
        Ok(c)
    }
}

fn positive(var: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(ConfigError {
            var,
            reason: "must be longer than zero".into(),
        });
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
