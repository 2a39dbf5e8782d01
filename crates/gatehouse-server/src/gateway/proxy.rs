//! The gateway (SPEC §11): gatehouse as the reverse proxy in front of an upstream. A request
//! outside gatehouse's own paths is matched to a route, judged like forward-auth, then sent on
//! through a pooled HTTP/1.1 client: hop-by-hop headers dropped, `X-Forwarded-*` set, bodies
//! streamed both ways (the request's cut at `max_body`), WebSocket upgrades spliced after the
//! check, `502` when the upstream fails and `504` past the route's `timeout`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::audit::{Actor, Chain};
use gatehouse_core::gateway::path::path_of;
use gatehouse_core::gateway::{Route, is_ambiguous, routes::is_own_path};
use gatehouse_core::service::{ClientInfo, Identity, events};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::body::{CappedBody, Overflow};
use super::{Judged, check, connection_named, rate_headers, set_identity, strip_incoming};
use crate::error::{ApiError, ErrorCode, error_response, invalid_request_fields};
use crate::extract::client_info;
use crate::middleware::envelope::RequestContext;
use crate::state::AppState;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The pooled client every route's upstream shares.
#[derive(Clone)]
pub struct Upstreams {
    client: Client<Connector, CappedBody>,
}

impl Upstreams {
    pub fn new() -> std::io::Result<Self> {
        crate::outbound::install_crypto_provider();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Self { client })
    }
}

/// Marks a response that came from an upstream: the envelope leaves its status, body and
/// headers as the upstream sent them.
#[derive(Clone, Copy)]
pub struct Proxied;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Every request no route of gatehouse's own took: a gateway route's, or `404`.
pub async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(upstreams) = state.upstreams.clone() else {
        return crate::routes::ops::not_found().await.into_response();
    };
    if is_own_path(&path) {
        return crate::routes::ops::not_found().await.into_response();
    }
    if is_ambiguous(&path) {
        return invalid_request_fields("the path is ambiguous", &[("uri", "ambiguous_path")]);
    }
    let table = state.config.gateway.clone();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let Some(route) = table
        .find(host.as_deref(), &path)
        .filter(|r| r.upstream.is_some())
    else {
        return crate::routes::ops::not_found().await.into_response();
    };
    if !route.allows_method(req.method().as_str()) {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    forward(&state, &upstreams, route, req, host.unwrap_or_default()).await
}

async fn forward(
    state: &AppState,
    upstreams: &Upstreams,
    route: &Route,
    req: Request,
    host: String,
) -> Response {
    let started = Instant::now();
    let (mut parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let scheme = if state.https { "https" } else { "http" };
    let origin = format!("{scheme}://{host}");
    let judged = Judged {
        method: &method,
        origin: &origin,
        target: &target,
        full_csrf: true,
        redirect_browsers: true,
    };
    let passed = match check(state, &mut parts, route, &judged).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    if let Some(length) = content_length(&parts.headers)
        && length > route.max_body
    {
        return too_large(route);
    }
    let upgrade = wants_upgrade(&parts.headers);
    // The client's side of an upgrade, taken before the request goes on.
    let client_upgrade = upgrade
        .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
    let Ok(uri) = upstream_uri(route, &target) else {
        return ApiError(Error::Internal("upstream URI".into())).into_response();
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ctx = parts.extensions.get::<RequestContext>().cloned();
    let mut headers = parts.headers.clone();
    outgoing_headers(
        state,
        route,
        &mut headers,
        &host,
        scheme,
        peer,
        ctx.as_ref(),
        upgrade,
    );
    set_identity(&mut headers, &passed);
    let overflow = Overflow::default();
    let mut outgoing = hyper::Request::new(CappedBody::new(body, route.max_body, overflow.clone()));
    *outgoing.method_mut() = parts.method.clone();
    *outgoing.uri_mut() = uri;
    *outgoing.headers_mut() = headers;
    let answered = tokio::time::timeout(route.timeout, upstreams.client.request(outgoing)).await;
    let mut response = match answered {
        Err(_) => {
            tracing::warn!(route = %route.name(), "upstream timed out");
            error_response(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::GatewayTimeout,
                "The upstream did not answer in time.".into(),
            )
        }
        Ok(Err(_)) if overflow.hit() => too_large(route),
        Ok(Err(e)) => {
            tracing::warn!(route = %route.name(), error = %e, "upstream failed");
            error_response(
                StatusCode::BAD_GATEWAY,
                ErrorCode::BadGateway,
                "The upstream could not be reached.".into(),
            )
        }
        Ok(Ok(mut upstream)) => {
            if upstream.status() == StatusCode::SWITCHING_PROTOCOLS
                && let Some(client_side) = client_upgrade
            {
                splice(client_side, hyper::upgrade::on(&mut upstream));
            }
            let (mut head, incoming) = upstream.into_parts();
            let switching = head.status == StatusCode::SWITCHING_PROTOCOLS;
            drop_hop_by_hop(&mut head.headers, switching);
            let mut r = Response::from_parts(head, Body::new(incoming));
            r.extensions_mut().insert(Proxied);
            r
        }
    };
    if let Some(limit) = &passed.limit {
        rate_headers(state, response.headers_mut(), limit);
    }
    if route.audit.records(&method) {
        let client = client_info(&parts);
        record(
            state,
            route,
            &passed.identity,
            &method,
            &target,
            response.status(),
            started,
            &client,
        )
        .await;
    }
    response
}

fn too_large(route: &Route) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        format!("Request body too large (limit {} bytes).", route.max_body),
    )
}

/// Both upgraded connections, copied into each other until either side ends.
fn splice(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (Ok(client), Ok(upstream)) = (client.await, upstream.await) else {
            return;
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
}

fn wants_upgrade(h: &HeaderMap) -> bool {
    let connection_upgrade = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && h.contains_key(header::UPGRADE)
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The upstream's base, the route's path (prefix stripped when asked) and the query.
fn upstream_uri(route: &Route, target: &str) -> Result<Uri, axum::http::uri::InvalidUri> {
    let base = route.upstream.as_deref().unwrap_or_default();
    let path = path_of(target);
    let query = &target[path.len()..];
    format!("{base}{}{query}", route.upstream_path(path)).parse()
}

/// The request's headers as the upstream gets them.
#[allow(clippy::too_many_arguments)]
fn outgoing_headers(
    state: &AppState,
    route: &Route,
    h: &mut HeaderMap,
    host: &str,
    scheme: &str,
    peer: Option<std::net::IpAddr>,
    ctx: Option<&RequestContext>,
    upgrade: bool,
) {
    let upgrade_to = h.get(header::UPGRADE).cloned();
    strip_incoming(h);
    for name in HOP_BY_HOP {
        h.remove(*name);
    }
    if upgrade && let Some(to) = upgrade_to {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, to);
    }
    // gatehouse's own credentials stay with gatehouse: the assertion speaks for the caller.
    if route.auth != gatehouse_core::gateway::AuthMode::None {
        h.remove(header::AUTHORIZATION);
    }
    without_cookie(h, state.cookie_name);
    h.remove(header::HOST);
    let trusted = peer.is_some_and(|p| state.config.trusted_proxies.iter().any(|c| c.contains(p)));
    let chain: Vec<String> = if trusted {
        h.get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    } else {
        Vec::new()
    };
    let mut forwarded_for = chain.join(", ");
    let hop = peer
        .map(|p| p.to_string())
        .or_else(|| ctx.map(|c| c.client_ip.to_string()))
        .unwrap_or_default();
    if !forwarded_for.is_empty() {
        forwarded_for.push_str(", ");
    }
    forwarded_for.push_str(&hop);
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-forwarded-for", &forwarded_for);
    set("x-forwarded-host", host);
    set("x-forwarded-proto", scheme);
    h.remove("forwarded");
    h.remove("x-real-ip");
}

/// Removes gatehouse's session cookie from the `Cookie` header, keeping the app's own.
fn without_cookie(h: &mut HeaderMap, name: &str) {
    let kept: Vec<String> = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split('=').next().is_none_or(|n| n.trim() != name))
        .map(str::to_owned)
        .collect();
    h.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        h.insert(header::COOKIE, v);
    }
}

/// Drops the response's hop-by-hop headers (an accepted upgrade keeps `Connection`/`Upgrade`).
fn drop_hop_by_hop(h: &mut HeaderMap, switching: bool) {
    let named = connection_named(h)
        .into_iter()
        .filter(|n| !(switching && *n == header::UPGRADE));
    for name in named {
        h.remove(name);
    }
    for name in HOP_BY_HOP {
        if switching && (*name == "connection" || *name == "upgrade") {
            continue;
        }
        h.remove(*name);
    }
}

/// `gateway.request`, in the caller's org chain when there is one.
#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    route: &Route,
    identity: &Identity,
    method: &str,
    target: &str,
    status: StatusCode,
    started: Instant,
    client: &ClientInfo,
) {
    let chain = identity.org.map_or(Chain::System, Chain::Org);
    let actor = match (identity.credential, identity.user) {
        (_, Some(user)) => Actor::User(user),
        ("api_key", None) => identity
            .subject
            .parse()
            .map(Actor::ApiKey)
            .unwrap_or(Actor::Anonymous),
        _ => Actor::Anonymous,
    };
    let event = events::gateway_request(
        chain,
        actor,
        method,
        path_of(target),
        status.as_u16(),
        &route.name(),
        started.elapsed().as_millis() as u64,
        client,
        state.auth.now(),
    );
    if let Err(e) = state.audit.writer().append(vec![event]).await {
        tracing::error!(error = %e, route = %route.name(), "gateway.request not recorded");
    }
}
