//! Which IP addresses an outbound request may never reach (SPEC §12): loopback, private,
//! link-local, CGNAT, multicast, unspecified, documentation, cloud metadata and reserved ranges,
//! with IPv4 embedded in IPv6 (mapped, NAT64, 6to4) judged as the IPv4 it carries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is refused, or `None` when it is an ordinary public address.
#[must_use]
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// `addr` lies in `net/len` (IPv4).
fn in4(addr: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(addr) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// `addr` lies in `net/len` (IPv6).
fn in6(addr: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    u128::from(addr) & mask == u128::from(net) & mask
}

/// IPv4 ranges, most specific first (metadata addresses sit inside link-local and CGNAT).
const V4: &[([u8; 4], u32, &str)] = &[
    ([169, 254, 169, 254], 32, "metadata"), // AWS, GCP, Azure, OpenStack, …
    ([100, 100, 100, 200], 32, "metadata"), // Alibaba Cloud
    ([192, 0, 0, 192], 32, "metadata"),     // Oracle Cloud
    ([255, 255, 255, 255], 32, "broadcast"),
    ([0, 0, 0, 0], 8, "unspecified"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "cgnat"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link_local"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "reserved"), // IETF protocol assignments
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "reserved"), // 6to4 relay anycast
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "reserved"), // benchmarking
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    V4.iter()
        .find(|(net, len, _)| in4(ip, *net, *len))
        .map(|(_, _, why)| *why)
}

const fn v6(segments: [u16; 8]) -> Ipv6Addr {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Addr::new(a, b, c, d, e, f, g, h)
}

/// IPv6 ranges that are refused outright, most specific first.
const V6: &[(Ipv6Addr, u32, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0]), 128, "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1]), 128, "loopback"),
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]), 128, "metadata"), // AWS IMDS over IPv6
    (v6([0, 0, 0, 0, 0, 0, 0, 0]), 96, "reserved"),               // IPv4-compatible (deprecated)
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48, "private"),        // local-use NAT64
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0]), 64, "reserved"),           // discard-only
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32, "documentation"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]), 20, "documentation"),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 23, "reserved"), // IETF assignments, Teredo
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7, "private"),   // unique local
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10, "link_local"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0]), 10, "private"), // site-local (deprecated)
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0]), 8, "multicast"),
];

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    if let Some((_, _, why)) = V6.iter().find(|(net, len, _)| in6(ip, *net, *len)) {
        return Some(why);
    }
    // Everything outside global unicast (2000::/3) is unassigned or special.
    (!in6(ip, v6([0x2000, 0, 0, 0, 0, 0, 0, 0]), 3)).then_some("reserved")
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::/48`.
#[must_use]
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let mapped = in6(ip, v6([0, 0, 0, 0, 0, 0xffff, 0, 0]), 96);
    let nat64 = in6(ip, v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96);
    if mapped || nat64 {
        Some(low32)
    } else if in6(ip, v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16) {
        Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32))
    } else {
        None
    }
}
