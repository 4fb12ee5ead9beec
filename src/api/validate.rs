//! Input checks of the admin API that the database does not make, each refusal naming its
//! field.
//!
use super::error::ApiError;
use crate::domain::{scope::Scope, target::TargetUrl};
use crate::store::webhooks::RateLimit;

/// Longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

/// A target URL as `domain::target::TargetUrl` accepts it: `http` or `https` only, a host,
/// no user-info, at most 2048 bytes, and `https` unless plain http is allowed.
/// Returns the normalised URL that is stored.
pub fn validate_url(raw: &str, allow_http: bool) -> Result<String, ApiError> {
    TargetUrl::parse(raw, allow_http)
        .map(|u| u.as_str().to_owned())
        .map_err(|e| ApiError::bad_request(e.field(), e.to_string()))
}

/// `own` or `platform`.
pub fn validate_scope(field: &str, scope: &str) -> Result<Scope, ApiError> {
    scope.parse().map_err(|_| {
        ApiError::bad_request(
            field,
            format!("scope must be \"own\" or \"platform\", not {scope:?}"),
        )
    })
}

/// `none` (the default) or `fifo`: one delivery at a time, in the events' order.
pub fn validate_ordering(ordering: &str) -> Result<(), ApiError> {
    if ["none", "fifo"].contains(&ordering) {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "ordering",
        format!("ordering must be \"none\" or \"fifo\", not {ordering:?}"),
    ))
}

/// Dot-separated words of `[a-zA-Z0-9_]`, at most 255 bytes (the `event_type_name_format`
/// check).
pub fn validate_event_type_name(field: &str, name: &str) -> Result<(), ApiError> {
    let word_ok =
        |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if name.len() <= 255 && name.split('.').all(word_ok) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            field,
            format!("{name:?} is not an event type name: dot-separated words of [a-zA-Z0-9_]"),
        ))
    }
}

pub fn validate_description(description: Option<&str>) -> Result<(), ApiError> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => Err(ApiError::bad_request(
            "description",
            format!("description: longer than {MAX_DESCRIPTION_LEN} characters"),
        )),
        _ => Ok(()),
    }
}

/// Bounds of a rate limit (the `webhook_rate_limit_range` and `webhook_rate_limit_burst_range`
/// checks).
pub const MIN_RATE_PER_S: f64 = 0.000_001;
pub const MAX_RATE_PER_S: f64 = 1_000_000.0;
pub const MAX_BURST: i64 = 1_000_000;

/// A rate limit per second: greater than 0 (at least [`MIN_RATE_PER_S`]), at most
/// [`MAX_RATE_PER_S`]; its burst a whole number from 1 to [`MAX_BURST`], and only with a rate.
pub fn validate_rate_limit(
    per_s: Option<f64>,
    burst: Option<i64>,
) -> Result<Option<RateLimit>, ApiError> {
    if let Some(b) = burst {
        if !(1..=MAX_BURST).contains(&b) {
            return Err(ApiError::bad_request(
                "rate_limit_burst",
                format!("rate_limit_burst must be from 1 to {MAX_BURST}, not {b}"),
            ));
        }
    }
    let Some(per_s) = per_s else {
        return match burst {
            Some(_) => Err(ApiError::bad_request(
                "rate_limit_burst",
                "rate_limit_burst needs rate_limit_per_s",
            )),
            None => Ok(None),
        };
    };
    if !(MIN_RATE_PER_S..=MAX_RATE_PER_S).contains(&per_s) {
        return Err(ApiError::bad_request(
            "rate_limit_per_s",
            format!(
                "rate_limit_per_s must be greater than 0 (at least {MIN_RATE_PER_S}) and at most \
                 {MAX_RATE_PER_S}, not {per_s}"
            ),
        ));
    }
    Ok(Some(RateLimit {
        per_s,
        burst: burst.map(|b| b as i32),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::target::MAX_URL_LEN;

    #[test]
    fn validate_url_accepts_https_and_refuses_the_rest() {
        assert!(validate_url("https://example.com/hook", false).is_ok());
        assert!(validate_url("http://example.com/hook", true).is_ok());
        for bad in [
            "http://example.com/hook",
            "ftp://example.com/x",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "not a url",
            "file:///etc/passwd",
        ] {
            let err = validate_url(bad, false).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("url"), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(validate_url(&long, false).is_err());
    }

    #[test]
    fn validate_event_type_name_follows_the_registry_format() {
        for good in ["batch.completed", "a", "A_1.b_2.c"] {
            assert!(validate_event_type_name("name", good).is_ok(), "{good}");
        }
        for bad in ["", ".a", "a.", "a..b", "a-b", "a b", "ä"] {
            assert!(validate_event_type_name("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_ordering_and_scope_name_the_field_and_the_choices() {
        assert!(validate_ordering("none").is_ok());
        assert!(validate_ordering("fifo").is_ok());
        let err = validate_ordering("lifo").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("ordering"));
        assert!(
            err.message.contains(r#""none" or "fifo""#),
            "{}",
            err.message
        );
        let err = validate_scope("scope", "global").unwrap_err();
        assert_eq!(
            err.message,
            r#"scope must be "own" or "platform", not "global""#
        );
    }

    #[test]
    fn validate_rate_limit_names_the_field_it_refuses() {
        let ok = validate_rate_limit(Some(20.0), Some(5)).unwrap();
        assert_eq!(
            ok,
            Some(RateLimit {
                per_s: 20.0,
                burst: Some(5)
            })
        );
        assert_eq!(validate_rate_limit(None, None).unwrap(), None);
        assert_eq!(
            validate_rate_limit(Some(0.5), None).unwrap().unwrap().burst,
            None
        );
        for (per_s, burst, field) in [
            (Some(0.0), None, "rate_limit_per_s"),
            (Some(-1.0), None, "rate_limit_per_s"),
            (Some(2e6), None, "rate_limit_per_s"),
            (Some(20.0), Some(0), "rate_limit_burst"),
            (Some(20.0), Some(-3), "rate_limit_burst"),
            (None, Some(5), "rate_limit_burst"),
        ] {
            let err = validate_rate_limit(per_s, burst).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{per_s:?} {burst:?}");
        }
    }
}
