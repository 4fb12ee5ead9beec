//! What one HTTP attempt came to, as data: failures are never `Err`.

use std::{error::Error as StdError, io, time::Duration};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::{
    domain::target::UrlError,
    http::guard::{Refused, ResolveError},
};

/// The result of one attempt. Invariant: `error.is_none() == success()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    /// The response status, when a response arrived.
    pub status_code: Option<u16>,
    /// Why the attempt failed, in words fit for `last_error` (`None` on 2xx).
    pub error: Option<String>,
    /// The start of the response body (lossy UTF-8, at most `max_response_excerpt` bytes).
    pub response_excerpt: Option<String>,
    /// `Retry-After` of a 429 or 503 response; unbounded here (the caller caps it).
    pub retry_after: Option<Duration>,
    /// The endpoint answered `410 Gone`: the webhook should be disabled.
    pub gone: bool,
    /// Herald refused to send it (its own configuration or the stored webhook is at fault:
    /// a plain `http://` URL without `HERALD_ALLOW_HTTP`, a secret it cannot open). Nothing is
    /// known about the endpoint, so the circuit breaker does not count it.
    pub not_sent: bool,
}

impl AttemptOutcome {
    /// A 2xx response.
    pub fn success(&self) -> bool {
        matches!(self.status_code, Some(200..=299))
    }

    /// A failed attempt that never reached the network (say, a malformed stored secret).
    pub fn not_sent(error: impl Into<String>) -> Self {
        Self {
            not_sent: true,
            ..Self::failed(Utc::now(), Duration::ZERO, error.into())
        }
    }

    /// A delivery whose stored URL does not parse (written straight into the table): it fails
    /// like an attempt that got no response, without reaching the network.
    pub fn invalid_url(e: &UrlError) -> Self {
        Self::failed(
            Utc::now(),
            Duration::ZERO,
            format!("invalid target URL: {} {e}", e.field()),
        )
    }

    /// An attempt that got no response.
    pub(crate) fn failed(started_at: DateTime<Utc>, duration: Duration, error: String) -> Self {
        Self {
            started_at,
            duration,
            status_code: None,
            error: Some(error),
            response_excerpt: None,
            retry_after: None,
            gone: false,
            not_sent: false,
        }
    }

    /// An attempt that got a response with `status`.
    pub(crate) fn answered(
        started_at: DateTime<Utc>,
        duration: Duration,
        response: Answered,
    ) -> Self {
        let Answered {
            status,
            reason,
            location,
            retry_after,
            excerpt,
        } = response;
        let error = match status {
            200..=299 => None,
            300..=399 => Some(format!(
                "redirect {status} not followed (location: {})",
                location.as_deref().unwrap_or("none")
            )),
            _ => Some(match reason {
                Some(reason) => format!("HTTP {status} {reason}"),
                None => format!("HTTP {status}"),
            }),
        };
        Self {
            started_at,
            duration,
            status_code: Some(status),
            error,
            response_excerpt: excerpt,
            retry_after: if matches!(status, 429 | 503) {
                retry_after
            } else {
                None
            },
            gone: status == 410,
            not_sent: false,
        }
    }
}

/// The parts of a response the outcome keeps.
#[derive(Debug, Default)]
pub(crate) struct Answered {
    pub status: u16,
    pub reason: Option<&'static str>,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub excerpt: Option<String>,
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 or
/// asctime). A date in the past gives zero. `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate rather than fail.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
                .iter()
                .find_map(|fmt| NaiveDateTime::parse_from_str(value, fmt).ok())
                .map(|naive| naive.and_utc())
        })?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// `30s`, `300ms`, `1m 30s`.
pub(crate) fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The causes of `err`, outermost first. `io::Error` hides its payload from `source()` (it
/// returns the payload's source), so its payload is followed with `get_ref()` instead.
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
        if out.len() > 16 {
            break;
        }
    }
    out
}

/// Words for a failed request (no response), from the most telling error in its chain.
pub(crate) fn describe_error(
    err: &(dyn StdError + 'static),
    is_connect: bool,
    connect_timeout: Duration,
) -> String {
    let chain = chain(err);
    for e in &chain {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        if let Some(resolve) = e.downcast_ref::<ResolveError>() {
            return resolve.to_string();
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return format!("TLS: {tls}");
        }
    }
    for e in &chain {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            let text = match io.kind() {
                io::ErrorKind::TimedOut if is_connect => {
                    format!("connect timeout after {}", human(connect_timeout))
                }
                io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                io::ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
                io::ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
                io::ErrorKind::BrokenPipe => {
                    "connection closed while sending the request".to_owned()
                }
                io::ErrorKind::UnexpectedEof if is_connect => {
                    "connection closed during the TLS handshake".to_owned()
                }
                _ => continue,
            };
            return text;
        }
    }
    for e in &chain {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return format!("invalid HTTP response: {h}");
            }
            if h.is_incomplete_message() {
                return "connection closed before a response was received".to_owned();
            }
        }
    }
    // Fallback: every distinct message in the chain.
    let mut parts: Vec<String> = Vec::new();
    for e in chain {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::target::TargetUrl;

    #[test]
    fn invalid_url_fails_the_attempt_naming_the_field() {
        let e = TargetUrl::parse("javascript:alert(1)", true).expect_err("not http");
        let o = AttemptOutcome::invalid_url(&e);
        assert_eq!(
            o.error.as_deref(),
            Some("invalid target URL: url must use http or https, not \"javascript\"")
        );
        assert!(!o.success() && !o.not_sent && o.status_code.is_none());
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn answered(status: u16) -> Answered {
        Answered {
            status,
            ..Answered::default()
        }
    }

    #[test]
    fn parse_retry_after_reads_delta_seconds() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
    }

    #[test]
    fn parse_retry_after_reads_http_dates_in_all_three_formats() {
        for value in [
            "Wed, 21 Oct 2015 07:29:00 GMT",
            "Wednesday, 21-Oct-15 07:29:00 GMT",
            "Wed Oct 21 07:29:00 2015",
        ] {
            assert_eq!(
                parse_retry_after(value, now()),
                Some(Duration::from_secs(60)),
                "{value}"
            );
        }
    }

    #[test]
    fn parse_retry_after_gives_zero_for_past_dates_and_none_for_garbage() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        for bad in ["", "soon", "-5", "1.5", "12 seconds"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
    }

    #[test]
    fn outcome_is_success_only_on_2xx_and_error_is_set_otherwise() {
        for status in [200, 201, 204, 299] {
            let o = AttemptOutcome::answered(now(), Duration::ZERO, answered(status));
            assert!(o.success());
            assert_eq!(o.error, None);
        }
        for status in [100, 301, 400, 404, 500, 503] {
            let o = AttemptOutcome::answered(now(), Duration::ZERO, answered(status));
            assert!(!o.success(), "{status}");
            assert!(o.error.is_some(), "{status}");
        }
    }

    #[test]
    fn outcome_names_the_redirect_location() {
        let o = AttemptOutcome::answered(
            now(),
            Duration::ZERO,
            Answered {
                status: 301,
                location: Some("http://169.254.169.254/".into()),
                ..Answered::default()
            },
        );
        assert_eq!(
            o.error.as_deref(),
            Some("redirect 301 not followed (location: http://169.254.169.254/)")
        );
    }

    #[test]
    fn outcome_keeps_retry_after_only_on_429_and_503() {
        for (status, kept) in [(429, true), (503, true), (500, false), (200, false)] {
            let o = AttemptOutcome::answered(
                now(),
                Duration::ZERO,
                Answered {
                    status,
                    retry_after: Some(Duration::from_secs(7)),
                    ..Answered::default()
                },
            );
            assert_eq!(o.retry_after.is_some(), kept, "{status}");
        }
    }

    #[test]
    fn outcome_flags_410_as_gone() {
        assert!(AttemptOutcome::answered(now(), Duration::ZERO, answered(410)).gone);
        assert!(!AttemptOutcome::answered(now(), Duration::ZERO, answered(404)).gone);
    }

    #[test]
    fn describe_error_finds_tls_errors_inside_nested_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = io::Error::new(io::ErrorKind::InvalidData, tls);
        let outer = io::Error::other(inner);
        assert_eq!(
            describe_error(&outer, true, Duration::from_secs(10)),
            "TLS: invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn describe_error_names_connect_timeouts() {
        let err = io::Error::new(io::ErrorKind::TimedOut, "deadline has elapsed");
        assert_eq!(
            describe_error(&err, true, Duration::from_secs(10)),
            "connect timeout after 10s"
        );
    }
}
