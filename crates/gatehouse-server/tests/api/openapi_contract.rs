//! The OpenAPI document and the router agree both ways: every documented operation is matched
//! by the router as that template and method (the server's own metrics name the template each
//! request matched), and nothing the router serves is missing from the document (every other
//! method on a documented path is `405`, paths next to documented ones are unmatched `404`s,
//! and every template the metrics ever name is documented with that method).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both;
use crate::support::*;

both!(router_serves_exactly_the_documented_operations);

/// A well-formed id that names nothing.
const NOBODY: &str = "01900000-0000-7000-8000-000000000000";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (method, path template) of every documented operation.
pub(crate) fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if METHODS.contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') { NOBODY } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// `http_requests_total` series from the Prometheus text: (method, route) → statuses.
fn matched(metrics: &str) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut seen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("http_requests_total{") else {
            continue;
        };
        let Some((labels, _)) = rest.rsplit_once('}') else {
            continue;
        };
        let mut map = BTreeMap::new();
        for pair in labels.split("\",") {
            if let Some((k, v)) = pair.split_once("=\"") {
                map.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
            }
        }
        let (Some(method), Some(route), Some(status)) =
            (map.get("method"), map.get("route"), map.get("status"))
        else {
            panic!("an http_requests_total series without method, route and status: {line}");
        };
        seen.entry((method.clone(), route.clone()))
            .or_default()
            .insert(status.clone());
    }
    seen
}

/// `path` is an instance of `template` (a `{param}` segment takes any one segment).
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

async fn probe(c: &Client, method: &str, path: &str) -> Reply {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    Client::send(
        c.request(m, path)
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await
}

async fn router_serves_exactly_the_documented_operations(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let doc = server.client().get("/openapi.json").await.body;
    let ops = documented(&doc);
    assert!(ops.len() >= 40, "{} operations documented", ops.len());
    let templates: BTreeSet<String> = ops.iter().map(|(_, t)| t.clone()).collect();

    // Documented → served: never 405, and matched as its own template.
    for (method, template) in &ops {
        if template == "/v1/auth/logout" || template == "/v1/auth/logout-all" {
            // Ending the owner's session would make the probes after it anonymous.
            let r = probe(&server.client(), method, &concrete(template)).await;
            assert_ne!(
                r.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template}"
            );
            continue;
        }
        let r = probe(&owner, method, &concrete(template)).await;
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {template}: {}",
            r.text
        );
    }
    // Served → documented: other methods on a documented path are 405 …
    for template in &templates {
        for method in METHODS {
            let upper = method.to_uppercase();
            if ops.contains(&(upper.clone(), template.clone())) {
                continue;
            }
            let r = probe(&owner, &upper, &concrete(template)).await;
            assert_eq!(
                r.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{upper} {template} is served but not documented: {}",
                r.text
            );
        }
    }
    // … and the paths around documented ones are not routes at all.
    let mut neighbours = BTreeSet::new();
    for template in &templates {
        neighbours.insert(format!("{template}/x"));
        neighbours.insert(format!("{template}/"));
        let mut parent = template.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            if !up.is_empty() {
                neighbours.insert(up.to_owned());
            }
            parent = up;
        }
    }
    for extra in [
        "/v1/users",
        "/v1/admin",
        "/docs",
        "/swagger.json",
        "/v1/openapi.json",
    ] {
        neighbours.insert(extra.to_owned());
    }
    let is_route = |path: &str| templates.iter().any(|t| fits(t, path));
    for path in neighbours.iter().filter(|p| !is_route(p)) {
        for method in METHODS {
            let r = probe(&owner, &method.to_uppercase(), &concrete(path)).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::NOT_FOUND, "not_found"),
                "{method} {path}: {}",
                r.text
            );
        }
    }

    let metrics = server.client().get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    let seen = matched(&metrics.text);
    for (method, template) in &ops {
        let statuses = seen
            .get(&(method.clone(), template.clone()))
            .unwrap_or_else(|| panic!("{method} {template} never matched its template"));
        assert!(
            statuses.iter().any(|s| s != "405"),
            "{method} {template}: {statuses:?}"
        );
    }
    for ((method, route), statuses) in &seen {
        if route == "unmatched" || statuses.iter().all(|s| s == "405") {
            continue;
        }
        assert!(
            ops.contains(&(method.clone(), route.clone())),
            "{method} {route} was served ({statuses:?}) but is not documented"
        );
    }
}
