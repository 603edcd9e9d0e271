//! SASL client mechanisms with no I/O, shared by POP3 (`AUTH`, RFC 5034), IMAP (`AUTHENTICATE`,
//! RFC 3501 §6.2.2) and SMTP (`AUTH`, RFC 4954): the client responses of PLAIN (RFC 4616),
//! XOAUTH2 (Google's profile) and OAUTHBEARER (RFC 7628 §3.1), base64-encoded, and the decoding
//! of an OAuth 2 server's error challenge into a message that tells the user what to do.
//!
//! When an XOAUTH2 or OAUTHBEARER server refuses a token it does not answer with a failure at
//! once: it sends a challenge carrying base64 JSON — XOAUTH2:
//! `{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`, OAUTHBEARER (RFC
//! 7628 §3.2.2): `{"status":"invalid_token","scope":…,"openid-configuration":…}`. The client
//! must answer it with a dummy response ([`OAuthMechanism::error_response`]: an empty one for
//! XOAUTH2, `%x01` for OAUTHBEARER, RFC 7628 §3.2.3) and then gets the failure (`NO`, `-ERR`,
//! `535`). [`OAuthChallenge::decode`] reads the JSON; [`oauth_refused`] turns it and the
//! server's final words into the error text.
//!
//! The challenge is the server's: every value taken from it is reduced to printable ASCII and
//! cut short, so the message is safe on a terminal. It never holds the token.
//!
//! Floor 1 (mechanisms): imports nothing of mailpull's.

use base64::Engine;

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The SASL PLAIN response (RFC 4616 §2), base64-encoded: `\0user\0password`.
pub fn sasl_plain(user: &str, password: &str) -> String {
    b64(format!("\0{user}\0{password}").as_bytes())
}

/// The XOAUTH2 response (Google's SASL profile), base64-encoded:
/// `user=U\x01auth=Bearer TOKEN\x01\x01`.
pub fn sasl_xoauth2(user: &str, token: &str) -> String {
    b64(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes())
}

/// The OAUTHBEARER initial response (RFC 7628 §3.1), base64-encoded:
/// `n,a=U,\x01auth=Bearer TOKEN\x01\x01`, with `,` and `=` in the user name escaped as
/// `=2C` and `=3D` (RFC 5801 `saslname`).
pub fn sasl_oauthbearer(user: &str, token: &str) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    b64(format!("n,a={user},\x01auth=Bearer {token}\x01\x01").as_bytes())
}

/// An OAuth 2 SASL mechanism: the secret is an access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthMechanism {
    /// XOAUTH2 (Google's and Microsoft's profile).
    XOAuth2,
    /// OAUTHBEARER (RFC 7628).
    OAuthBearer,
}

impl OAuthMechanism {
    /// The mechanism's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            OAuthMechanism::XOAuth2 => "XOAUTH2",
            OAuthMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The client's (initial) response, base64-encoded. Holds the token: never log it.
    pub fn response(self, user: &str, token: &str) -> String {
        match self {
            OAuthMechanism::XOAuth2 => sasl_xoauth2(user, token),
            OAuthMechanism::OAuthBearer => sasl_oauthbearer(user, token),
        }
    }

    /// What the client sends in answer to an error challenge, base64-encoded: an empty line
    /// for XOAUTH2, `%x01` for OAUTHBEARER (RFC 7628 §3.2.3). The server then fails the
    /// exchange.
    pub fn error_response(self) -> &'static str {
        match self {
            OAuthMechanism::XOAuth2 => "",
            OAuthMechanism::OAuthBearer => "AQ==",
        }
    }
}

/// Why the server refused the token, as its error challenge says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OAuthReason {
    /// `401` / `invalid_token`: expired, revoked, or never issued for this server.
    InvalidToken,
    /// `403` / `insufficient_scope`: the token was not issued for the scope the server needs.
    InsufficientScope,
    /// `400` / `invalid_request`: the request did not fit the token, most often a user name
    /// other than the one the token was issued to.
    InvalidRequest,
    /// Another status (printable ASCII, cut short).
    Other(String),
    /// No status, or a challenge that is not base64 JSON.
    Unreadable,
}

/// A server's error challenge, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthChallenge {
    pub reason: OAuthReason,
    /// The scope the server asks for (printable ASCII, cut short), if it names one.
    pub scope: Option<String>,
}

/// The longest challenge decoded; real ones are about a hundred bytes.
const MAX_CHALLENGE: usize = 16 * 1024;
/// The longest value quoted from a challenge.
const MAX_VALUE: usize = 200;

/// A value from the server made printable: ASCII graphic characters and single spaces only,
/// at most [`MAX_VALUE`] characters; `None` if nothing is left.
fn printable(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= MAX_VALUE {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() {
            out.push(c);
        } else if (c == ' ' || c == '\t') && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    let out = out.trim_end().to_string();
    (!out.is_empty()).then_some(out)
}

impl OAuthChallenge {
    /// Decodes a challenge as it came after `+ ` or `334 `: base64 (padding optional) of a JSON
    /// object. Anything else is [`OAuthReason::Unreadable`]; never fails.
    pub fn decode(challenge: &[u8]) -> OAuthChallenge {
        let unreadable = OAuthChallenge {
            reason: OAuthReason::Unreadable,
            scope: None,
        };
        let text = challenge.trim_ascii();
        if text.len() > MAX_CHALLENGE {
            return unreadable;
        }
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        match engine.decode(text) {
            Ok(json) => OAuthChallenge::from_json(&json),
            Err(_) => unreadable,
        }
    }

    /// Reads a challenge already decoded from base64 (IMAP's parser does that): a JSON object.
    pub fn from_json(json: &[u8]) -> OAuthChallenge {
        let unreadable = OAuthChallenge {
            reason: OAuthReason::Unreadable,
            scope: None,
        };
        if json.len() > MAX_CHALLENGE {
            return unreadable;
        }
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(json) else {
            return unreadable;
        };
        let field = |name: &str| match map.get(name) {
            Some(serde_json::Value::String(s)) => printable(s),
            Some(serde_json::Value::Number(n)) => printable(&n.to_string()),
            _ => None,
        };
        let reason = match field("status") {
            None => OAuthReason::Unreadable,
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "401" | "invalid_token" => OAuthReason::InvalidToken,
                "403" | "insufficient_scope" => OAuthReason::InsufficientScope,
                "400" | "invalid_request" => OAuthReason::InvalidRequest,
                _ => OAuthReason::Other(s),
            },
        };
        OAuthChallenge {
            reason,
            scope: field("scope"),
        }
    }

    /// What the refusal means, for the user (one line, printable ASCII apart from `…`).
    pub fn explain(&self) -> String {
        let expects = match &self.scope {
            Some(s) => format!(" (the server expects a token for scope {s})"),
            None => String::new(),
        };
        match &self.reason {
            OAuthReason::InvalidToken => {
                format!("the OAuth 2 access token has expired or was revoked{expects}")
            }
            OAuthReason::InsufficientScope => match &self.scope {
                Some(s) => format!("the OAuth 2 access token was not issued for scope {s}"),
                None => "the OAuth 2 access token lacks a scope the server needs".to_string(),
            },
            OAuthReason::InvalidRequest => format!(
                "the OAuth 2 access token does not fit the request: it was most likely issued \
                 to another user than the one logging in{expects}"
            ),
            OAuthReason::Other(status) => {
                format!("the server refused the OAuth 2 access token (status {status}){expects}")
            }
            OAuthReason::Unreadable => {
                "the server refused the OAuth 2 access token (its error challenge could not be \
                 read)"
                    .to_string()
            }
        }
    }

    /// What the user should do about it (one line).
    pub fn advice(&self) -> String {
        match (&self.reason, &self.scope) {
            (OAuthReason::InsufficientScope, Some(s)) => format!(
                "get a token issued for scope {s}: run `mailpull auth login ACCOUNT` if mailpull \
                 keeps the account's tokens, else change the scopes your token helper asks for"
            ),
            (OAuthReason::InvalidRequest, _) => "check that the account's user name is the \
                 address the token was issued to, or get a new token"
                .to_string(),
            _ => TOKEN_ADVICE.to_string(),
        }
    }
}

/// The advice when an OAuth 2 token was refused for no stated reason.
pub const TOKEN_ADVICE: &str = "get a new access token: run `mailpull auth login ACCOUNT` if \
     mailpull keeps the account's tokens, else check the command that prints the token";

/// The text of an authentication error after an OAuth 2 mechanism failed: what the error
/// challenge said (if the server sent one), what the server said at the end (`said`, quoted by
/// the caller, may be empty), and what to do.
pub fn oauth_refused(
    mech: OAuthMechanism,
    challenge: Option<&OAuthChallenge>,
    said: &str,
) -> String {
    let said = if said.is_empty() {
        String::new()
    } else {
        format!("; the server said: {said}")
    };
    match challenge {
        Some(c) => format!(
            "the server refused the {} login: {}{said}\n  ({})",
            mech.name(),
            c.explain(),
            c.advice()
        ),
        None => format!(
            "the server refused the {} login{said}\n  (check the user name; {TOKEN_ADVICE})",
            mech.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: String) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    #[test]
    fn responses() {
        assert_eq!(
            sasl_plain("tim", "tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
        assert_eq!(
            d(sasl_xoauth2("u@x", "tok")),
            b"user=u@x\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            d(sasl_oauthbearer("a,b=c", "tok")),
            b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            OAuthMechanism::OAuthBearer.response("u", "t"),
            sasl_oauthbearer("u", "t")
        );
        assert_eq!(
            d(OAuthMechanism::OAuthBearer.error_response().into()),
            b"\x01"
        );
        assert_eq!(OAuthMechanism::XOAuth2.error_response(), "");
    }

    fn challenge(json: &str) -> OAuthChallenge {
        OAuthChallenge::decode(b64(json.as_bytes()).as_bytes())
    }

    #[test]
    fn google_expired_token() {
        let c =
            challenge(r#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#);
        assert_eq!(c.reason, OAuthReason::InvalidToken);
        assert_eq!(c.scope.as_deref(), Some("https://mail.google.com/"));
        let m = oauth_refused(OAuthMechanism::XOAuth2, Some(&c), "-ERR bad");
        assert!(m.contains("expired or was revoked"), "{m}");
        assert!(m.contains("https://mail.google.com/"), "{m}");
        assert!(m.contains("mailpull auth login"), "{m}");
        assert!(m.contains("-ERR bad"), "{m}");
    }

    #[test]
    fn oauthbearer_statuses() {
        let c = challenge(
            r#"{"status":"insufficient_scope","scope":"mail imap","openid-configuration":"https://x/.well-known/openid-configuration"}"#,
        );
        assert_eq!(c.reason, OAuthReason::InsufficientScope);
        assert!(c.explain().contains("scope mail imap"), "{}", c.explain());
        assert!(c.advice().contains("scope mail imap"), "{}", c.advice());
        let c = challenge(r#"{"status":"invalid_request"}"#);
        assert_eq!(c.reason, OAuthReason::InvalidRequest);
        assert!(c.advice().contains("user name"));
        let c = challenge(r#"{"status":"invalid_token"}"#);
        assert_eq!(c.reason, OAuthReason::InvalidToken);
        // A number, and an unknown status.
        assert_eq!(
            challenge(r#"{"status":401}"#).reason,
            OAuthReason::InvalidToken
        );
        assert_eq!(
            challenge(r#"{"status":"418"}"#).reason,
            OAuthReason::Other("418".into())
        );
        // Padding is optional.
        let raw = b64(br#"{"status":"400"}"#);
        let c = OAuthChallenge::decode(raw.trim_end_matches('=').as_bytes());
        assert_eq!(c.reason, OAuthReason::InvalidRequest);
    }

    #[test]
    fn hostile_challenges() {
        for bad in [&b""[..], b"not base64!", b"eyJ", b"WzFd", b"bnVsbA=="] {
            assert_eq!(OAuthChallenge::decode(bad).reason, OAuthReason::Unreadable);
        }
        // Control characters and long values never reach the message.
        let long = "x".repeat(5000);
        let c = challenge(&format!(
            r#"{{"status":"\u001b]0;pwned\u0007 x","scope":"{long}"}}"#
        ));
        let m = oauth_refused(OAuthMechanism::OAuthBearer, Some(&c), "");
        assert!(!m.chars().any(|c| c.is_control() && c != '\n'), "{m:?}");
        assert!(m.len() < 1200, "{}", m.len());
        // Without a challenge.
        let m = oauth_refused(OAuthMechanism::XOAuth2, None, "NO denied");
        assert!(
            m.contains("NO denied") && m.contains("new access token"),
            "{m}"
        );
    }
}
