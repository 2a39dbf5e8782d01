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

pub const ROUTES: &[Op] = &[
    Op {
        method: "get",
        path: "/healthz",
        summary: "Liveness (no database)",
        auth: false,
        success: 200,
        body: &[],
        errors: &[],
    },
    Op {
        method: "get",
        path: "/readyz",
        summary: "Readiness: 503 while the database is unreachable",
        auth: false,
        success: 200,
        body: &[],
        errors: &[503],
    },
    Op {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics (loopback only)",
        auth: false,
        success: 200,
        body: &[],
        errors: &[403],
    },
    Op {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        auth: false,
        success: 200,
        body: &[],
        errors: &[],
    },
    Op {
        method: "post",
        path: "/v1/setup",
        summary: "First-run setup with the printed setup token",
        auth: false,
        success: 201,
        body: &["token", "email", "password", "org_name"],
        errors: &[400, 401, 404, 415, 422],
    },
    Op {
        method: "post",
        path: "/v1/auth/signup",
        summary: "Create an account (when signup is open)",
        auth: false,
        success: 201,
        body: &["email", "password", "name"],
        errors: &[400, 403, 409, 415, 422],
    },
    Op {
        method: "post",
        path: "/v1/auth/login",
        summary: "Sign in; sets the session cookie",
        auth: false,
        success: 200,
        body: &["email", "password", "otp"],
        errors: &[400, 401, 403, 415, 429],
    },
    Op {
        method: "post",
        path: "/v1/auth/logout",
        summary: "End this session",
        auth: true,
        success: 204,
        body: &[],
        errors: &[401, 403],
    },
    Op {
        method: "post",
        path: "/v1/auth/logout-all",
        summary: "End every session and credential of the user",
        auth: true,
        success: 204,
        body: &[],
        errors: &[401, 403],
    },
    Op {
        method: "get",
        path: "/v1/auth/me",
        summary: "The caller, their orgs and how they authenticated",
        auth: true,
        success: 200,
        body: &[],
        errors: &[401],
    },
    Op {
        method: "get",
        path: "/v1/auth/csrf",
        summary: "The CSRF token of this session",
        auth: true,
        success: 200,
        body: &[],
        errors: &[401],
    },
    Op {
        method: "get",
        path: "/v1/auth/sessions",
        summary: "The caller's live sessions",
        auth: true,
        success: 200,
        body: &[],
        errors: &[401],
    },
    Op {
        method: "delete",
        path: "/v1/auth/sessions/{id}",
        summary: "Revoke one of the caller's sessions",
        auth: true,
        success: 204,
        body: &[],
        errors: &[401, 403, 404],
    },
    Op {
        method: "post",
        path: "/v1/auth/password",
        summary: "Change password; other sessions are revoked",
        auth: true,
        success: 204,
        body: &["current_password", "new_password"],
        errors: &[401, 403, 415, 422],
    },
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
            operation["security"] = json!([{ "session": [] }]);
        }
        if !op.body.is_empty() {
            let props: Map<String, Value> = op
                .body
                .iter()
                .map(|f| (f.to_string(), json!({ "type": "string" })))
                .collect();
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": { "type": "object", "properties": props } } }
            });
        }
        if op.path.contains('{') {
            operation["parameters"] = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }]);
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
                "session": { "type": "apiKey", "in": "cookie", "name": "gatehouse_session" }
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
