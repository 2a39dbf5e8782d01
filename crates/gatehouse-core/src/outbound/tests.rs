//! Unit tests of the SSRF rules: every blocked range, every host spelling, vetting with a fake
//! resolver (mixed public and private answers), the allow-list and scheme refusals.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn every_blocked_range_names_its_reason() {
    let cases = [
        ("0.0.0.0", "unspecified"),
        ("0.255.1.2", "unspecified"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("100.64.0.1", "cgnat"),
        ("100.127.255.254", "cgnat"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("169.254.0.1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("192.0.0.192", "metadata"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "reserved"),
        ("192.0.2.1", "documentation"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "reserved"),
        ("198.19.255.255", "reserved"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link_local"),
        ("febf::1", "link_local"),
        ("fec0::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("fd00:ec2::254", "metadata"),
        ("100::1", "reserved"),
        ("::7f00:1", "reserved"),         // IPv4-compatible ::127.0.0.1
        ("::808:808", "reserved"),        // IPv4-compatible, even of a public address
        ("2001::1", "reserved"),          // Teredo
        ("64:ff9b:1::1", "private"),      // local-use NAT64
        ("::ffff:127.0.0.1", "loopback"), // IPv4-mapped
        ("::ffff:a9fe:a9fe", "metadata"),
        ("::ffff:10.1.1.1", "private"),
        ("64:ff9b::7f00:1", "loopback"), // NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2002:7f00:1::", "loopback"),   // 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"), // 6to4 of 192.168.1.1
        ("4000::1", "reserved"),         // outside global unicast
    ];
    for (addr, reason) in cases {
        assert_eq!(blocked_reason(ip(addr)), Some(reason), "{addr}");
    }
}

#[test]
fn public_addresses_and_range_edges_pass() {
    for addr in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert_eq!(blocked_reason(ip(addr)), None, "{addr}");
    }
}

fn host_of(url: &str) -> Host {
    check_url(url).unwrap_or_else(|e| panic!("{url}: {e}")).host
}

#[test]
fn every_spelling_of_loopback_is_an_address() {
    let loopback = Host::Ip(ip("127.0.0.1"));
    for url in [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://0X7F.0.0.1/",
        "http://0x7f000001/",
        "http://0x7F.1/",
        "http://017700000001/",
        "http://0x7f.0x0.0x0.0x1/",
        "http://127.000.000.001/",
        "http://127.1/",
        "http://127.0.1/",
        "http://127.0.0.1./",
        "http://%31%32%37.0.0.1/",
        "http://0000000000000000177.1/",
    ] {
        assert_eq!(host_of(url), loopback, "{url}");
    }
    for url in [
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]:8080/x",
    ] {
        assert_eq!(host_of(url), Host::Ip(ip("::ffff:127.0.0.1")), "{url}");
        let Host::Ip(addr) = host_of(url) else {
            unreachable!()
        };
        assert_eq!(blocked_reason(addr), Some("loopback"));
    }
    for url in [
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://169.254.43518/",
    ] {
        assert_eq!(host_of(url), Host::Ip(ip("169.254.169.254")), "{url}");
    }
}

#[test]
fn numeric_hosts_that_are_no_address_are_refused() {
    for url in [
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://1.256.0.1/",
        "http://127.16777216/",
        "http://4294967296/",
        "http://0x100000000/",
        "http://1.2.3.09/",
        "http://[::ffff:0177.0.0.1]/",
        "http://[fe80::1%25eth0]/",
        "http://[::1/",
        "http://a..b/",
        "http:///path",
        "http://exa mple.com/",
        "http://ex<ample.com/",
    ] {
        assert!(check_url(url).is_err(), "{url}");
    }
}

#[test]
fn names_are_lowercased_without_trailing_dot() {
    assert_eq!(
        host_of("http://Example.COM./hook"),
        Host::Name("example.com".into())
    );
    assert_eq!(
        host_of("http://1.2.3.example/"),
        Host::Name("1.2.3.example".into())
    );
    // Only a last label that reads as a number makes the host an address (as browsers read it).
    assert_eq!(
        host_of("http://1.2.3.0x1g/"),
        Host::Name("1.2.3.0x1g".into())
    );
    assert_eq!(
        host_of("https://0x7f.example/"),
        Host::Name("0x7f.example".into())
    );
}

#[test]
fn schemes_userinfo_and_ports() {
    for url in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "dict://127.0.0.1:11211/",
    ] {
        assert!(matches!(check_url(url), Err(Refused::Scheme(_))), "{url}");
    }
    for url in [
        "http://user:pw@example.com/",
        "http://example.com@127.0.0.1/",
        "https://@example.com/",
    ] {
        assert_eq!(check_url(url), Err(Refused::Userinfo), "{url}");
    }
    assert!(matches!(check_url("http:/x"), Err(Refused::Malformed(_))));
    assert!(matches!(
        check_url("http://h:99999/"),
        Err(Refused::Malformed(_))
    ));
    assert!(matches!(
        check_url("http://h:8o/"),
        Err(Refused::Malformed(_))
    ));
    let t = check_url("HTTPS://example.com").unwrap();
    assert_eq!((t.https, t.port), (true, 443));
    assert_eq!(check_url("http://example.com:/").unwrap().port, 80);
    assert_eq!(check_url("http://example.com:8080?q").unwrap().port, 8080);
    let t = check_url("http://[::1]:81/").unwrap();
    assert_eq!((t.host, t.port), (Host::Ip(ip("::1")), 81));
    // The authority ends at `\`, as browsers and the `url` crate read it.
    assert_eq!(
        host_of("http://example.com\\@127.0.0.1/"),
        Host::Name("example.com".into())
    );
}

/// Answers from a table; unknown names fail like NXDOMAIN.
struct FakeResolver(HashMap<&'static str, Vec<IpAddr>>);

#[async_trait]
impl Resolve for FakeResolver {
    async fn resolve(&self, name: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN"))
    }
}

fn resolver() -> FakeResolver {
    let table = [
        (
            "public.example",
            vec!["93.184.215.14", "2606:4700::1111", "93.184.215.14"],
        ),
        ("mixed.example", vec!["93.184.215.14", "10.0.0.5"]),
        ("mixed-first.example", vec!["127.0.0.1", "93.184.215.14"]),
        (
            "mixed6.example",
            vec!["2606:4700::1111", "::ffff:169.254.169.254"],
        ),
        ("internal.example", vec!["10.1.2.3"]),
        ("empty.example", vec![]),
    ];
    FakeResolver(
        table
            .into_iter()
            .map(|(n, addrs)| (n, addrs.into_iter().map(ip).collect()))
            .collect(),
    )
}

async fn vet_url(policy: &OutboundPolicy, url: &str) -> Result<Vec<SocketAddr>, Refused> {
    vet(policy, &resolver(), &check_url(url)?).await
}

#[tokio::test]
async fn a_name_with_one_private_address_is_refused() {
    let policy = OutboundPolicy::default();
    let blocked = |addr: &str, reason| {
        Err(Refused::Blocked(Blocked {
            addr: ip(addr),
            reason,
        }))
    };
    assert_eq!(
        vet_url(&policy, "https://mixed.example/").await,
        blocked("10.0.0.5", "private")
    );
    assert_eq!(
        vet_url(&policy, "https://mixed-first.example/").await,
        blocked("127.0.0.1", "loopback")
    );
    assert_eq!(
        vet_url(&policy, "https://mixed6.example/").await,
        blocked("::ffff:169.254.169.254", "metadata")
    );
    let ok = vet_url(&policy, "https://public.example:8443/")
        .await
        .unwrap();
    let want: Vec<SocketAddr> = vec![
        "93.184.215.14:8443".parse().unwrap(),
        "[2606:4700::1111]:8443".parse().unwrap(),
    ];
    assert_eq!(ok, want, "every answer, once, with the URL's port");
}

#[tokio::test]
async fn every_spelling_is_refused_when_vetted() {
    let policy = OutboundPolicy::default();
    for url in [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://127.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://127.0.0.1./",
        "http://[::1]/",
        "http://0/",
        "http://0x0a.1/",
        "http://2852039166/latest/meta-data/",
        "http://[fd00:ec2::254]/",
    ] {
        assert!(
            matches!(vet_url(&policy, url).await, Err(Refused::Blocked(_))),
            "{url}"
        );
    }
}

#[tokio::test]
async fn unresolvable_names_are_refused() {
    let policy = OutboundPolicy::default();
    for url in ["http://empty.example/", "http://nowhere.example/"] {
        assert!(
            matches!(vet_url(&policy, url).await, Err(Refused::Unresolved { .. })),
            "{url}"
        );
    }
}

#[tokio::test]
async fn allowed_networks_win() {
    let policy = OutboundPolicy::new(vec![
        "127.0.0.1/32".parse().unwrap(),
        "10.0.0.0/8".parse().unwrap(),
    ]);
    assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
    assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
    assert_eq!(policy.check(ip("64:ff9b::7f00:1")), Ok(()));
    assert_eq!(
        policy.check(ip("127.0.0.2")).map_err(|b| b.reason),
        Err("loopback")
    );
    assert_eq!(
        policy.check(ip("::1")).map_err(|b| b.reason),
        Err("loopback")
    );
    assert_eq!(
        vet_url(&policy, "http://internal.example:9000/").await,
        Ok(vec!["10.1.2.3:9000".parse().unwrap()])
    );
    assert_eq!(
        vet_url(&policy, "http://0x7f.1:81/").await,
        Ok(vec!["127.0.0.1:81".parse().unwrap()])
    );
    // One blocked answer among allowed ones still refuses the name.
    assert!(vet_url(&policy, "http://mixed6.example/").await.is_err());
}

#[test]
fn blocked_names_its_address_and_reason() {
    let b = OutboundPolicy::default()
        .check(ip("169.254.169.254"))
        .unwrap_err();
    assert_eq!(b.to_string(), "169.254.169.254 is metadata");
    assert_eq!(
        Refused::Blocked(b).to_string(),
        "169.254.169.254 is metadata"
    );
}
