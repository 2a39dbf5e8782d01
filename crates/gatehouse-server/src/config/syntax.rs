//! The written forms of settings: durations (`90s`, `15m`, `12h`, `30d`), rates
//! (`COUNT/DURATION`), comma lists, origins and the public URL.

use std::time::Duration;

use super::Rate;

pub(super) fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `90s`, `15m`, `12h`, `30d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let unit = s.chars().last().ok_or("empty duration")?;
    let secs_per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => {
            return Err(format!(
                "expected a duration like 90s, 15m, 12h or 30d, got {s:?}"
            ));
        }
    };
    let n: u64 = s[..s.len() - 1]
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a positive whole number before the unit, got {s:?}"))?;
    n.checked_mul(secs_per)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration too large: {s:?}"))
}

/// `COUNT/DURATION`, e.g. `10/15m`.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let (count, per) = s
        .split_once('/')
        .ok_or_else(|| format!("expected COUNT/DURATION like 10/15m, got {s:?}"))?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("bad count in {s:?}"))?;
    Ok(Rate {
        count,
        per: parse_duration(per)?,
    })
}

/// `scheme://host[:port]` with nothing after it.
pub(super) fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("expected an origin like https://app.example.com, got {s:?}"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "expected an origin (scheme://host[:port]) with no path, got {s:?}"
        ));
    }
    Ok(s.to_ascii_lowercase())
}

/// An http(s) URL; kept without a trailing slash.
pub(super) fn parse_public_url(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("expected http:// or https:// URL, got {s:?}"))?;
    if rest.is_empty() || rest.contains(['?', '#', '@', ' ']) {
        return Err(format!("not a usable URL: {s:?}"));
    }
    Ok(s.to_owned())
}

/// The origin (`scheme://host[:port]`) of a public URL.
#[must_use]
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}").to_ascii_lowercase()
}
