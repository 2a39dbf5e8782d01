//! The outbound client's settings (SPEC §12): `OUTBOUND_ALLOW`, comma-separated CIDRs reachable
//! although a blocked range holds them (e.g. `127.0.0.1/32` in tests), and
//! `OUTBOUND_NAMESERVER`, an `ip:port` DNS server asked instead of the system resolver.

use std::net::SocketAddr;

use super::{ConfigError, bad, list};
use crate::outbound::OutboundSettings;

pub(super) fn parse(
    get: &dyn Fn(&str) -> Option<String>,
    name: &dyn Fn(&str) -> String,
) -> Result<OutboundSettings, ConfigError> {
    let allow = list(get("outbound_allow"))
        .iter()
        .map(|c| {
            c.parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| bad(&name("outbound_allow"), format!("not a CIDR: {c:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nameserver = match get("outbound_nameserver") {
        None => None,
        Some(v) => Some(v.parse::<SocketAddr>().map_err(|_| {
            bad(
                &name("outbound_nameserver"),
                format!("expected ip:port, got {v:?}"),
            )
        })?),
    };
    Ok(OutboundSettings {
        allow,
        nameserver,
        ..OutboundSettings::default()
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};

    fn config(pairs: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_sources(&Overrides::default(), env)
    }

    #[test]
    fn allow_list_and_nameserver() {
        let c = config(&[]).unwrap();
        assert!(c.outbound.allow.is_empty() && c.outbound.nameserver.is_none());
        let c = config(&[
            ("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1/32, 10.0.0.0/8,::1"),
            ("GATEHOUSE_OUTBOUND_NAMESERVER", "127.0.0.1:5353"),
        ])
        .unwrap();
        let allow: Vec<String> = c.outbound.allow.iter().map(|n| n.to_string()).collect();
        assert_eq!(allow, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        assert_eq!(
            c.outbound.nameserver,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        let e = config(&[("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1/32,10.0.0.0/33")]).unwrap_err();
        assert!(
            e.0.starts_with("GATEHOUSE_OUTBOUND_ALLOW") && e.0.contains("10.0.0.0/33"),
            "{e}"
        );
        let e = config(&[("GATEHOUSE_OUTBOUND_NAMESERVER", "127.0.0.1")]).unwrap_err();
        assert!(e.0.starts_with("GATEHOUSE_OUTBOUND_NAMESERVER"), "{e}");
    }
}
