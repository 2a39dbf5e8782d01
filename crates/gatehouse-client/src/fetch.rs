//! Fetching the JWKS document over HTTP(S) with reqwest on rustls (ring): no redirects, a
//! deadline, and a size cap.

use std::time::Duration;

use reqwest::header::ACCEPT;

use crate::error::SetupError;
use crate::jwks::{FetchFuture, KeySetSource};

/// A key set is a few hundred bytes; anything past this is not gatehouse's.
const MAX_KEY_SET_BYTES: usize = 64 * 1024;
const FETCH_DEADLINE: Duration = Duration::from_secs(10);

/// reqwest is built without a TLS provider of its own; this makes ring the process default
/// unless the application already chose one.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is then in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// `GET <url>` for the key set.
#[derive(Debug, Clone)]
pub struct HttpKeySet {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl HttpKeySet {
    /// gatehouse's JWKS for the issuer (its public URL): `<issuer>/.well-known/jwks.json`.
    pub fn for_issuer(issuer: &str) -> Result<Self, SetupError> {
        Self::new(&format!(
            "{}/.well-known/jwks.json",
            issuer.trim_end_matches('/')
        ))
    }

    /// The key set at `url` (http or https).
    pub fn new(url: &str) -> Result<Self, SetupError> {
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| SetupError(format!("JWKS URL {url:?} is not an http(s) URL")))?;
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_DEADLINE)
            .build()
            .map_err(|e| SetupError(format!("HTTP client: {e}")))?;
        Ok(Self { client, url })
    }

    async fn get(&self) -> Result<Vec<u8>, String> {
        let failed = |e: reqwest::Error| format!("GET {}: {e}", self.url);
        let mut response = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        if !response.status().is_success() {
            return Err(format!("GET {}: status {}", self.url, response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_KEY_SET_BYTES {
                return Err(format!(
                    "GET {}: larger than {MAX_KEY_SET_BYTES} bytes",
                    self.url
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl KeySetSource for HttpKeySet {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(self.get())
    }
}
