//! The request id and the request span (tower-http's request-id and trace layers): a
//! well-formed incoming `X-Request-Id` is kept, any other is replaced by a UUID v7 from the
//! injected clock and random source; every log line written while the request runs carries
//! the id in its `span`, and the response echoes it.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use gatehouse_core::ambient::Ambient;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnRequest, TraceLayer};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// 1–128 characters of `[A-Za-z0-9._:-]`.
#[must_use]
pub fn well_formed(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
}

/// New ids from the injected [`Ambient`] (the nil UUID if randomness fails, which every
/// credential-minting path then reports on its own).
#[derive(Clone)]
struct AmbientIds(Ambient);

impl MakeRequestId for AmbientIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = self.0.uuid_v7().unwrap_or_default().to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Removes an incoming id that is not [`well_formed`], so a new one is made in its place.
async fn drop_malformed(mut req: Request) -> Request {
    let mut ids = req.headers().get_all(&X_REQUEST_ID).iter();
    let keep = ids.next().is_some_and(|v| well_formed(v.as_bytes())) && ids.next().is_none();
    if !keep {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    req
}

/// The request's id, as [`layer`] left it on the request.
pub fn of(req: &Request) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Wraps `app` (outermost first): malformed ids dropped, the id set, the `request` span, the id
/// copied onto the response (an upstream's own `X-Request-Id` is left as it sent it).
pub fn layer(app: Router, ambient: Ambient) -> Router {
    app.layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get(&X_REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", request_id = %id)
                })
                // The envelope writes the one access line; the layer adds only the span, and at
                // debug (`GATEHOUSE_LOG=info,tower_http=debug`) a line when a request starts being
                // served (a test knows from it that a connection is busy).
                .on_request(DefaultOnRequest::new().level(tracing::Level::DEBUG))
                .on_response(())
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, AmbientIds(ambient)))
        .layer(axum::middleware::map_request(drop_malformed))
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn ids_are_short_plain_tokens() {
        assert!(well_formed(b"abc-123_x.y:z"));
        assert!(well_formed(&[b'a'; 128]));
        assert!(!well_formed(&[b'a'; 129]));
        assert!(!well_formed(b""));
        assert!(!well_formed(b"a b"));
        assert!(!well_formed(b"a\"b"));
    }
}
