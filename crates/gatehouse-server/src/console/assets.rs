//! The console's two static files, compiled into the binary and served under content-hashed
//! names (`/console/static/console.<hash>.css`) with a year of caching: a new build with new
//! content gets a new name, so a browser never runs a stale script.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &[u8] = include_bytes!("../../console/static/console.css");
const JS: &[u8] = include_bytes!("../../console/static/console.js");

/// One asset: its hashed URL, its bytes, its content type.
struct Asset {
    url: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

fn hashed(stem: &str, ext: &str, bytes: &'static [u8], content_type: &'static str) -> Asset {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        url: format!("/console/static/{stem}.{hex}.{ext}"),
        bytes,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        hashed("console", "css", CSS, "text/css; charset=utf-8"),
        hashed("console", "js", JS, "text/javascript; charset=utf-8"),
    ]
});

#[must_use]
pub fn css_url() -> &'static str {
    &ASSETS[0].url
}

#[must_use]
pub fn js_url() -> &'static str {
    &ASSETS[1].url
}

/// `GET /console/static/{file}`: only the current hashed names exist.
pub async fn serve(Path(file): Path<String>) -> Response {
    let wanted = format!("/console/static/{file}");
    let Some(asset) = ASSETS.iter().find(|a| a.url == wanted) else {
        return crate::error::ApiError(gatehouse_core::Error::NotFound).into_response();
    };
    let mut response = (StatusCode::OK, asset.bytes).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
