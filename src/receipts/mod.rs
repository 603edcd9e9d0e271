//! Read receipts (Message Disposition Notifications, RFC 8098): when to offer one, and the
//! one place that decides what happens to a request.
//!
//! Promise 3 of mailpull: no read receipt without the user's consent, and never two for one
//! message. This module holds the policy; the pieces around it:
//! - [`detect`] reads a delivered message's header block and says whether it requests a receipt
//!   that mailpull may answer (RFC 8098 §2.1; never for MDNs and other reports, never for a
//!   malformed or hostile request).
//! - The ledger (`ledger/receipts.rs`) records each request once, by Message-ID across every
//!   account and folder, with its state `pending → approved → sending → sent / declined`.
//! - [`hook::Hook`] is what the fetch engine calls after a mailbox's messages are safely
//!   delivered: it records the requests, asks on a terminal ([`prompt`]) or queues them, sends
//!   ([`mdn`] builds the receipt, [`transport`] submits it with a null envelope sender) and
//!   tells the engine which IMAP messages to flag `$MDNSent` (RFC 3503).
//! - `mailpull receipts` (list, review, send ID, decline ID) is a command: `commands/receipts.rs`.
//!
//! There is no automatic "always": consent is given per message or remembered per sender from
//! an earlier answer ("always/never for this sender").

pub mod hook;
pub mod mdn;
pub mod prompt;
pub mod settings;
pub mod transport;

pub use settings::{check_address, ReceiptPolicy, ReceiptSettings, TransportConfig, MAX_ADDRESS};

/// `transport` with its SMTP token taken from the account's OAuth 2 store (an access token
/// valid now, refreshed if needed) when the account has `oauth2` and the transport logs in
/// with `auth = "xoauth2"` without a `password_command` of its own; else unchanged.
pub fn token_source(
    transport: transport::Transport,
    settings: &ReceiptSettings,
) -> transport::Transport {
    let (Some(o), Some(cfg)) = (&settings.oauth2, &settings.transport) else {
        return transport;
    };
    let user = match &transport {
        transport::Transport::Smtp { user: Some(u), .. } => u.clone(),
        _ => return transport,
    };
    if cfg.auth != Some(settings::SmtpAuth::Xoauth2) || cfg.password_command.is_some() {
        return transport;
    }
    let o = o.clone();
    transport.with_token_source(transport::TokenSource::new(move || {
        crate::oauth::access_token(&o.settings, &user, &o.account).map_err(|e| e.to_string())
    }))
}

use mail_parser::{HeaderForm, HeaderName, HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use crate::ledger::NewReceipt;

/// How an account (whose user name is `user`) handles read receipts, for `mailpull config
/// check`.
pub fn describe(settings: &ReceiptSettings, user: &str) -> String {
    if settings.policy == ReceiptPolicy::Never {
        return "never".into();
    }
    let s = hook::Sending::new(settings, user);
    match (&s.transport, &s.from) {
        (Some(t), Some(from)) => format!("ask; sent via {} from {from}", t.describe()),
        (Some(t), None) => format!(
            "ask; sent via {}, but no from address is set (receipts cannot be sent)",
            t.describe()
        ),
        (None, _) => {
            "ask; no smtp or sendmail under [receipts], so requests are only listed".into()
        }
    }
}

/// The longest text kept for display (From, Subject, Date).
const MAX_DISPLAY: usize = 200;

/// A request mailpull may answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Where the receipt would go (a checked addr-spec).
    pub requester: String,
    /// The original's Message-ID with angle brackets, when it has a well-formed one.
    pub message_id: Option<String>,
    /// The address of the original's `Original-Recipient` field (checked), when present.
    pub original_recipient: Option<String>,
    /// For display: From, Subject, Date of the original (control characters removed).
    pub from: String,
    pub subject: String,
    pub date: String,
    /// What RFC 8098 §2.1 asks the user to be told.
    pub warnings: Vec<String>,
    /// One request per message: the Message-ID, or a digest of the header block.
    pub dedupe_key: String,
}

impl Request {
    /// The ledger record of this request.
    pub fn to_new(&self, key: Option<crate::ledger::MessageKey>) -> NewReceipt {
        NewReceipt {
            dedupe_key: self.dedupe_key.clone(),
            key,
            message_id: self.message_id.clone(),
            requester: self.requester.clone(),
            original_recipient: self.original_recipient.clone(),
            from: self.from.clone(),
            subject: self.subject.clone(),
            date: self.date.clone(),
            warnings: self.warnings.clone(),
        }
    }
}

/// What [`detect`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detection {
    /// No request (no `Disposition-Notification-To`), or one that must never be answered
    /// (the message is itself a report).
    None,
    /// A request to offer to the user.
    Request(Request),
    /// A request mailpull refuses to answer, with the reason (malformed or hostile).
    Refused(String),
}

/// Whether a header block may contain a request: a cheap test before parsing. A field name
/// starts a line, so only the starts of lines (after an LF or a CR, whatever the line ends;
/// blanks skipped, as a lenient parser does) are compared with the name.
pub fn may_request(header: &[u8]) -> bool {
    let needle = b"disposition-notification-to";
    let at = |i: usize| {
        let blanks = header
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        header
            .get(i + blanks..i + blanks + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    };
    at(0) || memchr::memchr2_iter(b'\n', b'\r', header).any(|i| at(i + 1))
}

/// Reads a message's header block (up to the blank line) and decides whether it carries a
/// receipt request mailpull may answer (RFC 8098 §2.1).
pub fn detect(header: &[u8]) -> Detection {
    if !may_request(header) {
        return Detection::None;
    }
    let Some(msg) = MessageParser::new().parse_headers(header) else {
        return Detection::None;
    };
    let dnt = msg.header_as(HeaderName::DispositionNotificationTo, HeaderForm::Addresses);
    if dnt.is_empty() {
        return Detection::None;
    }
    // An MDN or delivery report never gets a receipt (RFC 8098 §2.1, RFC 6522 §1).
    if let Some(ct) = msg.content_type() {
        if ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        {
            return Detection::None;
        }
    }
    if dnt.len() > 1 {
        return Detection::Refused(
            "the message has several Disposition-Notification-To fields".into(),
        );
    }
    let mut addrs: Vec<String> = Vec::new();
    if let Some(HeaderValue::Address(a)) = dnt.first() {
        for addr in a.iter() {
            match addr.address() {
                Some(s) => addrs.push(s.to_string()),
                None => {
                    return Detection::Refused(
                        "the Disposition-Notification-To field holds something that is not an \
                         address"
                            .into(),
                    )
                }
            }
        }
    }
    let Some(first) = addrs.first() else {
        return Detection::Refused(
            "the Disposition-Notification-To field is empty or malformed".into(),
        );
    };
    if let Err(why) = check_address(first) {
        return Detection::Refused(format!("the receipt address is not acceptable: {why}"));
    }
    let requester = first.clone();
    let mut warnings = Vec::new();
    if addrs.len() > 1 {
        warnings.push(format!(
            "the request names {} addresses; a receipt would go to the first one only ({requester})",
            addrs.len()
        ));
    }
    let return_path = msg
        .header_as(HeaderName::ReturnPath, HeaderForm::Addresses)
        .into_iter()
        .next()
        .and_then(|v| match v {
            HeaderValue::Address(a) => a.first().and_then(|a| a.address()).map(str::to_string),
            _ => None,
        });
    match return_path {
        Some(rp) if rp.eq_ignore_ascii_case(&requester) => {}
        Some(rp) => warnings.push(format!(
            "the receipt address differs from the Return-Path ({})",
            display(&rp)
        )),
        None => warnings
            .push("the message has no Return-Path to compare the receipt address with".into()),
    }
    let message_id = crate::source::message_id(header).and_then(|id| normalize_message_id(&id));
    let original_recipient = msg
        .header_raw(HeaderName::OriginalRecipient)
        .and_then(original_recipient);
    let text = |name: HeaderName<'static>| -> String {
        msg.header_as(name, HeaderForm::Text)
            .into_iter()
            .next()
            .and_then(|v| match v {
                HeaderValue::Text(t) => Some(display(&t)),
                _ => None,
            })
            .unwrap_or_default()
    };
    let from = text(HeaderName::From);
    let subject = text(HeaderName::Subject);
    let date = text(HeaderName::Date);
    let dedupe_key = match &message_id {
        Some(id) => id.clone(),
        None => {
            let normalized: Vec<u8> = header.iter().copied().filter(|b| *b != b'\r').collect();
            format!("sha256:{}", hex::encode(Sha256::digest(&normalized)))
        }
    };
    Detection::Request(Request {
        requester,
        message_id,
        original_recipient,
        from,
        subject,
        date,
        warnings,
        dedupe_key,
    })
}

/// `<id>` if `id` is a well-formed msg-id without anything that could break a header.
fn normalize_message_id(id: &str) -> Option<String> {
    let inner = id.trim().strip_prefix('<')?.strip_suffix('>')?;
    let ok = !inner.is_empty()
        && inner.len() <= 250
        && inner.contains('@')
        && inner
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>\"\\".contains(&b));
    ok.then(|| format!("<{inner}>"))
}

/// The address of an `Original-Recipient: rfc822;ADDRESS` field (RFC 8098 §3.2.3), if valid.
fn original_recipient(raw: &str) -> Option<String> {
    let (kind, addr) = raw.trim().split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("rfc822") {
        return None;
    }
    let addr = addr.trim();
    check_address(addr).ok()?;
    Some(addr.to_string())
}

/// Text from a header for display: control characters (CR, LF, ESC…) become spaces, runs of
/// space shrink, and it is cut to a readable length.
pub fn display(s: &str) -> String {
    crate::select::fit(&crate::select::clean(s), MAX_DISPLAY + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether mail-parser finds a `Disposition-Notification-To` field in `header`, without
    /// the prefilter.
    fn parser_finds_dnt(header: &[u8]) -> bool {
        MessageParser::new().parse_headers(header).is_some_and(|m| {
            !m.header_as(HeaderName::DispositionNotificationTo, HeaderForm::Addresses)
                .is_empty()
        })
    }

    #[test]
    fn the_prefilter_lets_every_request_through() {
        let field = "Disposition-Notification-To: <a@example.org>";
        let mut shapes = 0;
        for name in [field, &field.to_lowercase(), &field.to_uppercase()] {
            for eol in ["\r\n", "\n", "\r"] {
                for before in [
                    "",
                    "Subject: hi",
                    "Subject: hi\r\n\tfolded",
                    " x: y",
                    "From: b",
                ] {
                    for lead in ["", " ", "\t"] {
                        let mut h = String::new();
                        if !before.is_empty() {
                            h.push_str(before);
                            h.push_str(eol);
                        }
                        h.push_str(lead);
                        h.push_str(name);
                        h.push_str(eol);
                        h.push_str("To: c@example.org");
                        h.push_str(eol);
                        h.push_str(eol);
                        if parser_finds_dnt(h.as_bytes()) {
                            shapes += 1;
                            assert!(may_request(h.as_bytes()), "{h:?}");
                        }
                    }
                }
            }
        }
        assert!(shapes >= 15, "only {shapes} shapes carried a request");
        assert!(!may_request(
            b"Subject: disposition-notification-to\r\n\r\n"
        ));
        assert!(!may_request(b"Subject: a\r\n\r\n"));
    }

    fn req(h: &str) -> Request {
        match detect(h.as_bytes()) {
            Detection::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn no_header_no_request() {
        assert_eq!(
            detect(b"From: a@b.example\nSubject: hi\n\n"),
            Detection::None
        );
        assert_eq!(detect(b""), Detection::None);
    }

    #[test]
    fn a_plain_request() {
        let r = req(
            "Return-Path: <alice@example.org>\nFrom: Alice <alice@example.org>\n\
                     Subject: =?utf-8?q?caf=C3=A9?=\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\
                     Message-ID: <m1@example.org>\n\
                     Disposition-Notification-To: Alice <Alice@example.org>\n\
                     Original-Recipient: rfc822;bob@example.net\n\n",
        );
        assert_eq!(r.requester, "Alice@example.org");
        assert_eq!(r.message_id.as_deref(), Some("<m1@example.org>"));
        assert_eq!(r.dedupe_key, "<m1@example.org>");
        assert_eq!(r.original_recipient.as_deref(), Some("bob@example.net"));
        assert_eq!(r.subject, "café");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn warnings_for_return_path_and_several_addresses() {
        let r = req(
            "Return-Path: <bounce@lists.example>\nMessage-ID: <m2@x.example>\n\
                     Disposition-Notification-To: a@x.example, b@y.example\n\n",
        );
        assert_eq!(r.requester, "a@x.example");
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("2 addresses"));
        assert!(r.warnings[1].contains("Return-Path"));
        let r = req("Disposition-Notification-To: a@x.example\n\n");
        assert!(r.warnings[0].contains("no Return-Path"));
        assert!(r.dedupe_key.starts_with("sha256:"));
    }

    #[test]
    fn reports_are_never_answered() {
        let h = "Content-Type: multipart/report; report-type=disposition-notification;\n \
                 boundary=x\nDisposition-Notification-To: a@x.example\n\n";
        assert_eq!(detect(h.as_bytes()), Detection::None);
    }

    #[test]
    fn hostile_requests_are_refused_or_made_safe() {
        // A CR/LF in the display name: either it ends the field (the quote is then unclosed
        // and the request refused) or it folds the line (the name is never used; the address
        // is checked).
        assert!(matches!(
            detect(b"Disposition-Notification-To: \"Evil\r\nBcc: victim@x.example\" <a@x.example>\r\n\r\n"),
            Detection::Refused(_)
        ));
        let r = req(
            "Disposition-Notification-To: \"Evil\r\n Bcc: victim@x.example\" <a@x.example>\r\n\r\n",
        );
        assert_eq!(r.requester, "a@x.example");
        let long = format!(
            "Disposition-Notification-To: {}@x.example\n\n",
            "a".repeat(1100)
        );
        assert!(
            matches!(detect(long.as_bytes()), Detection::Refused(m) if m.contains("bytes long"))
        );
        let many: Vec<String> = (0..50).map(|i| format!("u{i}@x.example")).collect();
        let h = format!("Disposition-Notification-To: {}\n\n", many.join(", "));
        let r = req(&h);
        assert_eq!(r.requester, "u0@x.example");
        assert!(r.warnings[0].contains("50 addresses"));
        assert!(matches!(
            detect(b"Disposition-Notification-To: not an address\n\n"),
            Detection::Refused(_)
        ));
        assert!(matches!(
            detect(b"Disposition-Notification-To: <a\"b@x.example>\n\n"),
            Detection::Refused(_)
        ));
        // A Message-ID that could break a header is not used.
        let r = req("Message-ID: <a b@x>\nDisposition-Notification-To: a@x.example\n\n");
        assert_eq!(r.message_id, None);
    }

    #[test]
    fn display_removes_controls() {
        assert_eq!(display("a\r\nb\x1b[31m  c"), "a b [31m c");
        assert_eq!(display(&"x".repeat(300)).chars().count(), MAX_DISPLAY + 1);
    }
}
