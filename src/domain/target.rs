//! Webhook target URLs and the address policy that keeps Herald from being an SSRF proxy.
//!
//! [`TargetUrl::parse`] checks the shape of a URL when a webhook is created or updated (and
//! again before each send). Which *addresses* may be contacted is decided at connect time,
//! after DNS resolution, by [`forbidden_reason`]: a name that resolves to a private address is
//! refused there, so DNS tricks cannot get around the check.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use url::{Host, Url};

/// Longest accepted target URL, in bytes (input and normalised form).
pub const MAX_URL_LEN: usize = 2048;

/// A parsed, normalised `http`/`https` target (IDNA hosts in their ASCII `xn--` form, IPv4
/// written canonically). Send [`TargetUrl::as_str`], not the original input.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TargetUrl {
    url: Url,
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
        Ok(TargetUrl { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.url
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

/// Why Herald must not connect to `ip` unless private targets are allowed, or `None` for an
/// ordinary public address. The text reads after the address: `"127.0.0.1 is loopback"`.
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RULES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 32, "unspecified"),
        ([0, 0, 0, 0], 8, "in 0.0.0.0/8 (\"this network\")"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        (
            [169, 254, 169, 254],
            32,
            "link-local (the cloud metadata address)",
        ),
        ([169, 254, 0, 0], 16, "link-local"),
        ([100, 64, 0, 0], 10, "shared address space (CGNAT)"),
        ([192, 0, 0, 0], 24, "reserved for IETF protocol assignments"),
        ([192, 0, 2, 0], 24, "reserved for documentation"),
        ([198, 51, 100, 0], 24, "reserved for documentation"),
        ([203, 0, 113, 0], 24, "reserved for documentation"),
        ([198, 18, 0, 0], 15, "reserved for benchmarking"),
        ([192, 88, 99, 0], 24, "reserved (6to4 relay anycast)"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([255, 255, 255, 255], 32, "broadcast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    RULES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, reason)| *reason)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

fn embedded_v4(bits: u128) -> Ipv4Addr {
    Ipv4Addr::from((bits & 0xffff_ffff) as u32)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d: judged by the IPv4 address.
    if bits >> 32 == 0xffff || bits >> 32 == 0 {
        return forbidden_v4(embedded_v4(bits));
    }
    // IPv4-translated ::ffff:0:a.b.c.d (SIIT) and NAT64 64:ff9b::/96.
    if bits >> 32 == 0xffff_0000 || in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return forbidden_v4(embedded_v4(bits));
    }
    // 6to4 2002:a.b.c.d::/48: the embedded address is bits 16..48.
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return forbidden_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    const RULES: &[(Ipv6Addr, u32, &str)] = &[
        (
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
            48,
            "reserved (local-use NAT64)",
        ),
        (
            Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
            64,
            "reserved (discard-only)",
        ),
        (
            Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
            32,
            "reserved (Teredo tunnelling)",
        ),
        (
            Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
            48,
            "reserved for benchmarking",
        ),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            "reserved for documentation",
        ),
        (
            Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
            20,
            "reserved for documentation",
        ),
        (
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            "unique local (private)",
        ),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
        (
            Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
            10,
            "site-local (private)",
        ),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
    ];
    if let Some((_, _, reason)) = RULES
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(reason);
    }
    // Everything outside global unicast 2000::/3 (bar NAT64, handled above) is unassigned or
    // special-purpose.
    if !in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return Some("reserved (outside global unicast 2000::/3)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        forbidden_reason(s.parse().expect("test address parses"))
    }

    #[test]
    fn parse_accepts_https_and_normalises() {
        let t = TargetUrl::parse("  https://Example.COM/hooks?a=1  ", false).expect("valid");
        assert_eq!(t.as_str(), "https://example.com/hooks?a=1");
        assert!(t.is_https());
        assert_eq!(t.host_ip(), None);
        assert_eq!(t.host_str(), "example.com");
    }

    #[test]
    fn parse_refuses_plain_http_unless_allowed() {
        assert_eq!(
            TargetUrl::parse("http://example.com/", false),
            Err(UrlError::HttpNotAllowed)
        );
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
            assert_eq!(
                TargetUrl::parse(input, false),
                Err(UrlError::UserInfo),
                "{input}"
            );
        }
    }

    #[test]
    fn parse_refuses_missing_host_empty_and_relative() {
        assert_eq!(TargetUrl::parse("", false), Err(UrlError::Empty));
        assert_eq!(TargetUrl::parse("   ", false), Err(UrlError::Empty));
        assert_eq!(
            TargetUrl::parse("https://", false),
            Err(UrlError::MissingHost)
        );
        assert!(matches!(
            TargetUrl::parse("/hooks", false),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            TargetUrl::parse("example.com/hooks", false),
            Err(UrlError::Invalid(_))
        ));
    }

    #[test]
    fn parse_refuses_overlong_urls() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            TargetUrl::parse(&long, false),
            Err(UrlError::TooLong { .. })
        ));
        let just = format!(
            "https://example.com/{}",
            "a".repeat(MAX_URL_LEN - "https://example.com/".len())
        );
        assert!(TargetUrl::parse(&just, false).is_ok());
    }

    #[test]
    fn parse_refuses_port_zero_and_fragments() {
        assert_eq!(
            TargetUrl::parse("https://example.com:0/", false),
            Err(UrlError::PortZero)
        );
        assert_eq!(
            TargetUrl::parse("https://example.com/#x", false),
            Err(UrlError::Fragment)
        );
    }

    #[test]
    fn parse_converts_unicode_hosts_to_punycode() {
        let t = TargetUrl::parse("https://bücher.example/", false).expect("idna host");
        assert_eq!(t.as_str(), "https://xn--bcher-kva.example/");
    }

    #[test]
    fn parse_refuses_invalid_idna_hosts() {
        assert_eq!(
            TargetUrl::parse("https://xn--a.example/", false),
            Err(UrlError::BadHost)
        );
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
    fn url_error_texts_read_after_the_field_name() {
        let err = TargetUrl::parse("ftp://x/", false).expect_err("ftp refused");
        assert_eq!(err.field(), "url");
        assert_eq!(
            format!("{}: {err}", err.field()),
            "url: must use http or https, not \"ftp\""
        );
    }

    #[test]
    fn forbidden_reason_refuses_special_ipv4_ranges() {
        for (ip, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local (the cloud metadata address)"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "shared address space (CGNAT)"),
            ("100.127.255.255", "shared address space (CGNAT)"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "in 0.0.0.0/8 (\"this network\")"),
            ("255.255.255.255", "broadcast"),
            ("192.0.2.10", "reserved for documentation"),
            ("198.51.100.10", "reserved for documentation"),
            ("203.0.113.10", "reserved for documentation"),
            ("198.18.0.1", "reserved for benchmarking"),
            ("198.19.255.255", "reserved for benchmarking"),
            ("240.0.0.1", "reserved"),
            ("192.0.0.8", "reserved for IETF protocol assignments"),
        ] {
            assert_eq!(reason(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn forbidden_reason_allows_public_ipv4_including_range_neighbours() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "192.169.0.1",
            "11.0.0.1",
            "223.255.255.255",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn forbidden_reason_refuses_special_ipv6_ranges() {
        for (ip, expected) in [
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local (private)"),
            ("fd12:3456::1", "unique local (private)"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local (private)"),
            ("ff02::1", "multicast"),
            ("ff05::2", "multicast"),
            ("2001:db8::1", "reserved for documentation"),
            ("100::1", "reserved (discard-only)"),
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "reserved (Teredo tunnelling)",
            ),
            ("4000::1", "reserved (outside global unicast 2000::/3)"),
        ] {
            assert_eq!(reason(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn forbidden_reason_judges_embedded_ipv4_by_its_address() {
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            (
                "::ffff:169.254.169.254",
                Some("link-local (the cloud metadata address)"),
            ),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("::10.1.2.3", Some("private")),
            ("::8.8.8.8", None),
            ("64:ff9b::127.0.0.1", Some("loopback")),
            ("64:ff9b::192.168.0.1", Some("private")),
            ("64:ff9b::8.8.8.8", None),
            ("::ffff:0:127.0.0.1", Some("loopback")),
            ("2002:7f00:1::", Some("loopback")),
            (
                "2002:a9fe:a9fe::1",
                Some("link-local (the cloud metadata address)"),
            ),
            ("2002:808:808::1", None),
        ] {
            assert_eq!(reason(ip), expected, "{ip}");
        }
    }

    #[test]
    fn forbidden_reason_allows_public_ipv6() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }
}
