//! The audit log over HTTP: an org's chain (list, verify, apps' own events), the caller's own
//! security events, and the `system` chain for platform admins.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::StoredEvent;
use gatehouse_core::audit::chain::Report;
use gatehouse_core::service::audit::{AppEvent, Listing, check_app_event_text};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::orgs::access;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Authenticated, Client, SessionAuth};
use crate::json::JsonText;
use crate::state::AppState;

/// A page of a chain: events of one `category` (`auth`, `admin`, `app`), after `seq`, at most
/// `limit` of them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    category: Option<String>,
    after: Option<i64>,
    /// 1 to 2^32 - 1 is accepted (larger pages are cut to the server's maximum).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295_i64)]
    limit: Option<u32>,
}

/// Who acted.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditActor {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// What an event was about.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// One event of a chain, as hashed (SPEC §9), with its `hash`. Described for the document; the
/// server sends the stored canonical text.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditEvent {
    id: String,
    chain: String,
    seq: i64,
    at: String,
    category: String,
    action: String,
    outcome: String,
    actor: AuditActor,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    #[schema(value_type = Object)]
    details: Value,
    prev_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<AuditTarget>,
    hash: String,
}

/// Events, oldest first for a chain, newest first for the caller's own.
#[derive(Serialize, ToSchema)]
pub struct EventsView {
    #[schema(value_type = Vec<AuditEvent>)]
    pub events: Vec<Value>,
}

fn events_body(events: &[StoredEvent]) -> EventsView {
    EventsView {
        events: events.iter().map(StoredEvent::to_json).collect(),
    }
}

/// `{"events": [...]}` written page by page as the client reads it: a listing never holds more
/// than one page of events. The first page is read before answering (so errors get their
/// status); a failure later cuts the response short, which no client can take for a whole
/// answer.
async fn stream_events(mut listing: Listing) -> ApiResult<Response> {
    let first = listing.next_page().await?;
    let pages = futures_util::stream::unfold(
        (Some(first), listing, true),
        |(page, mut listing, first_chunk)| async move {
            let page = page?;
            let mut chunk = String::new();
            if first_chunk {
                chunk.push_str("{\"events\":[");
            }
            if page.is_empty() {
                chunk.push_str("]}");
                return Some((
                    Ok::<_, std::io::Error>(Bytes::from(chunk)),
                    (None, listing, false),
                ));
            }
            for (i, e) in page.iter().enumerate() {
                if i > 0 || !first_chunk {
                    chunk.push(',');
                }
                chunk.push_str(&e.to_json_text());
            }
            let next = match listing.next_page().await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::error!(error = %e, "audit listing failed part way");
                    return Some((
                        Err(std::io::Error::other("audit listing failed")),
                        (None, listing, false),
                    ));
                }
            };
            Some((Ok(Bytes::from(chunk)), (next, listing, false)))
        },
    );
    let mut response = Body::from_stream(pages).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The last event that verified.
#[derive(Serialize, ToSchema)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// A chain's verification: `first_bad_seq` only when it does not verify.
#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub valid: bool,
    pub events: u64,
    pub head: ChainHead,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
}

fn report_body(r: &Report) -> ReportView {
    ReportView {
        valid: r.valid,
        events: r.events,
        head: ChainHead {
            seq: r.head_seq,
            hash: r.head_hash.clone(),
        },
        first_bad_seq: r.first_bad_seq,
    }
}

/// The org's audit chain (category, after, limit)
#[utoipa::path(get, path = "/v1/orgs/{org}/audit", tag = "audit", params(Page),
    responses(
        (status = 200, description = "A page of the chain", body = EventsView),
        (status = 400, description = "A bad query", body = ErrorEnvelope),
    ),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let listing = state.audit.list(
        &access,
        page.category.as_deref(),
        page.after.unwrap_or(0),
        page.limit,
    )?;
    stream_events(listing).await
}

/// Verify the org's chain
#[utoipa::path(get, path = "/v1/orgs/{org}/audit/verify", tag = "audit",
    responses((status = 200, description = "The verification", body = ReportView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let report = state.audit.verify_org(&access).await?;
    Ok(axum::Json(report_body(&report)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct TargetBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize, ToSchema)]
pub struct AppEventBody {
    action: String,
    outcome: Option<String>,
    target: Option<TargetBody>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    details: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Append an app's own event (key with audit:write)
#[utoipa::path(post, path = "/v1/orgs/{org}/audit/events", tag = "audit", request_body = AppEventBody,
    responses(
        (status = 201, description = "The stored event", body = AuditEvent),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn append(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
    body: JsonText,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    state.audit.may_append(&access)?;
    check_app_event_text(&body.0)?;
    let b: AppEventBody = match body.parse() {
        Ok(b) => b,
        Err(rejection) => return Ok(*rejection),
    };
    let event = AppEvent {
        action: b.action,
        outcome: b.outcome,
        target: b.target.map(|t| (t.kind, t.id)),
        details: b.details,
    };
    let stored = state
        .audit
        .append_app_event(&access, event, &client)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(stored.to_json())).into_response())
}

/// The caller's own security events
#[utoipa::path(get, path = "/v1/auth/events", tag = "audit",
    responses((status = 200, description = "Newest first", body = EventsView)),
    security(("session" = [])))]
pub async fn my_events(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let events = state.audit.user_events(p.user.id).await?;
    Ok(axum::Json(events_body(&events)).into_response())
}

/// The system chain (platform admins)
#[utoipa::path(get, path = "/v1/system/audit", tag = "audit", params(Page),
    responses(
        (status = 200, description = "A page of the chain", body = EventsView),
        (status = 400, description = "A bad query", body = ErrorEnvelope),
    ),
    security(("session" = [])))]
pub async fn system_list(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Query(page): Query<Page>,
) -> ApiResult<Response> {
    let admin = state.audit.platform_admin(&p)?;
    let listing = state.audit.list_system(
        &admin,
        page.category.as_deref(),
        page.after.unwrap_or(0),
        page.limit,
    )?;
    stream_events(listing).await
}

/// Verify the system chain (platform admins)
#[utoipa::path(get, path = "/v1/system/audit/verify", tag = "audit",
    responses((status = 200, description = "The verification", body = ReportView)),
    security(("session" = [])))]
pub async fn system_verify(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let admin = state.audit.platform_admin(&p)?;
    let report = state.audit.verify_system(&admin).await?;
    Ok(axum::Json(report_body(&report)).into_response())
}
