//! Bodies over the API's limit (SPEC §2, 64 KiB): announced ones are answered `413` after the
//! announced bytes were drained (up to 1 MiB), so a client still sending sees the answer; the
//! limit itself is tower-http's `RequestBodyLimitLayer` in `routes`.

/// Bodies announced larger than this are answered `413` without reading them.
const DRAIN_AT_MOST: usize = 1024 * 1024;

/// A body announced over the limit (but not absurdly) is read and thrown away before the `413`
/// goes out, so a client still sending sees the answer instead of a reset connection.
pub async fn drain_oversized(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let announced = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match announced {
        Some(len) if len > crate::routes::BODY_LIMIT => {
            if len <= DRAIN_AT_MOST {
                let body = req.into_body();
                let drain = axum::body::to_bytes(body, DRAIN_AT_MOST);
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
            }
            let mut r = axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
            r.extensions_mut().insert(crate::error::body_for_status(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            ));
            r
        }
        _ => next.run(req).await,
    }
}
