//! The address policy that keeps Herald from being an SSRF proxy: which IP addresses a
//! delivery must not connect to unless private targets are allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why Herald must not connect to `ip` unless private targets are allowed, or `None` for an
/// ordinary public address. The text reads after the address: `"127.0.0.1 is loopback"`.
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Whether `ip` and `net`, both `width` bits wide, agree in their first `prefix` bits.
fn same_prefix(ip: u128, net: u128, prefix: u32, width: u32) -> bool {
    prefix == 0 || (ip ^ net) >> (width - prefix) == 0
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let net = Ipv4Addr::from(net);
    same_prefix(u32::from(ip).into(), u32::from(net).into(), prefix, 32)
}

/// Whether `ip` is in the network whose first three 16-bit groups are `net`, the rest zero.
fn in_v6(ip: Ipv6Addr, net: [u16; 3], prefix: u32) -> bool {
    let net = Ipv6Addr::new(net[0], net[1], net[2], 0, 0, 0, 0, 0);
    same_prefix(ip.into(), net.into(), prefix, 128)
}

/// The reason of the first rule (network, prefix length, reason) whose network `holds` the
/// address.
fn first_rule<N: Copy>(
    rules: &[(N, u32, &'static str)],
    holds: impl Fn(N, u32) -> bool,
) -> Option<&'static str> {
    rules
        .iter()
        .find(|(net, prefix, _)| holds(*net, *prefix))
        .map(|(_, _, reason)| *reason)
}

const METADATA: &str = "link-local (the cloud metadata address)";

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RULES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 32, "unspecified"),
        ([0, 0, 0, 0], 8, "in 0.0.0.0/8 (\"this network\")"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        ([169, 254, 169, 254], 32, METADATA),
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
    first_rule(RULES, |net, prefix| in_v4(ip, net, prefix))
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
    if bits >> 32 == 0xffff_0000 || in_v6(ip, [0x64, 0xff9b, 0], 96) {
        return forbidden_v4(embedded_v4(bits));
    }
    // 6to4 2002:a.b.c.d::/48: the embedded address is bits 16..48.
    if in_v6(ip, [0x2002, 0, 0], 16) {
        return forbidden_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    const RULES: &[([u16; 3], u32, &str)] = &[
        ([0x64, 0xff9b, 1], 48, "reserved (local-use NAT64)"),
        ([0x100, 0, 0], 64, "reserved (discard-only)"),
        ([0x2001, 0, 0], 32, "reserved (Teredo tunnelling)"),
        ([0x2001, 2, 0], 48, "reserved for benchmarking"),
        ([0x2001, 0xdb8, 0], 32, "reserved for documentation"),
        ([0x3fff, 0, 0], 20, "reserved for documentation"),
        ([0xfc00, 0, 0], 7, "unique local (private)"),
        ([0xfe80, 0, 0], 10, "link-local"),
        ([0xfec0, 0, 0], 10, "site-local (private)"),
        ([0xff00, 0, 0], 8, "multicast"),
    ];
    if let Some(reason) = first_rule(RULES, |net, prefix| in_v6(ip, net, prefix)) {
        return Some(reason);
    }
    // Everything outside global unicast 2000::/3 (bar NAT64, handled above) is unassigned or
    // special-purpose.
    if !in_v6(ip, [0x2000, 0, 0], 3) {
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
