//! Which addresses notifications may be sent to.
//!
//! Webhook and Web Push URLs come from users. Left unchecked, they make the
//! server a proxy into its own network: `http://127.0.0.1:…`, the router's admin
//! page, a cloud metadata service. So a target's host is resolved and every
//! address it resolves to must be public, unless the operator allows private
//! ones in the configuration (`[notify]`). The check runs when a URL is
//! registered and again at each send, and the send connects to the very address
//! that was checked, so a name that resolves differently the second time (DNS
//! rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::Uri;

/// A refused or unusable target. The messages are short on purpose: they are
/// shown to users (dead letters) and must not tell them about the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must be an http:// or https:// URL with a host")]
    BadUrl,
    #[error("the host name does not resolve")]
    Unresolved,
    #[error("the address is not allowed (private, loopback or reserved network)")]
    Private,
}

/// A network as `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `"10.1.0.0/16"`, `"fd00::/8"`, or a bare address (one host).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse::<u8>().ok()?
            }
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u32::from(net) as u128,
                u32::from(ip) as u128,
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (a >> shift) == (b >> shift)
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is that IPv4 address.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the operator allows beyond the public internet.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub allow_private: bool,
    pub allow_networks: Vec<Cidr>,
}

impl Policy {
    /// From the `[notify]` configuration; an unreadable network is an error
    /// naming it (the server refuses to start rather than guess).
    pub fn from_config(c: &cunlink_core::NotifyConfig) -> Result<Policy, String> {
        let allow_networks = c
            .allow_networks
            .iter()
            .map(|s| {
                Cidr::parse(s).ok_or_else(|| {
                    format!("notify.allow_networks: '{s}' is not a network like 192.168.1.0/24")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            allow_private: c.allow_private,
            allow_networks,
        })
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip) || self.allow_networks.iter().any(|n| n.contains(ip))
    }

    /// Resolve `url`'s host and check every address; the addresses to connect
    /// to (all of them allowed), with the URL's port.
    pub async fn resolve(&self, url: &str) -> Result<Vec<SocketAddr>, TargetError> {
        let (host, port) = host_port(url)?;
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|_| TargetError::Unresolved)?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(TargetError::Unresolved);
        }
        // One bad address taints the name: which one a later lookup returns
        // first is not ours to choose.
        if addrs.iter().any(|a| !self.allows(a.ip())) {
            return Err(TargetError::Private);
        }
        Ok(addrs)
    }
}

/// Host (without IPv6 brackets) and port of an http(s) URL.
pub fn host_port(url: &str) -> Result<(String, u16), TargetError> {
    if url.len() > 2048 {
        return Err(TargetError::BadUrl);
    }
    let uri: Uri = url.parse().map_err(|_| TargetError::BadUrl)?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(TargetError::BadUrl),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or(TargetError::BadUrl)?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Globally reachable unicast: not loopback, private, link-local, shared,
/// unique-local, unspecified, multicast, documentation, benchmarking or
/// otherwise reserved (IANA special-purpose registries). IPv6 forms that embed
/// an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0 // "this network", 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // ::/96, IPv4-compatible (deprecated) and :: and ::1.
    if s[..6].iter().all(|&x| x == 0) {
        return !(ip.is_unspecified() || ip.is_loopback()) && is_public_v4(embedded_v4(s[6], s[7]));
    }
    match s[0] {
        // NAT64 well-known prefix 64:ff9b::/96: the IPv4 address it reaches.
        0x0064 if s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) => {
            is_public_v4(embedded_v4(s[6], s[7]))
        }
        // 64:ff9b:1::/48, local-use NAT64.
        0x0064 if s[1] == 0xff9b && s[2] == 1 => false,
        // 100::/64 discard-only.
        0x0100 if s[1..4].iter().all(|&x| x == 0) => false,
        // 2001::/23 IETF protocol assignments (Teredo, benchmarking, ORCHID…)
        // and 2001:db8::/32 documentation.
        0x2001 if s[1] < 0x0200 || s[1] == 0x0db8 => false,
        // 6to4: the IPv4 address it tunnels to.
        0x2002 => is_public_v4(embedded_v4(s[1], s[2])),
        // 3fff::/20 documentation.
        0x3fff if s[1] < 0x1000 => false,
        // Unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10,
        // multicast ff00::/8.
        x if x & 0xfe00 == 0xfc00 || x & 0xffc0 == 0xfe80 || x & 0xffc0 == 0xfec0 => false,
        x if x & 0xff00 == 0xff00 => false,
        // Only 2000::/3 is allocated as global unicast.
        x => x & 0xe000 == 0x2000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for s in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn operators_may_allow_networks() {
        let p = Policy {
            allow_private: false,
            allow_networks: vec![
                Cidr::parse("192.168.1.0/24").unwrap(),
                Cidr::parse("fd00:1::/32").unwrap(),
            ],
        };
        assert!(p.allows(ip("192.168.1.20")));
        assert!(p.allows(ip("::ffff:192.168.1.20")));
        assert!(!p.allows(ip("192.168.2.20")));
        assert!(p.allows(ip("fd00:1::5")));
        assert!(!p.allows(ip("fd00:2::5")));
        assert!(!p.allows(ip("127.0.0.1")));
        assert!(
            Policy {
                allow_private: true,
                ..Policy::default()
            }
            .allows(ip("127.0.0.1"))
        );
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(Cidr::parse("10.0.0.7").unwrap().prefix, 32);
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn urls_give_host_and_port() {
        assert_eq!(
            host_port("http://[::1]:8080/x").unwrap(),
            ("::1".into(), 8080)
        );
        assert_eq!(
            host_port("https://example.org/h").unwrap(),
            ("example.org".into(), 443)
        );
        assert_eq!(host_port("ftp://x/y"), Err(TargetError::BadUrl));
        assert_eq!(host_port("http:///nohost"), Err(TargetError::BadUrl));
    }
}
