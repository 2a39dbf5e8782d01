//! Unit tests of configuration parsing.
use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn durations_and_rates() {
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
    assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
    assert!(
        parse_duration("10").is_err()
            && parse_duration("0s").is_err()
            && parse_duration("-1m").is_err()
    );
    assert_eq!(
        parse_rate("10/15m"),
        Ok(Rate {
            count: 10,
            per: Duration::from_secs(900)
        })
    );
    assert!(parse_rate("10").is_err() && parse_rate("0/1m").is_err());
}

#[test]
fn defaults_and_precedence() {
    let c = Config::from_sources(&Overrides::default(), env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://gatehouse.db");
    assert!(!c.signup_open);
    assert_eq!(
        c.lockout,
        Rate {
            count: 5,
            per: Duration::from_secs(900)
        }
    );
    let flags = Overrides {
        config_file: None,
        values: vec![("listen", "127.0.0.1:9000".into())],
    };
    let c = Config::from_sources(&flags, env(&[("GATEHOUSE_LISTEN", "127.0.0.1:7000")])).unwrap();
    assert_eq!(c.listen.port(), 9000);
}

#[test]
fn unknown_settings_are_errors() {
    let e = Config::from_sources(&Overrides::default(), env(&[("GATEHOUSE_SINGUP", "open")]))
        .unwrap_err();
    assert!(e.0.contains("GATEHOUSE_SINGUP"));
}

#[test]
fn production_problems_name_settings() {
    let c = Config::from_sources(
        &Overrides::default(),
        env(&[
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_ALLOWED_ORIGINS", "*"),
        ]),
    )
    .unwrap();
    let p = c.production_problems().join("\n");
    assert!(
        p.contains("GATEHOUSE_SECRET")
            && p.contains("GATEHOUSE_ALLOWED_ORIGINS")
            && p.contains("GATEHOUSE_PUBLIC_URL")
    );
}
