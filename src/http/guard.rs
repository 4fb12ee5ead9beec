//! The SSRF guard: a DNS resolver that drops forbidden addresses, and a connector wrapper that
//! checks IP-literal hosts (which `HttpConnector` never hands to the resolver).
//!
//! The check happens on the addresses that will actually be dialled, after resolution, so a
//! public name that resolves to `10.0.0.1` is refused, and there is no window between the check
//! and the connect for DNS rebinding.

use std::{
    error::Error as StdError,
    fmt,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
};

use http::Uri;
use hyper_util::client::legacy::connect::{dns::Name, HttpConnector};
use tower_service::Service;

use crate::domain::address::forbidden_reason;

type BoxError = Box<dyn StdError + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A connection refused by the address policy. Its text is what ends up in `last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The host name when the address came from DNS; `None` for IP-literal URLs.
    pub host: Option<String>,
    pub ip: IpAddr,
    pub reason: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused: ")?;
        if let Some(host) = &self.host {
            write!(f, "{host} resolves only to forbidden addresses; ")?;
        }
        write!(
            f,
            "{} is {} (set HERALD_ALLOW_PRIVATE_TARGETS=true to allow)",
            self.ip, self.reason
        )
    }
}

impl StdError for Refused {}

/// Why a host name gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("DNS: could not resolve {host}: {source}")]
    Lookup { host: String, source: io::Error },
    #[error("DNS: {host} has no addresses")]
    NoAddresses { host: String },
    #[error(transparent)]
    Refused(#[from] Refused),
}

/// Keeps the allowed addresses; if none is left, names the first refused one.
pub fn filter_addrs(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    if addrs.is_empty() {
        return Err(ResolveError::NoAddresses {
            host: host.to_owned(),
        });
    }
    if allow_private {
        return Ok(addrs);
    }
    let mut first_refused = None;
    let mut allowed = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match forbidden_reason(addr.ip()) {
            None => allowed.push(addr),
            Some(reason) => {
                tracing::debug!(host, ip = %addr.ip(), reason, "dropped a forbidden address");
                first_refused.get_or_insert(Refused {
                    host: Some(host.to_owned()),
                    ip: addr.ip(),
                    reason,
                });
            }
        }
    }
    match (allowed.is_empty(), first_refused) {
        (true, Some(refused)) => Err(refused.into()),
        _ => Ok(allowed),
    }
}

/// Resolves with the system resolver (`tokio::net::lookup_host`) and filters the result
/// through [`filter_addrs`].
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

impl Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = BoxFuture<Result<Self::Response, ResolveError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|source| ResolveError::Lookup {
                    host: host.to_owned(),
                    source,
                })?
                .collect();
            filter_addrs(host, addrs, allow_private).map(Vec::into_iter)
        })
    }
}

/// The IP address of an IP-literal URI host (`127.0.0.1`, `[::1]`).
pub fn literal_ip(uri: &Uri) -> Option<IpAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// `HttpConnector` with the guarded resolver, plus the IP-literal check it would skip.
#[derive(Debug, Clone)]
pub struct GuardedConnector {
    inner: HttpConnector<GuardedResolver>,
    allow_private: bool,
}

impl GuardedConnector {
    pub fn new(inner: HttpConnector<GuardedResolver>, allow_private: bool) -> Self {
        Self {
            inner,
            allow_private,
        }
    }
}

impl Service<Uri> for GuardedConnector {
    type Response = <HttpConnector<GuardedResolver> as Service<Uri>>::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if !self.allow_private {
            if let Some(ip) = literal_ip(&uri) {
                if let Some(reason) = forbidden_reason(ip) {
                    let refused = Refused {
                        host: None,
                        ip,
                        reason,
                    };
                    return Box::pin(async move { Err(refused.into()) });
                }
            }
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn filter_addrs_keeps_public_and_drops_forbidden() {
        let got = filter_addrs(
            "example.com",
            vec![sa("10.0.0.1:0"), sa("93.184.216.34:0")],
            false,
        )
        .expect("one public address");
        assert_eq!(got, vec![sa("93.184.216.34:0")]);
    }

    #[test]
    fn filter_addrs_names_the_address_when_all_are_forbidden() {
        let err = filter_addrs("localhost", vec![sa("127.0.0.1:0"), sa("[::1]:0")], false)
            .expect_err("all loopback");
        assert_eq!(
            err.to_string(),
            "refused: localhost resolves only to forbidden addresses; 127.0.0.1 is loopback \
             (set HERALD_ALLOW_PRIVATE_TARGETS=true to allow)"
        );
    }

    #[test]
    fn filter_addrs_keeps_everything_when_private_targets_are_allowed() {
        let addrs = vec![sa("127.0.0.1:0"), sa("[::1]:0")];
        assert_eq!(
            filter_addrs("localhost", addrs.clone(), true).expect("allowed"),
            addrs
        );
    }

    #[test]
    fn literal_ip_reads_v4_and_bracketed_v6_hosts() {
        let uri = |s: &str| s.parse::<Uri>().expect("uri");
        assert_eq!(
            literal_ip(&uri("http://127.0.0.1:8080/x")),
            Some("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(
            literal_ip(&uri("http://[::ffff:127.0.0.1]/")),
            Some("::ffff:127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(literal_ip(&uri("https://example.com/")), None);
    }
}
