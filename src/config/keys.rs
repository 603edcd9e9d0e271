//! How the file's values are read: each key's value is checked while the file is parsed, so
//! that a mistake is reported with the file, the line and the key (sizes, durations, URLs,
//! fingerprints, authentication methods, the delivery target).

use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::values::{check_duration, check_size, parse_size, quote};
use super::{parse_url, Auth, ServerUrl};
use crate::tls::parse_fingerprint;

/// A value checked while the file is parsed; its error carries the line and key.
#[derive(Clone, Debug)]
pub struct Checked<T>(pub T);

/// Reads a scalar (what a size or a duration may be written as) and checks it with `f`;
/// `expected` says what the key takes, for the error when it is something else entirely (a
/// table, an array).
fn checked<'de, D, T, F>(d: D, expected: &'static str, f: F) -> Result<Checked<T>, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(Raw) -> Result<T, String>,
{
    let raw = d.deserialize_any(RawVisitor(expected))?;
    f(raw).map(Checked).map_err(de::Error::custom)
}

/// A scalar as written in the file.
enum Raw {
    Int(i128),
    Str(String),
    Bool(bool),
    Float(f64),
}

impl Raw {
    fn describe(&self) -> String {
        match self {
            Raw::Int(i) => i.to_string(),
            Raw::Str(s) => quote(s),
            Raw::Bool(b) => b.to_string(),
            Raw::Float(f) => format!("{f:?}"),
        }
    }
}

/// Accepts any scalar; a table or an array is refused with what the key expects.
struct RawVisitor(&'static str);

impl<'de> de::Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Int(i128::try_from(v).unwrap_or(i128::MAX)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Raw, A::Error> {
        Err(de::Error::custom(format!("a table is not {}", self.0)))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Raw, A::Error> {
        Err(de::Error::custom(format!("an array is not {}", self.0)))
    }
}

/// A server URL.
#[derive(Clone, Debug)]
pub struct UrlValue(pub ServerUrl);

impl<'de> Deserialize<'de> for UrlValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_url(&s).map(UrlValue).map_err(de::Error::custom)
    }
}

/// A size (`10MB` or a number of bytes).
#[derive(Clone, Copy, Debug)]
pub struct SizeValue(pub u64);

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SIZE: &str = "a size (examples: \"500k\", \"10MB\", 2048)";
        checked(d, SIZE, |raw| match raw {
            Raw::Int(i) if i >= 0 => u64::try_from(i)
                .map_err(|e| e.to_string())
                .and_then(check_size)
                .map_err(|e| format!("{i}: {e}")),
            Raw::Str(s) => parse_size(&s),
            other => Err(format!("{} is not {SIZE}", other.describe())),
        })
        .map(|c| SizeValue(c.0))
    }
}

/// A duration (`30` seconds, or `30s`, `5m`).
#[derive(Clone, Copy, Debug)]
pub struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const DURATION: &str = "a duration (examples: 30, \"30s\", \"5m\")";
        checked(d, DURATION, |raw| match raw {
            Raw::Int(i) if i > 0 => u64::try_from(i)
                .map(Duration::from_secs)
                .map_err(|e| e.to_string())
                .and_then(check_duration)
                .map_err(|e| format!("{i} seconds: {e}")),
            Raw::Str(s) => match humantime::parse_duration(&s) {
                Ok(d) if !d.is_zero() => {
                    check_duration(d).map_err(|e| format!("{}: {e}", quote(&s)))
                }
                _ => Err(format!("{} is not {DURATION}", quote(&s))),
            },
            other => Err(format!("{} is not {DURATION}", other.describe())),
        })
        .map(|c| DurationValue(c.0))
    }
}

/// A certificate fingerprint.
#[derive(Clone, Copy, Debug)]
pub struct FingerprintValue(pub [u8; 32]);

impl<'de> Deserialize<'de> for FingerprintValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_fingerprint(&s)
            .map(FingerprintValue)
            .map_err(de::Error::custom)
    }
}

/// An authentication method.
#[derive(Clone, Copy, Debug)]
pub struct AuthValue(pub Auth);

impl<'de> Deserialize<'de> for AuthValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "auto" => Ok(AuthValue(Auth::Auto)),
            "user" | "login" => Ok(AuthValue(Auth::User)),
            "plain" => Ok(AuthValue(Auth::Plain)),
            "apop" => Ok(AuthValue(Auth::Apop)),
            "xoauth2" => Ok(AuthValue(Auth::XOAuth2)),
            "oauthbearer" => Ok(AuthValue(Auth::OAuthBearer)),
            other => Err(de::Error::custom(format!(
                "{other:?} is not an authentication method (auto, user, login, plain, apop, \
                 xoauth2, oauthbearer)"
            ))),
        }
    }
}

/// `deliver = { maildir = "…" }`, `{ mbox = "…" }`, `{ mda = "…" }` or `{ stdout = true }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum DeliverValue {
    Maildir(PathBuf),
    Mbox(PathBuf),
    Mda(String),
    Stdout(bool),
}
