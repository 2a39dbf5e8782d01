//! The verification rules, one refusal at a time, with tokens signed here.

use serde_json::json;

use super::*;
use crate::VerifyError;

#[tokio::test]
async fn a_valid_access_token_and_assertion_verify() {
    let f = Fixture::new();
    let access = f.check_access(&f.access_token()).await;
    assert_eq!(access.unwrap(), f.access_claims());
    let assertion = f
        .verifier
        .verify_assertion(&f.assertion(), "GET", URL)
        .await;
    assert_eq!(assertion.unwrap(), f.assertion_claims());
}

#[tokio::test]
async fn each_kind_refuses_the_others_type() {
    let f = Fixture::new();
    let as_access = f.check_access(&f.assertion()).await;
    assert_eq!(as_access, Err(VerifyError::WrongType));
    // An access token carrying every assertion claim is still not an assertion.
    let mut both = serde_json::to_value(f.access_claims()).unwrap();
    both["cred"] = json!("jwt");
    both["htm"] = json!("GET");
    both["htu"] = json!(URL);
    let access = f.key.sign("at+jwt", &both);
    let as_assertion = f.check_assertion(&access, "GET", URL).await;
    assert_eq!(as_assertion, Err(VerifyError::WrongType));
}

#[tokio::test]
async fn the_access_type_is_compared_as_gatehouse_does() {
    let f = Fixture::new();
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        let token = f.key.sign(typ, &f.access_claims());
        assert!(f.check_access(&token).await.is_ok(), "{typ}");
    }
    for typ in ["JWT", "jwt", "", "at+jwt "] {
        let token = f.key.sign(typ, &f.access_claims());
        let refused = f.check_access(&token).await;
        assert_eq!(refused, Err(VerifyError::WrongType), "{typ:?}");
    }
    let untyped = json!({ "alg": "EdDSA", "kid": "k1" });
    let token = f.key.sign_with_header(&untyped, &f.access_claims());
    let refused = f.check_access(&token).await;
    assert_eq!(refused, Err(VerifyError::WrongType));
}

#[tokio::test]
async fn only_eddsa_is_accepted() {
    let f = Fixture::new();
    let claims = b64(serde_json::to_vec(&f.access_claims()).unwrap());
    for alg in [
        json!("none"),
        json!("None"),
        json!("HS256"),
        json!("ES256"),
        json!(null),
    ] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": "k1" });
        let unsigned = format!("{}.{claims}.", b64(header.to_string()));
        let refused = f.check_access(&unsigned).await;
        assert_eq!(refused, Err(VerifyError::Algorithm), "{alg}");
        // A real Ed25519 signature does not make another `alg` acceptable either.
        let signed = f.key.sign_with_header(&header, &f.access_claims());
        let refused = f.check_access(&signed).await;
        assert_eq!(refused, Err(VerifyError::Algorithm), "{alg}");
    }
}

#[tokio::test]
async fn signatures_and_headers_are_checked() {
    let f = Fixture::new();
    let impostor = TestKey::new("k1", 9);
    let forged = impostor.sign("at+jwt", &f.access_claims());
    let refused = f.check_access(&forged).await;
    assert_eq!(refused, Err(VerifyError::Signature));

    let token = f.access_token();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut raised = f.access_claims();
    raised.scope = "org:admin".into();
    parts[1] = b64(serde_json::to_vec(&raised).unwrap());
    let tampered = parts.join(".");
    let refused = f.check_access(&tampered).await;
    assert_eq!(refused, Err(VerifyError::Signature));

    for extra in ["jwk", "jku", "x5u", "x5c", "crit"] {
        let mut header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": "k1" });
        header[extra] = json!("https://evil.example/keys");
        let token = f.key.sign_with_header(&header, &f.access_claims());
        let refused = f.check_access(&token).await;
        assert_eq!(refused, Err(VerifyError::ForbiddenHeader), "{extra}");
    }

    let no_kid = json!({ "alg": "EdDSA", "typ": "at+jwt" });
    let token = f.key.sign_with_header(&no_kid, &f.access_claims());
    let refused = f.check_access(&token).await;
    assert_eq!(refused, Err(VerifyError::UnknownKey));

    for malformed in ["", "a.b", "a.b.c.d", "!!.??.**", &format!("{token}.x")] {
        let refused = f.check_access(malformed).await;
        assert_eq!(refused, Err(VerifyError::Malformed), "{malformed}");
    }
}

#[tokio::test]
async fn issuer_and_audience_must_match_exactly() {
    let f = Fixture::new();
    let mut claims = f.access_claims();
    claims.iss = "https://auth.example.com/".into();
    let refused = f
        .verifier
        .verify_access_token(&f.key.sign("at+jwt", &claims))
        .await;
    assert_eq!(refused, Err(VerifyError::Issuer));

    let mut claims = f.assertion_claims();
    claims.aud = "gatehouse".into();
    let token = f.key.sign("gatehouse-assertion+jwt", &claims);
    let refused = f.check_assertion(&token, "GET", URL).await;
    assert_eq!(refused, Err(VerifyError::Audience));

    let mut listed = serde_json::to_value(f.access_claims()).unwrap();
    listed["aud"] = json!([AUDIENCE]);
    let refused = f
        .verifier
        .verify_access_token(&f.key.sign("at+jwt", &listed))
        .await;
    assert_eq!(refused, Err(VerifyError::Malformed));
}

#[tokio::test]
async fn expiry_allows_the_leeway_and_no_more() {
    let f = Fixture::new();
    let token = f.assertion();
    let exp = f.assertion_claims().exp;
    f.clock.advance(exp - START + 29);
    assert!(f.check_assertion(&token, "GET", URL).await.is_ok());
    f.clock.advance(1);
    let refused = f.check_assertion(&token, "GET", URL).await;
    assert_eq!(refused, Err(VerifyError::Expired));

    let strict = Fixture::new();
    let strict_verifier = strict
        .verifier
        .clone()
        .with_leeway(std::time::Duration::ZERO);
    let token = strict.assertion();
    strict.clock.advance(59);
    assert!(
        strict_verifier
            .verify_assertion(&token, "GET", URL)
            .await
            .is_ok()
    );
    strict.clock.advance(1);
    let refused = strict_verifier.verify_assertion(&token, "GET", URL).await;
    assert_eq!(refused, Err(VerifyError::Expired));
}

#[tokio::test]
async fn a_token_from_the_future_is_refused_beyond_the_leeway() {
    let f = Fixture::new();
    let mut claims = f.access_claims();
    claims.nbf = START + 30;
    let token = f.key.sign("at+jwt", &claims);
    assert!(f.check_access(&token).await.is_ok());
    claims.nbf = START + 31;
    let token = f.key.sign("at+jwt", &claims);
    let refused = f.check_access(&token).await;
    assert_eq!(refused, Err(VerifyError::NotYetValid));
}

#[tokio::test]
async fn an_assertion_names_its_request() {
    let f = Fixture::new();
    let token = f.assertion();
    for (method, url) in [
        ("GET", "https://app.example.com/api/tasks?page=2"),
        ("GET", "https://app.example.com/api/tasks#top"),
        ("GET", "https://app.example.com/api/tasks?next=/x#y"),
    ] {
        let verified = f.check_assertion(&token, method, url).await;
        assert!(verified.is_ok(), "{url}");
    }
    for url in [
        "https://app.example.com/api/tasks/1",
        "https://app.example.com/api/task",
        "https://app.example.com/api/tasks/",
        "http://app.example.com/api/tasks",
        "https://evil.example.com/api/tasks",
        "https://app.example.com:8443/api/tasks",
    ] {
        let refused = f.check_assertion(&token, "GET", url).await;
        assert_eq!(refused, Err(VerifyError::Url), "{url}");
    }
    for method in ["POST", "get", "HEAD", ""] {
        let refused = f.check_assertion(&token, method, URL).await;
        assert_eq!(refused, Err(VerifyError::Method), "{method}");
    }
}
