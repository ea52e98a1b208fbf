//! Lenient field readers for third-party JSON. Outside services change shapes, send numbers as
//! strings, `null` for lists and `"N/A"` for numbers; none of that may cost us the rest of an
//! answer. Each reader turns what it cannot use into "absent" instead of failing the parse.
//!
//! Use as `#[serde(default, deserialize_with = "lenient::opt_u64")]`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Why a source's answer could not be read. The text goes into the report as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or JSON in another shape than the source documents.
    #[error("{0}")]
    Json(String),
    #[error("the answer is not a JSON object")]
    NotObject,
    /// A part the source always sends is missing: `"data"`.
    #[error("no {0:?} object")]
    Missing(&'static str),
    /// The source said in the body what went wrong (an error inside a 200 answer).
    #[error("{0}")]
    Said(String),
}

impl From<serde_json::Error> for BodyError {
    fn from(e: serde_json::Error) -> Self {
        BodyError::Json(e.to_string())
    }
}

/// Parses a body that must be a JSON object (a derived struct would also take an array, reading
/// its fields by position, which turns garbage into data).
pub fn object<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, BodyError> {
    let v: Value = serde_json::from_str(body)?;
    if !v.is_object() {
        return Err(BodyError::NotObject);
    }
    Ok(serde_json::from_value(v)?)
}

/// A number, or a string holding one; anything else is `None`.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(as_u64(&Value::deserialize(d)?))
}

/// A signed number, or a string holding one.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(as_i64(&Value::deserialize(d)?))
}

/// A string; a number or bool is turned into its text; empty strings are `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(as_string(&Value::deserialize(d)?))
}

/// A bool, or `"true"`/`"false"`/`1`/`0`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(as_bool(&Value::deserialize(d)?))
}

/// Like [`opt_bool`], with `false` for anything unusable.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(as_bool(&Value::deserialize(d)?).unwrap_or(false))
}

/// A list of strings; non-string items are turned into text or dropped, `null` is empty.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.iter().filter_map(as_string).collect(),
        other => as_string(&other).into_iter().collect(),
    })
}

/// A list of port numbers; anything that is not one is dropped.
pub fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .iter()
            .filter_map(as_u64)
            .filter_map(|n| u16::try_from(n).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// Shodan's `vulns` is a list at the top level but a map keyed by CVE inside banners: take both.
pub fn keys_or_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.iter().filter_map(as_string).collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    })
}

pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() <= i64::MAX as f64)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "opt_u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "opt_i64")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "bool")]
        b: bool,
        #[serde(default, deserialize_with = "strings")]
        l: Vec<String>,
        #[serde(default, deserialize_with = "ports")]
        p: Vec<u16>,
    }

    #[test]
    fn odd_shapes_are_absorbed() {
        let t: T = serde_json::from_str(
            r#"{"n":"42","i":"-11","s":7,"b":"true","l":null,"p":[22,"80",70000,"x"]}"#,
        )
        .unwrap();
        assert_eq!(t.n, Some(42));
        assert_eq!(t.i, Some(-11));
        assert_eq!(t.s.as_deref(), Some("7"));
        assert!(t.b);
        assert!(t.l.is_empty());
        assert_eq!(t.p, vec![22, 80]);
        let t: T = serde_json::from_str(r#"{"n":"N/A","i":null,"s":"","b":null}"#).unwrap();
        assert_eq!((t.n, t.i, t.s, t.b), (None, None, None, false));
        let t: T = serde_json::from_str("{}").unwrap();
        assert_eq!(t.n, None);
    }
}
