//! The OpenID Connect service's network, through the guarded outbound client (SPEC §12):
//! discovery and JWKS by GET, the token request by POST with HTTP Basic client credentials.
//! Redirects are not followed (a redirected token request must not carry its code elsewhere).

use async_trait::async_trait;
use base64::Engine;
use gatehouse_core::service::oidc::OidcHttp;

use crate::outbound::{OutboundClient, OutboundError};

pub struct GuardedOidcHttp {
    pub client: OutboundClient,
}

fn reason(e: &OutboundError) -> String {
    match e {
        OutboundError::Blocked(_) => "ssrf_blocked".to_owned(),
        OutboundError::Timeout => "timeout".to_owned(),
        OutboundError::Network(_) => "network".to_owned(),
        OutboundError::TooManyRedirects => "redirects".to_owned(),
    }
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

#[async_trait]
impl OidcHttp for GuardedOidcHttp {
    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let answer = self
            .client
            .get(url, &[("accept", "application/json".to_owned())])
            .await
            .map_err(|e| reason(&e))?;
        if answer.status != 200 || answer.truncated {
            return Err(format!("status {}", answer.status));
        }
        serde_json::from_slice(&answer.body).map_err(|_| "not JSON".to_owned())
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: (&str, &str),
    ) -> Result<(u16, serde_json::Value), String> {
        // RFC 6749 2.3.1: the id and secret form-encoded, then Basic.
        let credentials = format!(
            "{}:{}",
            url::form_urlencoded::byte_serialize(basic.0.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(basic.1.as_bytes()).collect::<String>()
        );
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        let answer = self
            .client
            .post(
                url,
                &[
                    (
                        "content-type",
                        "application/x-www-form-urlencoded".to_owned(),
                    ),
                    ("accept", "application/json".to_owned()),
                    ("authorization", authorization),
                ],
                form_encode(form).into_bytes(),
            )
            .await
            .map_err(|e| reason(&e))?;
        let body = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
        Ok((answer.status, body))
    }
}
