//! A JSON body extractor whose rejections use the API's error envelope.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, body_for_status};

/// `Json<T>` that answers `415` for a wrong content type, `413` past the body limit and
/// `400 invalid_request` for malformed JSON or wrong fields.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

/// A JSON request body kept as text (content type and body limit checked as for [`Json`]), for
/// handlers that must see what a parser would round, such as big numbers; [`JsonText::parse`]
/// then gives the same rejections as [`Json`].
pub struct JsonText(pub String);

impl<S> FromRequest<S> for JsonText
where
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(status_only(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| status_only(r.status()))?;
        String::from_utf8(bytes.to_vec())
            .map(JsonText)
            .map_err(|_| {
                ApiError(gatehouse_core::Error::InvalidRequest(
                    "malformed JSON".into(),
                ))
                .into_response()
            })
    }
}

impl JsonText {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Box<Response>> {
        axum::Json::<T>::from_bytes(self.0.as_bytes())
            .map(|axum::Json(v)| v)
            .map_err(|r| Box::new(reject(r)))
    }
}

/// `application/json` or `application/<anything>+json`, as axum's `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

fn reject(rejection: JsonRejection) -> Response {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => status_only(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        JsonRejection::JsonSyntaxError(_) => ApiError(gatehouse_core::Error::InvalidRequest(
            "malformed JSON".into(),
        ))
        .into_response(),
        JsonRejection::JsonDataError(e) => ApiError(gatehouse_core::Error::InvalidRequest(
            data_error(&e.body_text()),
        ))
        .into_response(),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            status_only(StatusCode::PAYLOAD_TOO_LARGE)
        }
        other => status_only(other.status()),
    }
}

/// serde's description of a shape error, without echoing any value it quotes.
fn data_error(text: &str) -> String {
    let text = text.split(": ").skip(1).collect::<Vec<_>>().join(": ");
    let cut = text.find(" at line").map(|i| &text[..i]).unwrap_or(&text);
    if cut.contains('`') && !cut.starts_with("missing field") && !cut.starts_with("unknown field") {
        "a field has the wrong type".into()
    } else {
        cut.to_owned()
    }
}

fn status_only(status: StatusCode) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(body_for_status(status));
    response
}

/// An optional RFC 3339 instant of a body; `422 {field: "invalid"}` when it does not parse.
pub fn optional_instant(
    field: &str,
    text: Option<&str>,
) -> Result<Option<time::OffsetDateTime>, gatehouse_core::Error> {
    text.map(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| gatehouse_core::Error::field(field, "invalid"))
    })
    .transpose()
}
