//! The request a proxy asks forward-auth about (SPEC §11): `X-Forwarded-Method`, `-Proto`,
//! `-Host` and `-Uri` (the headers Traefik and Caddy overwrite), with nginx's `X-Original-*`
//! read only where the `X-Forwarded-*` header is absent.

use axum::http::HeaderMap;

/// The described request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Lowercase, port kept.
    pub host: String,
    /// Path and query, as sent.
    pub target: String,
}

impl Described {
    #[must_use]
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

/// Why the headers do not describe a request: the field and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undescribed {
    pub field: &'static str,
    pub reason: &'static str,
}

fn text<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn missing(field: &'static str) -> Undescribed {
    Undescribed {
        field,
        reason: "required",
    }
}

fn invalid(field: &'static str) -> Undescribed {
    Undescribed {
        field,
        reason: "invalid",
    }
}

/// `X-Original-URL` split into scheme, authority and target.
fn original_url(h: &HeaderMap) -> Option<(&str, &str, &str)> {
    let url = text(h, "x-original-url")?;
    let (scheme, rest) = url.split_once("://")?;
    let (host, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((scheme, host, target))
}

pub fn describe(h: &HeaderMap) -> Result<Described, Undescribed> {
    if h.get_all("x-forwarded-method").iter().count() > 1 {
        return Err(invalid("method"));
    }
    let method = text(h, "x-forwarded-method")
        .or_else(|| text(h, "x-original-method"))
        .ok_or(missing("method"))?;
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid("method"));
    }
    let original = original_url(h);
    let scheme = text(h, "x-forwarded-proto")
        .or(original.map(|o| o.0))
        .unwrap_or("http")
        .to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(invalid("proto"));
    }
    let host = text(h, "x-forwarded-host")
        .or(original.map(|o| o.1))
        .ok_or(missing("host"))?
        .to_ascii_lowercase();
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    {
        return Err(invalid("host"));
    }
    let target = text(h, "x-forwarded-uri")
        .or_else(|| text(h, "x-original-uri"))
        .or(original.map(|o| o.2))
        .ok_or(missing("uri"))?;
    if !target.starts_with('/') {
        return Err(invalid("uri"));
    }
    Ok(Described {
        method: method.to_owned(),
        scheme,
        host,
        target: target.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_headers_describe_the_request() {
        let d = describe(&headers(&[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "App.Example.com"),
            ("x-forwarded-uri", "/app/x?y=1"),
        ]))
        .unwrap();
        assert_eq!(d.origin(), "https://app.example.com");
        assert_eq!(
            (d.method.as_str(), d.target.as_str()),
            ("POST", "/app/x?y=1")
        );
    }

    #[test]
    fn originals_count_only_where_forwarded_ones_are_absent() {
        let d = describe(&headers(&[
            ("x-forwarded-method", "GET"),
            ("x-original-method", "DELETE"),
            ("x-forwarded-host", "a.example"),
            ("x-original-url", "https://b.example/other"),
            ("x-original-uri", "/from-original"),
        ]))
        .unwrap();
        assert_eq!(d.method, "GET");
        assert_eq!(d.host, "a.example");
        assert_eq!(d.scheme, "https");
        assert_eq!(d.target, "/from-original");
        let only_url = describe(&headers(&[
            ("x-original-method", "PUT"),
            ("x-original-url", "http://c.example:8080/p?q"),
        ]))
        .unwrap();
        assert_eq!(only_url.origin(), "http://c.example:8080");
        assert_eq!(
            (only_url.method.as_str(), only_url.target.as_str()),
            ("PUT", "/p?q")
        );
    }

    #[test]
    fn bad_descriptions_are_named() {
        let base = [("x-forwarded-host", "a"), ("x-forwarded-uri", "/")];
        let field = |extra: &[(&'static str, &str)]| {
            let mut all: Vec<(&'static str, &str)> = base.to_vec();
            all.extend_from_slice(extra);
            describe(&headers(&all)).unwrap_err()
        };
        assert_eq!(field(&[]), missing("method"));
        assert_eq!(field(&[("x-forwarded-method", "get")]), invalid("method"));
        assert_eq!(
            field(&[("x-forwarded-method", "GETTTTTTTTTTTTTTT")]),
            invalid("method")
        );
        assert_eq!(
            field(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-method", "POST")
            ]),
            invalid("method")
        );
        assert_eq!(
            field(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-proto", "gopher")
            ]),
            invalid("proto")
        );
        let no_host = describe(&headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/"),
        ]));
        assert_eq!(no_host.unwrap_err(), missing("host"));
        let relative = describe(&headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-uri", "app"),
        ]));
        assert_eq!(relative.unwrap_err(), invalid("uri"));
    }
}
