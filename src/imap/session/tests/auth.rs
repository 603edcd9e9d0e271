//! LOGIN and AUTHENTICATE.

use super::*;

#[test]
fn login_quoting_and_literals() {
    let (m, w) = mock(
        b"* OK [CAPABILITY IMAP4rev1] hi\r\nA0001 OK [CAPABILITY IMAP4rev1 IDLE] in\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    s.login("al\"ice", "p\\w\"d", AuthMethod::Auto).unwrap();
    assert_eq!(text(&w), "A0001 LOGIN \"al\\\"ice\" \"p\\\\w\\\"d\"\r\n");
    assert!(s.capabilities().has("IDLE"));

    // Non-ASCII password: a synchronizing literal, sent after the continuation.
    let (m, w) = mock(
        b"* OK [CAPABILITY IMAP4rev1] hi\r\n+ go on\r\nA0001 OK in\r\n* CAPABILITY IMAP4rev1\r\nA0002 OK done\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    s.login("bob", "pässword", AuthMethod::Login).unwrap();
    assert_eq!(
        text(&w),
        "A0001 LOGIN \"bob\" {9}\r\npässword\r\nA0002 CAPABILITY\r\n"
    );

    // With LITERAL+: no wait.
    let (m, w) = mock(
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\nA0001 OK [CAPABILITY IMAP4rev1] in\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    s.login("bob", "pässword", AuthMethod::Login).unwrap();
    assert_eq!(text(&w), "A0001 LOGIN \"bob\" {9+}\r\npässword\r\n");

    // LOGINDISABLED.
    let (m, w) = mock(
        b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    assert!(matches!(
        s.login("a", "b", AuthMethod::Auto),
        Err(SourceError::Unavailable(_))
    ));
    assert!(w.borrow().is_empty());
}

#[test]
fn login_failures() {
    let (mut s, _) = session(b"A0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    let e = s.login("a", "b", AuthMethod::Auto).unwrap_err();
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");

    let (mut s, _) = session(b"A0001 NO [UNAVAILABLE] try later\r\n");
    let e = s.login("a", "b", AuthMethod::Auto).unwrap_err();
    assert!(matches!(e, SourceError::Temporary(_)), "{e:?}");

    let (mut s, _) = session(b"A0001 NO [INUSE] busy\r\n");
    let e = s.login("a", "b", AuthMethod::Auto).unwrap_err();
    assert!(matches!(e, SourceError::Unavailable(_)), "{e:?}");

    let (mut s, _) = session(b"A0001 NO bad password\r\n");
    let e = s.login("a", "b", AuthMethod::Login).unwrap_err();
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");

    let (mut s, _) = session(b"A0001 BAD what?\r\n");
    let e = s.login("a", "b", AuthMethod::Login).unwrap_err();
    assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
}

#[test]
fn authenticate_plain_with_and_without_sasl_ir() {
    let (mut s, w) = session(b"A0001 OK [CAPABILITY IMAP4rev1] in\r\n");
    s.login("tim", "tanstaaftanstaaf", AuthMethod::Auto)
        .unwrap();
    assert_eq!(
        text(&w),
        "A0001 AUTHENTICATE PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"
    );

    let (m, w) = mock(
        b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n+ \r\nA0001 OK [CAPABILITY IMAP4rev1] in\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    s.login("tim", "tanstaaftanstaaf", AuthMethod::Plain)
        .unwrap();
    assert_eq!(
        text(&w),
        "A0001 AUTHENTICATE PLAIN\r\nAHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"
    );
}

#[test]
fn xoauth2_error_challenge() {
    let (m, w) = mock(
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\nA0001 NO [AUTHENTICATIONFAILED] invalid\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    let e = s
        .login("u", "ya29.s3cr3t", AuthMethod::XOAuth2)
        .unwrap_err();
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");
    // The challenge is decoded into what went wrong and what to do.
    let m = e.to_string();
    assert!(m.contains("expired or was revoked"), "{m}");
    assert!(m.contains("[AUTHENTICATIONFAILED] invalid"), "{m}");
    assert!(m.contains("mailpull auth login"), "{m}");
    assert!(!m.contains("s3cr3t"), "{m}");
    let t = text(&w);
    assert!(t.starts_with("A0001 AUTHENTICATE XOAUTH2 "), "{t}");
    assert!(t.ends_with("\r\n\r\n"), "{t:?}");

    // OAUTHBEARER without SASL-IR: the response after `+ `, the error challenge answered with
    // %x01 (RFC 7628 §3.2.3).
    let json = br#"{"status":"insufficient_scope","scope":"https://outlook.office.com/IMAP.AccessAsUser.All"}"#;
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(json);
    let script = format!(
        "* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi\r\n+ \r\n+ {b}\r\nA0001 NO failed\r\n"
    );
    let (m, w) = mock(script.as_bytes(), usize::MAX);
    let mut s = Session::start(m).unwrap();
    let e = s.login("u", "tok", AuthMethod::OAuthBearer).unwrap_err();
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("not issued for scope https://outlook.office.com/IMAP.AccessAsUser.All"),
        "{m}"
    );
    let t = text(&w);
    assert!(t.starts_with("A0001 AUTHENTICATE OAUTHBEARER\r\n"), "{t}");
    assert!(t.ends_with("\r\nAQ==\r\n"), "{t:?}");
    // Not offered.
    let (mut s, _) = session(b"");
    assert!(matches!(
        s.login("u", "tok", AuthMethod::OAuthBearer),
        Err(SourceError::Unavailable(_))
    ));
}
