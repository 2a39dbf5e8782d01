//! A URL's host read the way browsers and `inet_aton` read it: every IPv4 spelling (decimal
//! `2130706433`, octal `0177.0.0.1`, hex `0x7f.0.0.1`, short `127.1`), bracketed IPv6, percent
//! escapes and a trailing dot — so no spelling of a blocked address passes as a "name".

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a URL's host names: an address, or a DNS name (lowercase, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Reads a URL host (`authority` without userinfo and port). The error says why it is no host.
pub fn parse_host(raw: &str) -> Result<Host, &'static str> {
    if raw.is_empty() {
        return Err("empty host");
    }
    if let Some(inner) = raw.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unclosed [")?;
        if inner.contains('%') {
            return Err("IPv6 zone identifiers are not allowed");
        }
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| Host::Ip(IpAddr::V6(ip)))
            .map_err(|_| "not an IPv6 address");
    }
    let decoded = percent_decode(raw)?.to_lowercase();
    if decoded.is_empty() {
        return Err("empty host");
    }
    if let Some(ip) = parse_ipv4(&decoded)? {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    let name = decoded.strip_suffix('.').unwrap_or(&decoded);
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return Err("empty label in host");
    }
    let allowed = |c: char| c.is_alphanumeric() || c == '-' || c == '_' || c == '.';
    if !name.chars().all(allowed) || name.len() > 253 {
        return Err("not a host name");
    }
    Ok(Host::Name(name.to_owned()))
}

/// `%xx` escapes decoded (a URL host may spell `127.0.0.1` as `%31%32%37.0.0.1`).
fn percent_decode(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("bad % escape")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "bad % escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad % escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "host is not UTF-8")
}

/// The WHATWG IPv4 parser: `None` when the host is a name; an error when the host ends in a
/// number but is no valid address (`1.2.3.4.5`, `256.0.0.1`), which browsers refuse too.
pub fn parse_ipv4(host: &str) -> Result<Option<Ipv4Addr>, &'static str> {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let Some(last) = parts.last() else {
        return Ok(None);
    };
    let all_digits = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    if !all_digits && number(last).is_none() {
        return Ok(None);
    }
    if parts.len() > 4 {
        return Err("too many parts for an IPv4 address");
    }
    let numbers = parts
        .iter()
        .map(|p| number(p))
        .collect::<Option<Vec<u64>>>()
        .ok_or("not an IPv4 address")?;
    let (last, init) = numbers.split_last().ok_or("not an IPv4 address")?;
    if init.iter().any(|n| *n > 255) {
        return Err("IPv4 part over 255");
    }
    let room = 8 * (5 - numbers.len() as u32);
    if *last >= 1u64 << room {
        return Err("IPv4 address out of range");
    }
    let mut value = *last;
    for (i, n) in init.iter().enumerate() {
        value += n << (8 * (3 - i as u32));
    }
    u32::try_from(value)
        .map(|v| Some(Ipv4Addr::from(v)))
        .map_err(|_| "IPv4 address out of range")
}

/// One IPv4 part: `0x…` hex, `0…` octal, else decimal (`0x` alone is 0, as browsers read it).
fn number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return (radix != 10).then_some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Long runs of leading zeros are legal; anything past u32 is out of range anyway.
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 12 {
        return Some(u64::MAX);
    }
    Some(u64::from_str_radix(trimmed, radix).unwrap_or(0))
}
