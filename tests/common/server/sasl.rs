//! SASL PLAIN (RFC 4616), XOAUTH2 and OAUTHBEARER (RFC 7628) as the scripted servers read
//! them, the error challenge an OAuth 2 server sends for a token it refuses, and the base64 they
//! travel in.

/// A SASL PLAIN client response, decoded.
pub enum Plain {
    /// `*`: the client cancelled.
    Cancelled,
    /// Not valid base64.
    NotBase64,
    /// Not `authzid NUL authcid NUL passwd`.
    Malformed,
    Credentials {
        authzid: String,
        user: String,
        password: String,
    },
}

/// Decodes a PLAIN response line (without its line end); `=` is the empty response.
pub fn plain(response: &str) -> Plain {
    if response == "*" {
        return Plain::Cancelled;
    }
    let decoded = if response == "=" {
        Some(Vec::new())
    } else {
        base64_decode(response)
    };
    let Some(decoded) = decoded else {
        return Plain::NotBase64;
    };
    let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
    let [authzid, user, password] = parts.as_slice() else {
        return Plain::Malformed;
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Plain::Credentials {
        authzid: text(authzid),
        user: text(user),
        password: text(password),
    }
}

/// The OAuth 2 access tokens the servers accept for [`super::USER`]: a short one (its AUTH line
/// fits in 255 octets) and a long one (it does not).
pub const TOKEN: &str = "ya29.scripted-access-token";
pub fn long_token() -> String {
    format!("ya29.{}", "L0ngT0ken".repeat(30))
}

/// The JSON an XOAUTH2 server sends (base64) for a token it refuses (Google's).
pub const XOAUTH2_ERROR: &str =
    r#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
/// The JSON an OAUTHBEARER server sends (RFC 7628 §3.2.2).
pub const OAUTHBEARER_ERROR: &str = r#"{"status":"invalid_token","scope":"mail","openid-configuration":"https://auth.example/.well-known/openid-configuration"}"#;

/// An XOAUTH2 or OAUTHBEARER client response, decoded.
pub enum OAuth {
    /// `*`: the client cancelled.
    Cancelled,
    /// Not valid base64, or not the mechanism's format.
    Malformed,
    Credentials {
        user: String,
        token: String,
    },
}

/// Decodes an XOAUTH2 (`user=U^Aauth=Bearer T^A^A`) or OAUTHBEARER (`n,a=U,^Aauth=Bearer
/// T^A^A`) response line.
pub fn oauth(mech: &str, response: &str) -> OAuth {
    if response == "*" {
        return OAuth::Cancelled;
    }
    let Some(raw) = base64_decode(response) else {
        return OAuth::Malformed;
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some(body) = text.strip_suffix("\x01\x01") else {
        return OAuth::Malformed;
    };
    let (user, auth) = if mech.eq_ignore_ascii_case("XOAUTH2") {
        match body.split_once('\x01') {
            Some((u, a)) => (u.strip_prefix("user=").map(str::to_string), a),
            None => return OAuth::Malformed,
        }
    } else {
        match body.split_once(",\x01") {
            Some((gs2, a)) => (
                gs2.strip_prefix("n,a=")
                    .map(|u| u.replace("=2C", ",").replace("=3D", "=")),
                a,
            ),
            None => return OAuth::Malformed,
        }
    };
    match (user, auth.strip_prefix("auth=Bearer ")) {
        (Some(user), Some(token)) => OAuth::Credentials {
            user,
            token: token.to_string(),
        },
        _ => OAuth::Malformed,
    }
}

/// Whether `token` is one the servers accept.
pub fn token_ok(token: &str) -> bool {
    token == TOKEN || token == long_token()
}

/// The dummy response a client must send after an error challenge (RFC 7628 §3.2.3).
pub fn error_response(mech: &str) -> &'static str {
    if mech.eq_ignore_ascii_case("XOAUTH2") {
        ""
    } else {
        "AQ=="
    }
}

/// The error challenge's JSON for `mech`.
pub fn error_json(mech: &str) -> &'static str {
    if mech.eq_ignore_ascii_case("XOAUTH2") {
        XOAUTH2_ERROR
    } else {
        OAUTHBEARER_ERROR
    }
}

/// Decodes standard base64 (with padding); `None` if invalid.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * pad as u32;
        let b = acc.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

/// Encodes standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut b = [0u8; 3];
        b[..chunk.len()].copy_from_slice(chunk);
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
