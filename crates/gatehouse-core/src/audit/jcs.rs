//! RFC 8785 JSON Canonicalization Scheme: object members sorted by their UTF-16 code units, no
//! insignificant whitespace, strings escaped minimally, numbers in ECMAScript's shortest form.
//! The audit chain hashes this form, so any language's JCS (or JavaScript's `JSON.stringify`
//! with sorted keys) reproduces the bytes. An integer beyond ±2^53 has no exact ECMAScript
//! form: apps may not send one ([`literal_problem`], [`value_problem`]), and one gatehouse made
//! itself is written as the double it rounds to, as `JSON.stringify` would.

use serde_json::Value;

/// 2^53: the largest magnitude up to which every integer is exactly an IEEE double.
pub const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// The canonical text of `value`.
#[must_use]
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_value(out, v);
                }
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) if i.unsigned_abs() <= MAX_EXACT_INTEGER => out.push_str(&i.to_string()),
        (_, Some(u)) if u <= MAX_EXACT_INTEGER => out.push_str(&u.to_string()),
        _ => out.push_str(&es6_number(n.as_f64().unwrap_or(0.0))),
    }
}

/// Why `value` cannot be hashed the same by every RFC 8785 implementation: `Some` when it holds
/// an integer beyond ±2^53 (or a non-finite number).
pub fn value_problem(value: &Value) -> Option<&'static str> {
    match value {
        Value::Number(n) => {
            let too_big = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() > MAX_EXACT_INTEGER,
                (_, Some(u)) => u > MAX_EXACT_INTEGER,
                _ => !n.as_f64().is_some_and(f64::is_finite),
            };
            too_big.then_some(NUMBER_OUT_OF_RANGE)
        }
        Value::Array(items) => items.iter().find_map(value_problem),
        Value::Object(map) => map.values().find_map(value_problem),
        _ => None,
    }
}

/// The validation code for such a number.
pub const NUMBER_OUT_OF_RANGE: &str = "number_out_of_range";

/// The same check on JSON text, before any parser rounds it: an integer literal (no fraction,
/// no exponent) beyond ±2^53, or a number too large for a double (`1e400`, which JavaScript
/// reads as `Infinity`). Strings are skipped; the text need not be valid JSON.
#[must_use]
pub fn literal_problem(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if number_literal_problem(&text[start..i]) {
                    return Some(NUMBER_OUT_OF_RANGE);
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn number_literal_problem(literal: &str) -> bool {
    if literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return literal.parse::<f64>().is_ok_and(|f| !f.is_finite());
    }
    let digits = literal.trim_start_matches('-').trim_start_matches('0');
    digits.len() > 16 || digits.parse::<u64>().is_ok_and(|n| n > MAX_EXACT_INTEGER)
}

/// ECMAScript `Number.prototype.toString` for a finite double (ECMA-262, 7.1.12.1).
pub fn es6_number(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return "0".to_owned();
    }
    // Rust's `{:e}` gives the shortest digits that round-trip: "d.ddde±x". When two strings of
    // that length round-trip, ECMAScript takes the one closest to the exact value (an exact tie:
    // the even one), which is the value correctly rounded to that many digits if it round-trips.
    let shortest = format!("{:e}", f.abs());
    let k = shortest
        .split_once('e')
        .map_or(0, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let closest = format!("{:.*e}", k.saturating_sub(1), f.abs());
    let sci = if closest.parse::<f64>() == Ok(f.abs()) {
        closest
    } else {
        shortest
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut s = String::new();
    if f < 0.0 {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(digits);
        s.push_str(&"0".repeat((n - k) as usize));
    } else if 0 < n && n <= 21 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat((-n) as usize));
        s.push_str(digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if n > 0 { '+' } else { '-' });
        s.push_str(&(n - 1).abs().to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_follow_ecmascript() {
        // Values from RFC 8785 appendix B.
        let cases: [(f64, &str); 12] = [
            (0.0, "0"),
            (-0.0, "0"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (9007199254740992.0, "9007199254740992"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (-5e-324, "-5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (333333333.3333333, "333333333.3333333"),
            (4.5, "4.5"),
        ];
        for (f, want) in cases {
            assert_eq!(es6_number(f), want, "{f:e}");
        }
        assert_eq!(es6_number(0.1 + 0.2), "0.30000000000000004");
        // Two 17-digit strings round-trip; ECMAScript takes the closer (here a tie: the even).
        assert_eq!(
            es6_number(1_984_688_759_617_301.0 + 0.25),
            "1984688759617301.2"
        );
    }

    #[test]
    fn sorts_keys_and_escapes() {
        let v = json!({ "b": [1, "x\n\u{1}\"\\"], "a": { "z": null, "\u{20ac}": true, "1": 2.50 }, "é": "é" });
        assert_eq!(
            canonical(&v),
            "{\"a\":{\"1\":2.5,\"z\":null,\"\u{20ac}\":true},\"b\":[1,\"x\\n\\u0001\\\"\\\\\"],\"é\":\"é\"}"
        );
        // UTF-16 order: U+1F600 (surrogates D83D…) sorts before U+FB33.
        let v = json!({ "\u{fb33}": 1, "\u{1f600}": 2 });
        assert_eq!(canonical(&v), "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }

    #[test]
    fn parsed_numbers_come_out_the_ecmascript_way() {
        for (text, want) in [
            ("1e21", "1e+21"),
            ("1.5e-7", "1.5e-7"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("100.0", "100"),
            ("1E2", "100"),
            ("0.000001", "0.000001"),
            ("9007199254740992", "9007199254740992"),
            ("-9007199254740992", "-9007199254740992"),
            ("100000000000000000000000", "1e+23"),
            // Needs a correctly rounding parser (serde_json's `float_roundtrip`): found by the
            // comparison with an independent implementation.
            ("9.854130713150843e-28", "9.854130713150843e-28"),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(canonical(&v), want, "{text}");
        }
        // An integer gatehouse made itself beyond 2^53 is written as the double it rounds to.
        assert_eq!(canonical(&json!(9007199254740993_u64)), "9007199254740992");
        assert_eq!(canonical(&json!(u64::MAX)), "18446744073709552000");
        assert_eq!(canonical(&json!(i64::MIN)), "-9223372036854776000");
    }

    #[test]
    fn numbers_beyond_exact_doubles_are_found() {
        for bad in [
            r#"{"n": 9007199254740993}"#,
            r#"{"n": -9007199254740993}"#,
            r#"[1, {"a": [18446744073709551616]}]"#,
            r#"{"n": 1e400}"#,
            r#"{"n": -1.5E+309}"#,
        ] {
            assert_eq!(literal_problem(bad), Some(NUMBER_OUT_OF_RANGE), "{bad}");
        }
        for good in [
            r#"{"n": 9007199254740992, "m": -9007199254740992, "f": 1e21, "g": 1e308}"#,
            r#"{"s": "9007199254740993 in a string \" 1e400", "t": -0, "u": 0.5e-400}"#,
            r#"{"k\"": 12345678901234567890.0}"#,
        ] {
            assert_eq!(literal_problem(good), None, "{good}");
        }
        assert_eq!(
            value_problem(&json!({ "a": [1, { "b": 9007199254740993_u64 }] })),
            Some(NUMBER_OUT_OF_RANGE)
        );
        assert_eq!(
            value_problem(&json!({ "a": [1.5, -9007199254740992_i64, 1e300] })),
            None
        );
    }
}
