//! The OpenAPI 3.1 document, generated: each handler's `#[utoipa::path]` gives its method, path,
//! summary, request body, success and route-specific error responses, from the same types the
//! handler sends; the router registers the handlers and the document in one call
//! (`OpenApiRouter::routes`). [`finish`] then adds what the shared layers answer on every
//! route of a kind (bad JSON, wrong content type, body too large, no or bad credential, rate
//! limits, unknown ids), the path parameters, and the server URL.

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorEnvelope;

/// The document's base: title, the error schema and the security schemes.
#[derive(OpenApi)]
#[openapi(
    info(title = "gatehouse", description = "Identity, orgs, API keys, tokens and audit."),
    components(schemas(ErrorEnvelope)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The four ways a request authenticates: the session cookie (with the CSRF header on unsafe
/// methods), a bearer access token (JWT), or a bearer API key.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "gatehouse_session",
                "The session cookie set by /v1/auth/login (__Host-gatehouse_session over HTTPS)",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::extract::CSRF_HEADER,
                "The session's CSRF token (login answer or /v1/auth/csrf), on unsafe methods",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from /v1/auth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (gk_...)"))
                    .build(),
            ),
        );
    }
}

/// The served document, rendered once.
#[derive(Clone)]
pub struct Document(Arc<String>);

impl Document {
    #[must_use]
    pub fn response(&self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.0.as_str().to_owned(),
        )
            .into_response()
    }

    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// Statuses every route of a kind can answer, from the layer or extractor that answers them.
fn shared_errors(path: &str, operation: &Map<String, Value>) -> Vec<(u16, &'static str)> {
    let mut errors = Vec::new();
    if operation.contains_key("requestBody") {
        errors.push((400, "Malformed JSON or a field of the wrong type"));
        errors.push((413, "Request body over 64 KiB"));
        errors.push((415, "Not Content-Type: application/json"));
    }
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    if secured {
        errors.push((401, "No credential, or one that does not work"));
        errors.push((403, "Not allowed, a missing scope, or a failed CSRF check"));
    }
    if path.contains('{') {
        errors.push((404, "Unknown id, or not the caller's"));
    }
    if path.starts_with("/v1/") {
        errors.push((429, "Rate limited (Retry-After)"));
        errors.push((503, "The rate limiter or the database cannot answer"));
    }
    errors
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true,
                    "schema": { "type": "string", "format": "uuid" } })
        })
        .collect()
}

/// serde's untagged enums send the first shape that fits, and one shape may fit inside another
/// (`{"active": false}` within every introspection answer): `anyOf`, not utoipa's `oneOf`.
fn untagged_as_any_of(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(list) = map.remove("oneOf") {
                map.insert("anyOf".to_owned(), list);
            }
            map.values_mut().for_each(untagged_as_any_of);
        }
        Value::Array(list) => list.iter_mut().for_each(untagged_as_any_of),
        _ => {}
    }
}

/// The document as served: the generated one, with the shared statuses, the path parameters
/// and `server_url` as its server.
pub fn finish(api: &utoipa::openapi::OpenApi, server_url: &str) -> Document {
    let mut doc = serde_json::to_value(api).unwrap_or(Value::Null);
    doc["servers"] = json!([{ "url": server_url }]);
    untagged_as_any_of(&mut doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let Some(operation) = operation.as_object_mut() else {
                    continue;
                };
                let errors = shared_errors(path, operation);
                let params = path_parameters(path);
                if !params.is_empty() {
                    let list = operation
                        .entry("parameters")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Some(list) = list.as_array_mut() {
                        list.extend(params);
                    }
                }
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for (status, description) in errors {
                    responses.entry(status.to_string()).or_insert_with(|| {
                        json!({
                            "description": description,
                            "content": { "application/json": {
                                "schema": { "$ref": "#/components/schemas/Error" } } }
                        })
                    });
                }
            }
        }
    }
    Document(Arc::new(doc.to_string()))
}
