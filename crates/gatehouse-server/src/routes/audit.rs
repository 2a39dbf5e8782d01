//! The audit log over HTTP: an org's chain (list, verify, apps' own events), the caller's own
//! security events, and the `system` chain for platform admins.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::StoredEvent;
use gatehouse_core::audit::chain::Report;
use gatehouse_core::service::audit::{AppEvent, Listing, check_app_event_text};
use serde::Deserialize;
use serde_json::{Value, json};

use super::orgs::access;
use crate::error::ApiResult;
use crate::extract::{Authenticated, Client, SessionAuth};
use crate::json::JsonText;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Page {
    category: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

fn events_body(events: &[StoredEvent]) -> Value {
    json!({ "events": events.iter().map(StoredEvent::to_json).collect::<Vec<_>>() })
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

fn report_body(r: &Report) -> Value {
    let mut body = json!({
        "valid": r.valid,
        "events": r.events,
        "head": { "seq": r.head_seq, "hash": r.head_hash },
    });
    if let Some(bad) = r.first_bad_seq {
        body["first_bad_seq"] = json!(bad);
    }
    body
}

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

pub async fn verify(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let report = state.audit.verify_org(&access).await?;
    Ok(axum::Json(report_body(&report)).into_response())
}

#[derive(Deserialize)]
pub struct TargetBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize)]
pub struct AppEventBody {
    action: String,
    outcome: Option<String>,
    target: Option<TargetBody>,
    #[serde(default = "empty_object")]
    details: Value,
}

fn empty_object() -> Value {
    json!({})
}

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

/// `GET /v1/auth/events`: the caller's own security events, newest first.
pub async fn my_events(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let events = state.audit.user_events(p.user.id).await?;
    Ok(axum::Json(events_body(&events)).into_response())
}

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

pub async fn system_verify(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let admin = state.audit.platform_admin(&p)?;
    let report = state.audit.verify_system(&admin).await?;
    Ok(axum::Json(report_body(&report)).into_response())
}
