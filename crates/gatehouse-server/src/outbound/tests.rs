//! The guarded client against real loopback listeners and a fake DNS server: allowed and
//! refused spellings (nothing connects when refused), redirects re-checked and bounded, the
//! response cap, a name with one loopback answer, and DNS rebinding (one lookup, vetted address).

mod support;

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{FakeDns, Http, ok, path, redirect};

use super::*;

fn settings(allow: &[&str]) -> OutboundSettings {
    OutboundSettings {
        allow: allow.iter().map(|c| c.parse().unwrap()).collect(),
        ..OutboundSettings::default()
    }
}

fn client(allow: &[&str]) -> OutboundClient {
    OutboundClient::new(settings(allow)).unwrap()
}

async fn hello() -> Http {
    Http::start("127.0.0.1:0", |_| Some(ok(b"hello"))).await
}

#[tokio::test]
async fn an_allowed_loopback_listener_is_reached() {
    let http = hello().await;
    let c = client(&["127.0.0.1/32"]);
    let url = format!("http://127.0.0.1:{}/hook", http.port());
    let r = c.get(&url, &[]).await.unwrap();
    assert_eq!(
        (r.status, r.body.as_slice(), r.truncated),
        (200, &b"hello"[..], false)
    );
    let headers = [("x-gatehouse-signature", "t=1,v1=ab".to_owned())];
    let r = c.post(&url, &headers, b"[1,2]".to_vec()).await.unwrap();
    assert_eq!(r.status, 200);
    let last = http.requests().pop().unwrap();
    assert!(last.starts_with("POST /hook "), "{last}");
    assert!(last.contains("x-gatehouse-signature: t=1,v1=ab") && last.ends_with("[1,2]"));
    // Every spelling of the allowed address is that address.
    for host in ["2130706433", "0x7f.1", "[::ffff:127.0.0.1]"] {
        let url = format!("http://{host}:{}/", http.port());
        assert_eq!(c.get(&url, &[]).await.unwrap().status, 200, "{url}");
    }
}

#[tokio::test]
async fn every_spelling_of_loopback_is_refused_without_connecting() {
    let http = hello().await;
    let c = client(&[]);
    let p = http.port();
    for host in [
        "127.0.0.1",
        "2130706433",
        "[::ffff:127.0.0.1]",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "127.0.0.1.",
        "%31%32%37.0.0.1",
        "[::1]",
        "localhost",
    ] {
        let url = format!("http://{host}:{p}/");
        match c.get(&url, &[]).await {
            Err(OutboundError::Blocked(why)) => assert!(why.contains("loopback"), "{url}: {why}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    for url in [
        format!("ftp://127.0.0.1:{p}/"),
        format!("http://user:pw@127.0.0.1:{p}/"),
        "file:///etc/passwd".to_owned(),
    ] {
        assert!(
            matches!(c.get(&url, &[]).await, Err(OutboundError::Blocked(_))),
            "{url}"
        );
    }
    assert_eq!(http.accepted(), 0, "a refused request never connects");
}

#[tokio::test]
async fn a_redirect_to_a_blocked_address_is_refused() {
    // 127.0.0.2 is loopback too, but only 127.0.0.1 is allowed.
    let blocked = Http::start("127.0.0.2:0", |_| Some(ok(b"secret"))).await;
    let b = blocked.port();
    let hops = Http::start("127.0.0.1:0", move |req| {
        Some(match path(req) {
            "/v4" => redirect(&format!("http://127.0.0.2:{b}/")),
            "/mapped" => redirect(&format!("http://[::ffff:7f00:2]:{b}/")),
            "/decimal" => redirect(&format!("http://2130706434:{b}/")),
            "/metadata" => redirect("http://169.254.169.254/latest/meta-data/"),
            "/scheme" => redirect("gopher://127.0.0.1/"),
            _ => ok(b"fine"),
        })
    })
    .await;
    let c = client(&["127.0.0.1/32"]);
    for from in ["/v4", "/mapped", "/decimal", "/metadata", "/scheme"] {
        let url = format!("http://127.0.0.1:{}{from}", hops.port());
        match c.get(&url, &[]).await {
            Err(OutboundError::Blocked(_)) => {}
            other => panic!("{from}: {other:?}"),
        }
    }
    assert_eq!(hops.accepted(), 5);
    assert_eq!(blocked.accepted(), 0);
}

#[tokio::test]
async fn a_client_without_redirects_answers_the_redirect_itself() {
    // The audit webhook's client: a 302 to a GET that would answer 200 must come back as the
    // 302, or a POST whose body was dropped would count as acknowledged.
    let http = Http::start("127.0.0.1:0", |req| {
        Some(match path(req) {
            "/hook" => redirect("/landing"),
            _ => ok(b"landing"),
        })
    })
    .await;
    let c = OutboundClient::new(OutboundSettings {
        follow_redirects: false,
        ..settings(&["127.0.0.1/32"])
    })
    .unwrap();
    let url = format!("http://127.0.0.1:{}/hook", http.port());
    let answer = c.post(&url, &[], b"[]".to_vec()).await.unwrap();
    assert_eq!(answer.status, 302);
    assert_eq!(http.accepted(), 1, "the Location was not followed");
}

#[tokio::test]
async fn at_most_five_redirects_are_followed() {
    // /hop/N redirects to /hop/N+1 until N reaches the limit in the first path segment.
    let http = Http::start("127.0.0.1:0", |req| {
        let mut parts = path(req).trim_start_matches('/').split('/');
        let limit: u32 = parts.next()?.parse().ok()?;
        let n: u32 = parts.next().unwrap_or("0").parse().ok()?;
        Some(if n < limit {
            redirect(&format!("/{limit}/{}", n + 1))
        } else {
            ok(format!("after {n}").as_bytes())
        })
    })
    .await;
    let c = client(&["127.0.0.1/32"]);
    let r = c
        .get(&format!("http://127.0.0.1:{}/5", http.port()), &[])
        .await
        .unwrap();
    assert_eq!(r.body, b"after 5");
    assert_eq!(http.accepted(), 6);
    let e = c
        .get(&format!("http://127.0.0.1:{}/6", http.port()), &[])
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::TooManyRedirects), "{e:?}");
    assert_eq!(http.accepted(), 12, "the sixth redirect is not followed");
}

#[tokio::test]
async fn large_answers_are_cut_at_the_cap() {
    let http = Http::start("127.0.0.1:0", |req| {
        Some(match path(req) {
            "/exact" => ok(&[b'x'; 10]),
            _ => ok(&[b'y'; 100_000]),
        })
    })
    .await;
    let c = OutboundClient::new(OutboundSettings {
        max_response_bytes: 10,
        ..settings(&["127.0.0.1/32"])
    })
    .unwrap();
    let base = format!("http://127.0.0.1:{}", http.port());
    let r = c.get(&format!("{base}/big"), &[]).await.unwrap();
    assert_eq!((r.body, r.truncated), (vec![b'y'; 10], true));
    let r = c.get(&format!("{base}/exact"), &[]).await.unwrap();
    assert_eq!((r.body, r.truncated), (vec![b'x'; 10], false));
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let http = Http::start("127.0.0.1:0", |_| None).await;
    let c = OutboundClient::new(OutboundSettings {
        total_timeout: Duration::from_millis(300),
        ..settings(&["127.0.0.1/32"])
    })
    .unwrap();
    let e = c
        .get(&format!("http://127.0.0.1:{}/", http.port()), &[])
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::Timeout), "{e:?}");
}

#[tokio::test]
async fn https_goes_through_rustls_on_ring() {
    // A server answering plain HTTP at once: the TLS handshake fails, as a network error.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(&ok(b"not tls")).await;
        }
    });
    let c = client(&["127.0.0.1/32"]);
    let e = c
        .get(&format!("https://127.0.0.1:{port}/"), &[])
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::Network(_)), "{e:?}");
}

fn with_dns(dns: &FakeDns, allow: &[&str]) -> OutboundClient {
    OutboundClient::new(OutboundSettings {
        nameserver: Some(dns.addr),
        ..settings(allow)
    })
    .unwrap()
}

#[tokio::test]
async fn a_name_with_one_public_and_one_loopback_address_is_refused() {
    let http = hello().await;
    let public = Ipv4Addr::new(93, 184, 215, 14);
    let dns = FakeDns::start(vec![vec![public, Ipv4Addr::LOCALHOST]]).await;
    let e = with_dns(&dns, &[])
        .get(&format!("http://mixed.test:{}/", http.port()), &[])
        .await
        .unwrap_err();
    match e {
        OutboundError::Blocked(why) => assert!(why.contains("127.0.0.1"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(dns.a_questions(), 1);
    assert_eq!(http.accepted(), 0);
}

#[tokio::test]
async fn a_rebinding_name_is_looked_up_once_and_reached_only_where_vetted() {
    // The name first answers 127.0.0.2 (allowed here), then 127.0.0.1 (not allowed).
    let vetted = Http::start("127.0.0.2:0", |_| Some(ok(b"vetted"))).await;
    let p = vetted.port();
    let rebound = Http::start(&format!("127.0.0.1:{p}"), |_| Some(ok(b"rebound"))).await;
    let dns = FakeDns::start(vec![
        vec![Ipv4Addr::new(127, 0, 0, 2)],
        vec![Ipv4Addr::LOCALHOST],
    ])
    .await;
    let c = with_dns(&dns, &["127.0.0.2/32"]);
    let url = format!("http://rebind.test:{p}/");
    let r = c.get(&url, &[]).await.unwrap();
    assert_eq!(r.body, b"vetted");
    assert_eq!(
        dns.a_questions(),
        1,
        "connecting does not look the name up again"
    );
    let e = c.get(&url, &[]).await.unwrap_err();
    assert!(matches!(e, OutboundError::Blocked(_)), "{e:?}");
    assert_eq!(dns.a_questions(), 2);
    assert_eq!((vetted.accepted(), rebound.accepted()), (1, 0));
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_refusal_is_logged_as_ssrf_blocked_with_the_address() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    // tracing caches each callsite's interest process-wide: a sibling test on a thread with no
    // subscriber would cache "never". A global registry keeps every callsite interested.
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    let dns = FakeDns::start(vec![vec![Ipv4Addr::new(10, 1, 2, 3)]]).await;
    let c = with_dns(&dns, &[]);
    let _ = c.get("http://0xa9fea9fe/latest?token=s3cret", &[]).await;
    let _ = c.get("http://internal.test/?token=s3cret", &[]).await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "ssrf_blocked")
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["fields"]["addr"], "169.254.169.254");
    assert_eq!(lines[0]["fields"]["reason"], "metadata");
    assert_eq!(lines[1]["fields"]["addr"], "10.1.2.3");
    assert_eq!(lines[1]["fields"]["reason"], "private");
    assert!(!text.contains("s3cret"), "no URL in the log: {text}");
}

#[test]
fn the_url_crate_normalises_spellings_and_both_readings_are_checked() {
    // What reqwest's `url` would connect to; the client checks this reading as well as its own.
    for (written, normalised) in [
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://127.0.0.1./", "127.0.0.1"),
        ("http://%31%32%37.0.0.1/", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
    ] {
        let url = reqwest::Url::parse(written).unwrap();
        assert_eq!(url.host_str(), Some(normalised), "{written}");
        let policy = OutboundPolicy::default();
        assert!(guard::check_before_sending(&policy, url.as_str()).is_err());
        assert!(guard::check_before_sending(&policy, written).is_err());
    }
    // Numeric hosts that are no address: the `url` crate refuses them too.
    for written in ["http://1.2.3.4.5/", "http://256.0.0.1/", "http://1.2.3.09/"] {
        assert!(reqwest::Url::parse(written).is_err(), "{written}");
    }
}
