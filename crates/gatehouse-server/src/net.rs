//! Client addresses: CIDR ranges, the client IP behind trusted proxies, and the key one client
//! is counted under (an IPv6 client by its network prefix, since one host usually holds a /64).

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv6Net};

/// An IP network, `10.0.0.0/8` or `::1/128` (a bare address is a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl FromStr for Cidr {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.parse::<IpNet>() {
            Ok(net) => Ok(Self(net)),
            Err(_) if !s.contains('/') => {
                s.parse::<IpAddr>().map(|a| Self(a.into())).map_err(|_| ())
            }
            Err(_) => Err(()),
        }
    }
}

impl Cidr {
    /// True for `0.0.0.0/0` and `::/0`: every address.
    #[must_use]
    pub fn is_everything(&self) -> bool {
        self.0.prefix_len() == 0
    }

    /// Whether `ip` (IPv4-mapped IPv6 counted as IPv4) lies in this network.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }
}

/// IPv4-mapped IPv6 addresses are treated as the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The peer, unless it is a trusted proxy: then the right-most `X-Forwarded-For` entry that is
/// not itself trusted (unparseable entries end the walk at the last good address).
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let entries = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    return client;
                }
            }
            Err(_) => return client,
        }
    }
    client
}

/// The IPv6 prefix length a client is counted by unless configured
/// (`GATEHOUSE_RATE_LIMIT_IPV6_PREFIX`).
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The key one client is counted under: an IPv4 address as itself, an IPv6 address by its
/// network of `v6_prefix` bits (`2001:db8:1:2::/64`), so the addresses of one host's /64 share
/// one budget. IPv4-mapped IPv6 addresses count as the IPv4 address.
#[must_use]
pub fn client_bucket(ip: IpAddr, v6_prefix: u8) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match Ipv6Net::new(v6, v6_prefix.min(128)) {
            Ok(net) => net.trunc().to_string(),
            Err(_) => v6.to_string(),
        },
    }
}

/// Whether a request comes from this host itself and not through a proxy: the TCP peer is a
/// loopback address, is not a configured proxy, and the request carries no forwarding header.
/// Only the peer address counts, never a forwarded one (SPEC §1: `/metrics`).
#[must_use]
pub fn is_local_peer(peer: IpAddr, forwarded: bool, trusted: &[Cidr]) -> bool {
    let peer = canonical(peer);
    peer.is_loopback() && !forwarded && !trusted.iter().any(|c| c.contains(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_matching() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")) && !net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        assert!("::1".parse::<Cidr>().unwrap().contains(ip("::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_peers() {
        let trusted = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        assert_eq!(
            client_ip(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                &["1.2.3.4, 198.51.100.7, 10.0.0.2"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), &[], &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_count_by_prefix() {
        assert_eq!(client_bucket(ip("203.0.113.9"), 64), "203.0.113.9");
        assert_eq!(client_bucket(ip("::ffff:203.0.113.9"), 64), "203.0.113.9");
        assert_eq!(
            client_bucket(ip("2001:db8:1:2:aaaa::1"), 64),
            client_bucket(ip("2001:db8:1:2:ffff:1:2:3"), 64)
        );
        assert_eq!(
            client_bucket(ip("2001:db8:1:2::1"), 64),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            client_bucket(ip("2001:db8:1:2::1"), 64),
            client_bucket(ip("2001:db8:1:3::1"), 64)
        );
        assert_eq!(client_bucket(ip("2001:db8:1:2::1"), 48), "2001:db8:1::/48");
        assert_eq!(client_bucket(ip("2001:db8::1"), 128), "2001:db8::1/128");
        assert_eq!(client_bucket(ip("2001:db8::1"), 0), "::/0");
    }

    #[test]
    fn local_peer_is_the_tcp_peer_alone() {
        let proxy: Vec<Cidr> = vec!["127.0.0.1/32".parse().unwrap()];
        assert!(is_local_peer(ip("127.0.0.1"), false, &[]));
        assert!(is_local_peer(ip("::1"), false, &[]));
        assert!(!is_local_peer(ip("127.0.0.1"), true, &[]), "forwarded");
        assert!(!is_local_peer(ip("127.0.0.1"), false, &proxy), "a proxy");
        assert!(!is_local_peer(ip("203.0.113.9"), false, &[]));
    }
}
