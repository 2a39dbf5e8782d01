//! The OpenAPI 3.1 document of every route the server has. Each capability adds its routes to
//! [`ROUTES`]; a test checks that the router and this table agree.

use serde_json::{Map, Value, json};

/// One operation: method, path, summary, whether it needs a credential, success status,
/// request fields, and the error statuses it can answer.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub auth: bool,
    pub success: u16,
    pub body: &'static [&'static str],
    pub errors: &'static [u16],
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: bool,
    success: u16,
    body: &'static [&'static str],
    errors: &'static [u16],
) -> Op {
    Op {
        method,
        path,
        summary,
        auth,
        success,
        body,
        errors,
    }
}

/// Request fields ending in `[]` are arrays of strings, in `{}` objects of string arrays; the
/// others strings.
pub const ROUTES: &[Op] = &[
    op(
        "get",
        "/healthz",
        "Liveness (no database)",
        false,
        200,
        &[],
        &[],
    ),
    op(
        "get",
        "/readyz",
        "Readiness: 503 while the database is unreachable",
        false,
        200,
        &[],
        &[503],
    ),
    op(
        "get",
        "/metrics",
        "Prometheus metrics (loopback, or an API key with metrics:read)",
        false,
        200,
        &[],
        &[403],
    ),
    op(
        "get",
        "/openapi.json",
        "This document",
        false,
        200,
        &[],
        &[],
    ),
    op(
        "post",
        "/v1/setup",
        "First-run setup with the printed setup token",
        false,
        201,
        &["token", "email", "password", "org_name"],
        &[400, 401, 404, 415, 422],
    ),
    op(
        "post",
        "/v1/auth/signup",
        "Create an account (when signup is open)",
        false,
        201,
        &["email", "password", "name"],
        &[400, 403, 409, 415, 422],
    ),
    op(
        "post",
        "/v1/auth/login",
        "Sign in; sets the session cookie",
        false,
        200,
        &["email", "password", "otp"],
        &[400, 401, 403, 415, 429],
    ),
    op(
        "post",
        "/v1/auth/logout",
        "End this session",
        true,
        204,
        &[],
        &[401, 403],
    ),
    op(
        "post",
        "/v1/auth/logout-all",
        "End every session and credential of the user",
        true,
        204,
        &[],
        &[401, 403],
    ),
    op(
        "get",
        "/v1/auth/me",
        "The caller, their orgs and how they authenticated",
        true,
        200,
        &[],
        &[401],
    ),
    op(
        "get",
        "/v1/auth/csrf",
        "The CSRF token of this session",
        true,
        200,
        &[],
        &[401, 403],
    ),
    op(
        "get",
        "/v1/auth/sessions",
        "The caller's live sessions",
        true,
        200,
        &[],
        &[401, 403],
    ),
    op(
        "delete",
        "/v1/auth/sessions/{id}",
        "Revoke one of the caller's sessions",
        true,
        204,
        &[],
        &[401, 403, 404],
    ),
    op(
        "post",
        "/v1/auth/password",
        "Change password; other sessions are revoked",
        true,
        204,
        &["current_password", "new_password"],
        &[401, 403, 415, 422],
    ),
    op(
        "post",
        "/v1/orgs",
        "Create an org; the caller owns it",
        true,
        201,
        &["name"],
        &[401, 403, 415, 422],
    ),
    op(
        "get",
        "/v1/orgs",
        "The caller's orgs",
        true,
        200,
        &[],
        &[401],
    ),
    op(
        "get",
        "/v1/orgs/{org}",
        "An org (owner or admin)",
        true,
        200,
        &[],
        &[401, 403, 404],
    ),
    op(
        "patch",
        "/v1/orgs/{org}",
        "Rename an org or set its token policy (owner or admin; tokens need org:admin)",
        true,
        200,
        &["name", "token_scopes{}"],
        &[401, 403, 404, 422],
    ),
    op(
        "delete",
        "/v1/orgs/{org}",
        "Delete an org and everything it owns (owner)",
        true,
        204,
        &[],
        &[401, 403, 404],
    ),
    op(
        "get",
        "/v1/orgs/{org}/members",
        "Members with roles (members, or keys with members:read)",
        true,
        200,
        &[],
        &[401, 403, 404],
    ),
    op(
        "patch",
        "/v1/orgs/{org}/members/{user_id}",
        "Change a member's role",
        true,
        200,
        &["role"],
        &[401, 403, 404, 409, 422],
    ),
    op(
        "delete",
        "/v1/orgs/{org}/members/{user_id}",
        "Remove a member (or leave)",
        true,
        204,
        &[],
        &[401, 403, 404, 409],
    ),
    op(
        "post",
        "/v1/orgs/{org}/invitations",
        "Invite an email with a role; the token is shown once",
        true,
        201,
        &["email", "role"],
        &[401, 403, 404, 422, 429],
    ),
    op(
        "get",
        "/v1/orgs/{org}/invitations",
        "Pending invitations (never their tokens)",
        true,
        200,
        &[],
        &[401, 403, 404],
    ),
    op(
        "delete",
        "/v1/orgs/{org}/invitations/{id}",
        "Revoke a pending invitation",
        true,
        204,
        &[],
        &[401, 403, 404],
    ),
    op(
        "post",
        "/v1/invitations/accept",
        "Accept an invitation: signed in, joins (200); anonymous, creates the account when new \
         and answers 202 \"sign in next\" either way",
        false,
        200,
        &["token", "password", "name"],
        &[401, 403, 404, 409, 422],
    ),
    op(
        "post",
        "/v1/orgs/{org}/api-keys",
        "Create an API key; the key is shown once",
        true,
        201,
        &["name", "scopes[]", "expires_at"],
        &[401, 403, 404, 422],
    ),
    op(
        "get",
        "/v1/orgs/{org}/api-keys",
        "An org's API keys (never the keys themselves)",
        true,
        200,
        &[],
        &[401, 403, 404],
    ),
    op(
        "post",
        "/v1/orgs/{org}/api-keys/{id}/revoke",
        "Revoke an API key (the record stays)",
        true,
        200,
        &[],
        &[401, 403, 404],
    ),
    op(
        "delete",
        "/v1/orgs/{org}/api-keys/{id}",
        "Delete an API key",
        true,
        204,
        &[],
        &[401, 403, 404],
    ),
    op(
        "post",
        "/v1/introspect",
        "RFC 7662 introspection (API key with the introspect scope)",
        true,
        200,
        &["token"],
        &[401, 403, 415],
    ),
    op(
        "get",
        "/v1/orgs/{org}/audit",
        "The org's audit chain (category, after, limit)",
        true,
        200,
        &[],
        &[400, 401, 403, 404],
    ),
    op(
        "get",
        "/v1/orgs/{org}/audit/verify",
        "Verify the org's chain",
        true,
        200,
        &[],
        &[401, 403, 404, 429],
    ),
    op(
        "post",
        "/v1/orgs/{org}/audit/events",
        "Append an app's own event (key with audit:write)",
        true,
        201,
        &["action", "outcome", "target", "details"],
        &[401, 403, 404, 415, 422],
    ),
    op(
        "post",
        "/v1/auth/token",
        "Access and refresh tokens (grant_type password or refresh_token)",
        false,
        200,
        &[
            "grant_type",
            "email",
            "password",
            "otp",
            "org_id",
            "scope",
            "refresh_token",
        ],
        &[400, 401, 403, 415, 422],
    ),
    op(
        "post",
        "/v1/auth/revoke",
        "Revoke a refresh token's family or an access token (RFC 7009; always 200)",
        false,
        200,
        &["token"],
        &[400, 415],
    ),
    op(
        "get",
        "/.well-known/jwks.json",
        "The public keys that sign access tokens",
        false,
        200,
        &[],
        &[],
    ),
    op(
        "get",
        "/v1/auth/events",
        "The caller's own security events",
        true,
        200,
        &[],
        &[401, 403],
    ),
    op(
        "get",
        "/v1/system/audit",
        "The system chain (platform admins)",
        true,
        200,
        &[],
        &[400, 401, 403],
    ),
    op(
        "get",
        "/v1/system/audit/verify",
        "Verify the system chain (platform admins)",
        true,
        200,
        &[],
        &[401, 403, 429],
    ),
];

/// The document, with `server_url` as its server.
pub fn document(server_url: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in ROUTES {
        let mut responses = Map::new();
        responses.insert(op.success.to_string(), json!({ "description": "Success" }));
        for status in op.errors {
            responses.insert(
                status.to_string(),
                json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
            );
        }
        let mut operation = json!({ "summary": op.summary, "responses": responses });
        if op.auth {
            operation["security"] = json!([{ "session": [] }, { "bearer": [] }]);
        }
        if !op.body.is_empty() {
            let props: Map<String, Value> = op
                .body
                .iter()
                .map(|f| match (f.strip_suffix("[]"), f.strip_suffix("{}")) {
                    (Some(name), _) => (
                        name.to_owned(),
                        json!({ "type": "array", "items": { "type": "string" } }),
                    ),
                    (_, Some(name)) => (
                        name.to_owned(),
                        json!({ "type": "object", "additionalProperties": { "type": "array", "items": { "type": "string" } } }),
                    ),
                    (None, None) => (f.to_string(), json!({ "type": "string" })),
                })
                .collect();
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": { "type": "object", "properties": props } } }
            });
        }
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }))
            .collect();
        if !params.is_empty() {
            operation["parameters"] = json!(params);
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "gatehouse", "version": env!("CARGO_PKG_VERSION") },
        "servers": [{ "url": server_url }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "gatehouse_session" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API key (gk_...)" }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "object", "required": ["code", "message", "request_id"],
                        "properties": {
                            "code": { "type": "string" }, "message": { "type": "string" },
                            "request_id": { "type": "string" },
                            "fields": { "type": "object", "additionalProperties": { "type": "string" } }
                        } } }
                }
            }
        }
    })
}
