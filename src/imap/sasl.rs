//! SASL client responses, base64-encoded, with no I/O: PLAIN (RFC 4616), XOAUTH2 (Google's
//! profile) and OAUTHBEARER (RFC 7628 §3.1), sent by AUTHENTICATE (RFC 3501 §6.2.2).

fn b64(raw: &[u8]) -> String {
    use base64::Engine;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl() {
        assert_eq!(
            sasl_plain("tim", "tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
        use base64::Engine;
        let d = |s: String| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        assert_eq!(
            d(sasl_xoauth2("u@x", "tok")),
            b"user=u@x\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            d(sasl_oauthbearer("a,b=c", "tok")),
            b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"
        );
    }
}
