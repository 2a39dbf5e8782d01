//! The middleware every request passes through, inside the request id layer: client IP, TRACE
//! and CORS preflight, the error envelope, security headers, the access log and metrics.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::{Actor, Chain};
use gatehouse_core::ids::{ApiKeyId, OrgId, UserId};
use gatehouse_core::service::{ClientInfo, events};

use crate::error::{ErrorBody, ErrorCode, ErrorDetail, ErrorEnvelope, body_for_status};
use crate::net::{client_ip, is_local_peer};
use crate::state::AppState;

/// Per-request facts handlers and extractors may read; `user` or `api_key` is filled by
/// authentication (for the access log).
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: IpAddr,
    /// The TCP peer is this host itself, not a proxy ([`crate::net::is_local_peer`]).
    pub local_peer: bool,
    pub user: Arc<OnceLock<UserId>>,
    pub api_key: Arc<OnceLock<ApiKeyId>>,
    /// The org the caller was shown to belong to (set by org routes), for audit events.
    pub org: Arc<OnceLock<OrgId>>,
}

impl RequestContext {
    fn actor(&self) -> Actor {
        match (self.user.get(), self.api_key.get()) {
            (Some(u), _) => Actor::User(*u),
            (None, Some(k)) => Actor::ApiKey(*k),
            (None, None) => Actor::Anonymous,
        }
    }
}

pub use super::request_id::X_REQUEST_ID;

fn allowed_cors_origin(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?.to_ascii_lowercase();
    state
        .config
        .allowed_origins
        .iter()
        .any(|o| o == &text && o != "*")
        .then(|| origin.clone())
}

pub async fn envelope(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = super::request_id::of(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let forwarded: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let forwarded: Vec<&str> = forwarded.iter().map(String::as_str).collect();
    let ip = client_ip(peer, &forwarded, &state.config.trusted_proxies);
    let forwarded_at_all = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let local_peer = is_local_peer(peer, forwarded_at_all, &state.config.trusted_proxies);
    let user = Arc::new(OnceLock::new());
    let api_key = Arc::new(OnceLock::new());
    let ctx = RequestContext {
        request_id: id.clone(),
        client_ip: ip,
        local_peer,
        user: user.clone(),
        api_key: api_key.clone(),
        org: Arc::new(OnceLock::new()),
    };
    req.extensions_mut().insert(ctx.clone());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let cors_origin = allowed_cors_origin(&state, req.headers());
    // A gateway route's preflight is its upstream's to answer.
    let gatewayed =
        state.upstreams.is_some() && !gatehouse_core::gateway::routes::is_own_path(&path);
    let is_preflight = !gatewayed
        && method == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);

    let mut response = if method == Method::TRACE {
        StatusCode::METHOD_NOT_ALLOWED.into_response()
    } else if is_preflight {
        preflight(cors_origin.as_ref())
    } else {
        next.run(req).await
    };

    let status = response.status();
    if response
        .extensions()
        .get::<crate::gateway::proxy::Proxied>()
        .is_some()
    {
        // The upstream's answer, as it sent it (the request id layer adds the id).
        access_line(&id, &method, &path, status, started, ip, &user, &api_key);
        return response;
    }
    let console_page = response
        .extensions()
        .get::<crate::console::ConsolePage>()
        .is_some();
    let error = response.extensions_mut().remove::<ErrorBody>().or_else(|| {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        (status.as_u16() >= 400 && !is_json && !console_page).then(|| body_for_status(status))
    });
    let on_console = path == "/console" || path.starts_with("/console/");
    if let Some(body) = &error
        && status == StatusCode::FORBIDDEN
        && !is_preflight
        && let Err(e) = record_denial(&state, &ctx, body.code, &method, &path, user_agent).await
    {
        tracing::error!(request_id = %id, error = %e, "recording a denial failed; answering 503");
        response = StatusCode::SERVICE_UNAVAILABLE.into_response();
        response = render_error(
            response,
            &body_for_status(StatusCode::SERVICE_UNAVAILABLE),
            &id,
            true,
        );
    } else if let Some(body) = &error {
        if let Some(detail) = &body.detail {
            tracing::error!(request_id = %id, status = status.as_u16(), detail = %detail, "request failed");
        }
        if console_page {
            // A console form refused: the page already says why, in words.
        } else if on_console {
            response = console_error(response, body, &id);
        } else {
            response = render_error(response, body, &id, state.config.is_production());
        }
    }
    let headers = response.headers_mut();
    security_headers(headers, &state, &path);
    if let Some(origin) = cors_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, retry-after, ratelimit, ratelimit-policy"),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));

    let route_label = route.unwrap_or_else(|| "unmatched".into());
    metrics::counter!("http_requests_total", "route" => route_label.clone(), "method" => method_label(&method),
        "status" => status.as_u16().to_string())
    .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route_label)
        .record(started.elapsed().as_secs_f64());
    access_line(&id, &method, &path, status, started, ip, &user, &api_key);
    response
}

/// The request's line in the access log.
#[allow(clippy::too_many_arguments)]
fn access_line(
    id: &str,
    method: &Method,
    path: &str,
    status: StatusCode,
    started: Instant,
    ip: IpAddr,
    user: &OnceLock<gatehouse_core::ids::UserId>,
    api_key: &OnceLock<gatehouse_core::ids::ApiKeyId>,
) {
    tracing::info!(
        target: "gatehouse::access",
        request_id = %id,
        method = %method,
        path = %path,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        client_ip = %ip,
        user_id = user.get().map(|u| u.to_string()).unwrap_or_default(),
        api_key_id = api_key.get().map(|k| k.to_string()).unwrap_or_default(),
    );
}

/// The method as a metrics label: the standard methods by name, any other token as `other`,
/// so no request can add a series (routes are labelled by their template, unknown paths as
/// `unmatched`; statuses are the few the server answers).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// `authz.denied` for `forbidden` / `insufficient_scope`, `csrf.rejected` for `csrf_failed`;
/// durable before the `403` goes out. Without a credential (actor `anonymous`) the event is
/// coalesced per client and minute (SPEC §9): only the first of a minute waits for its write.
async fn record_denial(
    state: &AppState,
    ctx: &RequestContext,
    code: ErrorCode,
    method: &Method,
    path: &str,
    user_agent: Option<String>,
) -> gatehouse_core::Result<()> {
    let client = ClientInfo {
        ip: Some(ctx.client_ip.to_string()),
        user_agent,
        request_id: Some(ctx.request_id.clone()),
    };
    let now = state.auth.now();
    let event = match code {
        ErrorCode::Forbidden | ErrorCode::InsufficientScope => {
            let chain = ctx
                .org
                .get()
                .map(|o| Chain::Org(*o))
                .unwrap_or(Chain::System);
            events::authz_denied(
                chain,
                ctx.actor(),
                code.as_str(),
                method.as_str(),
                path,
                &client,
                now,
            )
        }
        ErrorCode::CsrfFailed => {
            events::csrf_rejected(ctx.actor(), method.as_str(), path, &client, now)
        }
        _ => return Ok(()),
    };
    if ctx.actor() == Actor::Anonymous {
        return state.audit.record_anonymous(event).await;
    }
    state.audit.writer().append(vec![event]).await.map(|_| ())
}

fn preflight(origin: Option<&HeaderValue>) -> Response {
    let Some(_) = origin else {
        let mut r = StatusCode::FORBIDDEN.into_response();
        r.extensions_mut()
            .insert(body_for_status(StatusCode::FORBIDDEN));
        return r;
    };
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, x-csrf-token, x-request-id"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// An error on a console path as a page: the code in words and the request id (no internals).
fn console_error(response: Response, body: &ErrorBody, request_id: &str) -> Response {
    let (parts, _) = response.into_parts();
    let mut page = crate::console::error_page(parts.status, body, request_id);
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = parts.headers.get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    if let Some(secs) = body.retry_after_secs {
        page.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    page
}

fn render_error(
    response: Response,
    body: &ErrorBody,
    request_id: &str,
    production: bool,
) -> Response {
    let (mut parts, _) = response.into_parts();
    let message = if production && parts.status.is_server_error() {
        body_for_status(parts.status).message
    } else {
        body.message.clone()
    };
    let envelope = ErrorEnvelope {
        error: ErrorDetail {
            code: body.code.as_str(),
            message,
            request_id: request_id.to_owned(),
            fields: body.fields.clone(),
            mfa_token: body.mfa.as_ref().map(|m| m.mfa_token.clone()),
            methods: body.mfa.as_ref().map(|m| m.methods.clone()),
            expires_at: body.mfa.as_ref().map(|m| m.expires_at.clone()),
            passkey: body.mfa.as_ref().and_then(|m| m.passkey.clone()),
        },
    };
    let json = serde_json::to_string(&envelope).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(secs) = body.retry_after_secs {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Response::from_parts(parts, Body::from(json))
}

fn security_headers(h: &mut HeaderMap, state: &AppState, path: &str) {
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    );
    set(
        h,
        header::REFERRER_POLICY,
        "strict-origin-when-cross-origin",
    );
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if state.https {
        set(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    let carries_credentials = path.starts_with("/v1/")
        || (path.starts_with("/console") && !path.starts_with("/console/static/"))
        || h.contains_key(header::SET_COOKIE);
    if carries_credentials {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.remove(header::SERVER);
}
