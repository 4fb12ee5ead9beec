//! Webhook target URLs: their shape, checked when a webhook is created or updated, and again
//! when a delivery is claimed (the row may have been written straight into the table), by
//! [`TargetUrl::parse`].
//!
//! Which *addresses* may be contacted is decided at connect time, after DNS resolution, by
//! [`super::address::forbidden_reason`]: a name that resolves to a private address is refused
//! there, so DNS tricks cannot get around the check.

use std::{fmt, net::IpAddr};

use url::{Host, Url};

/// Longest accepted target URL, in bytes (input and normalised form).
pub const MAX_URL_LEN: usize = 2048;

/// A parsed, normalised `http`/`https` target (IDNA hosts in their ASCII `xn--` form, IPv4
/// written canonically), and the same URL as the request URI the HTTP client sends
/// ([`TargetUrl::uri`]), parsed once with it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TargetUrl {
    url: Url,
    uri: http::Uri,
}

/// Why a URL is not an acceptable target. The texts read well after the field name
/// (`url: must use https ...`); [`UrlError::field`] gives that name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is empty")]
    Empty,
    #[error("is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("is not a valid absolute URL: {0}")]
    Invalid(String),
    #[error("has a host name that is not valid internationalised (IDNA) text")]
    BadHost,
    #[error("must use http or https, not {scheme:?}")]
    UnsupportedScheme { scheme: String },
    #[error("must not contain a user name or password")]
    UserInfo,
    #[error("must have a host")]
    MissingHost,
    #[error("must not have port 0")]
    PortZero,
    #[error("must not have a fragment (the part after #); it is never sent")]
    Fragment,
    #[error("must use https (plain http is not allowed by this server's configuration)")]
    HttpNotAllowed,
}

impl UrlError {
    /// The input field this error is about, for API error bodies.
    pub fn field(&self) -> &'static str {
        "url"
    }
}

impl TargetUrl {
    /// Parses and normalises `s`. `allow_http` permits plain `http` (tests, the demo, or an
    /// explicit configuration); otherwise only `https` is accepted.
    pub fn parse(s: &str, allow_http: bool) -> Result<TargetUrl, UrlError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(UrlError::Empty);
        }
        if s.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong {
                len: s.len(),
                max: MAX_URL_LEN,
            });
        }
        let url = Url::parse(s).map_err(|e| match e {
            url::ParseError::IdnaError => UrlError::BadHost,
            url::ParseError::EmptyHost => UrlError::MissingHost,
            other => UrlError::Invalid(other.to_string()),
        })?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            "http" => return Err(UrlError::HttpNotAllowed),
            other => {
                return Err(UrlError::UnsupportedScheme {
                    scheme: other.to_owned(),
                })
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::UserInfo);
        }
        match url.host() {
            None => return Err(UrlError::MissingHost),
            Some(Host::Domain("")) => return Err(UrlError::MissingHost),
            Some(_) => {}
        }
        if url.port() == Some(0) {
            return Err(UrlError::PortZero);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        let len = url.as_str().len();
        if len > MAX_URL_LEN {
            return Err(UrlError::TooLong {
                len,
                max: MAX_URL_LEN,
            });
        }
        let uri = url
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| UrlError::Invalid(e.to_string()))?;
        Ok(TargetUrl { url, uri })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The normalised URL as a request URI.
    pub fn uri(&self) -> &http::Uri {
        &self.uri
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The host when it is an IP literal (`http://10.0.0.1/`, `http://[::1]/`). Such hosts
    /// are never resolved, so they must be checked against [`forbidden_reason`] directly.
    pub fn host_ip(&self) -> Option<IpAddr> {
        match self.url.host()? {
            Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            Host::Domain(_) => None,
        }
    }

    /// The host as written in the normalised URL (IPv6 without brackets).
    pub fn host_str(&self) -> &str {
        match self.url.host_str() {
            Some(h) => h.trim_start_matches('[').trim_end_matches(']'),
            None => "",
        }
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetUrl({:?})", self.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why `s` is refused (plain `http` not allowed).
    fn refused(s: &str) -> UrlError {
        TargetUrl::parse(s, false).expect_err(s)
    }

    #[test]
    fn parse_accepts_https_and_normalises() {
        let t = TargetUrl::parse("  https://Example.COM/hooks?a=1  ", false).expect("valid");
        assert_eq!(t.as_str(), "https://example.com/hooks?a=1");
        assert_eq!(t.uri().to_string(), t.as_str());
        assert!(t.is_https());
        assert_eq!(t.host_ip(), None);
        assert_eq!(t.host_str(), "example.com");
    }

    #[test]
    fn parse_refuses_plain_http_unless_allowed() {
        assert_eq!(refused("http://example.com/"), UrlError::HttpNotAllowed);
        assert!(TargetUrl::parse("http://example.com/", true).is_ok());
    }

    #[test]
    fn parse_refuses_other_schemes() {
        for (input, scheme) in [
            ("javascript:alert(1)", "javascript"),
            ("file:///etc/passwd", "file"),
            ("ftp://example.com/x", "ftp"),
            ("gopher://example.com/", "gopher"),
            ("data:text/plain,hi", "data"),
        ] {
            assert_eq!(
                TargetUrl::parse(input, true),
                Err(UrlError::UnsupportedScheme {
                    scheme: scheme.into()
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn parse_refuses_user_info() {
        for input in [
            "https://user@example.com/",
            "https://user:pw@example.com/",
            "https://:pw@example.com/",
        ] {
            assert_eq!(refused(input), UrlError::UserInfo, "{input}");
        }
    }

    #[test]
    fn parse_refuses_missing_host_empty_and_relative() {
        assert_eq!(refused(""), UrlError::Empty);
        assert_eq!(refused("   "), UrlError::Empty);
        assert_eq!(refused("https://"), UrlError::MissingHost);
        assert!(matches!(refused("/hooks"), UrlError::Invalid(_)));
        assert!(matches!(refused("example.com/hooks"), UrlError::Invalid(_)));
    }

    #[test]
    fn parse_refuses_overlong_urls() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(refused(&long), UrlError::TooLong { .. }));
        let just = format!(
            "https://example.com/{}",
            "a".repeat(MAX_URL_LEN - "https://example.com/".len())
        );
        assert!(TargetUrl::parse(&just, false).is_ok());
    }

    #[test]
    fn parse_refuses_port_zero_and_fragments() {
        assert_eq!(refused("https://example.com:0/"), UrlError::PortZero);
        assert_eq!(refused("https://example.com/#x"), UrlError::Fragment);
    }

    #[test]
    fn parse_converts_unicode_hosts_to_punycode() {
        let t = TargetUrl::parse("https://bücher.example/", false).expect("idna host");
        assert_eq!(t.as_str(), "https://xn--bcher-kva.example/");
    }

    #[test]
    fn parse_refuses_invalid_idna_hosts() {
        assert_eq!(refused("https://xn--a.example/"), UrlError::BadHost);
    }

    #[test]
    fn parse_exposes_ip_literal_hosts_in_canonical_form() {
        let t = TargetUrl::parse("http://0x7f.1/", true).expect("hex ipv4 parses");
        assert_eq!(t.host_ip(), Some("127.0.0.1".parse().expect("ip")));
        assert_eq!(t.as_str(), "http://127.0.0.1/");
        let t = TargetUrl::parse("http://[::ffff:127.0.0.1]:8080/x", true).expect("v6");
        assert_eq!(t.host_ip(), Some("::ffff:7f00:1".parse().expect("ip")));
        assert_eq!(t.host_str(), "::ffff:7f00:1");
    }

    #[test]
    fn parse_refuses_hosts_that_no_request_can_carry() {
        // The URL standard lets these through; no request URI (and no DNS name) holds them.
        for input in [
            "https://a{b.example/",
            "https://a`b.example/",
            "https://a%7Bb.example/",
        ] {
            assert!(
                matches!(TargetUrl::parse(input, false), Err(UrlError::Invalid(_))),
                "{input}"
            );
        }
        let odd = TargetUrl::parse("https://example.com/a{b}?q={x}|^`", false).expect("valid");
        assert_eq!(odd.uri().to_string(), odd.as_str());
    }

    #[test]
    fn url_error_texts_read_after_the_field_name() {
        let err = TargetUrl::parse("ftp://x/", false).expect_err("ftp refused");
        assert_eq!(err.field(), "url");
        assert_eq!(
            format!("{}: {err}", err.field()),
            "url: must use http or https, not \"ftp\""
        );
    }
}
