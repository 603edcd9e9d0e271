//! Builds a Message Disposition Notification (RFC 8098 §3) with a MIME library.
//!
//! The receipt is `multipart/report; report-type=disposition-notification` (RFC 6522) with a
//! human-readable `text/plain` part and a `message/disposition-notification` part whose fields
//! are those of RFC 8098 §3.2: Reporting-UA, Original-Recipient (when the original had one),
//! Final-Recipient, Original-Message-ID and `Disposition: manual-action/MDN-sent-manually;
//! displayed` (§3.2.6: the user chose to send it). Every value taken from the original message
//! was checked by `receipts::detect` (addresses and Message-IDs are plain ASCII tokens) and
//! display text is stripped of control characters, so nothing from the original can start a
//! header line of its own.

use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::mime::{BodyPart, MimePart};
use mail_builder::MessageBuilder;

use super::{check_address, display};

/// What a receipt says.
#[derive(Clone, Debug)]
pub struct MdnInput<'a> {
    /// The user's address (From, Final-Recipient).
    pub from: &'a str,
    /// The requested address (To).
    pub to: &'a str,
    /// The original's Message-ID with angle brackets.
    pub message_id: Option<&'a str>,
    /// The original's Original-Recipient address.
    pub original_recipient: Option<&'a str>,
    /// The original's Subject and Date, for the human-readable part.
    pub subject: &'a str,
    pub date: &'a str,
    /// The host name for Reporting-UA.
    pub host: &'a str,
}

/// Why a receipt cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MdnError {
    #[error("the receipt address {0:?} cannot be used: {1}")]
    BadTo(String, String),
    #[error("your address {0:?} (receipts.from) cannot be used: {1}")]
    BadFrom(String, String),
    #[error("cannot build the receipt: {0}")]
    Build(#[from] std::io::Error),
}

/// The Message-ID without angle brackets, as mail-builder wants it.
fn bare(id: &str) -> &str {
    id.trim_start_matches('<').trim_end_matches('>')
}

/// Builds the MDN (CRLF line ends, 7-bit headers).
pub fn build(input: &MdnInput<'_>) -> Result<Vec<u8>, MdnError> {
    check_address(input.to).map_err(|e| MdnError::BadTo(input.to.into(), e))?;
    check_address(input.from).map_err(|e| MdnError::BadFrom(input.from.into(), e))?;
    let host: String = input
        .host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .take(200)
        .collect();
    let host = if host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };

    // RFC 8098 §3.1: the machine-readable part, one field per line.
    let mut fields = format!(
        "Reporting-UA: {host}; mailpull {}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(orig) = input.original_recipient {
        check_address(orig).map_err(|e| MdnError::BadTo(orig.into(), e))?;
        fields.push_str(&format!("Original-Recipient: rfc822;{orig}\r\n"));
    }
    fields.push_str(&format!("Final-Recipient: rfc822;{}\r\n", input.from));
    if let Some(id) = input.message_id {
        fields.push_str(&format!("Original-Message-ID: <{}>\r\n", bare(id)));
    }
    fields.push_str("Disposition: manual-action/MDN-sent-manually; displayed\r\n");
    debug_assert!(fields.is_ascii());

    let subject = display(input.subject);
    let date = display(input.date);
    let mut human = String::from("This is a read receipt (RFC 8098) for the message you sent");
    if !date.is_empty() {
        human.push_str(&format!(" on {date}"));
    }
    human.push_str(&format!(" to {}", input.from));
    if !subject.is_empty() {
        human.push_str(&format!("\nwith the subject \"{subject}\""));
    }
    human.push_str(
        ".\n\nThe message was displayed to the recipient. This is no guarantee that it was \
         read or understood.\n",
    );

    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "disposition-notification"),
        BodyPart::Multipart(vec![
            MimePart::new("text/plain", human),
            MimePart::new(
                ContentType::new("message/disposition-notification"),
                BodyPart::Binary(fields.into_bytes().into()),
            )
            .transfer_encoding("7bit"),
        ]),
    );
    // The Message-ID names the user's domain rather than this machine's host name.
    let domain = input
        .from
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost");
    let unique = mail_builder::mime::make_boundary(".");
    let mut builder = MessageBuilder::new()
        .message_id(format!("{unique}@{domain}"))
        .from(Address::new_address(None::<&str>, input.from.to_string()))
        .to(Address::new_address(None::<&str>, input.to.to_string()))
        .subject(if subject.is_empty() {
            "Read receipt".to_string()
        } else {
            format!("Read: {subject}")
        })
        .body(report);
    if let Some(id) = input.message_id {
        builder = builder
            .in_reply_to(MessageId::new(bare(id).to_string()))
            .references(MessageId::new(bare(id).to_string()));
    }
    Ok(builder.write_to_vec()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{HeaderName, MessageParser, MimeHeaders};

    fn input<'a>() -> MdnInput<'a> {
        MdnInput {
            from: "bob@example.net",
            to: "alice@example.org",
            message_id: Some("<m1@example.org>"),
            original_recipient: Some("bob@example.net"),
            subject: "Lunch\r\nBcc: victim@x.example",
            date: "Mon, 1 Jan 2024 10:00:00 +0000",
            host: "host.example",
        }
    }

    #[test]
    fn builds_a_multipart_report() {
        let raw = build(&input()).unwrap();
        assert!(raw.is_ascii());
        let msg = MessageParser::default().parse(&raw).unwrap();
        let ct = msg.content_type().unwrap();
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(
            ct.attribute("report-type"),
            Some("disposition-notification")
        );
        assert_eq!(
            msg.to().unwrap().first().unwrap().address(),
            Some("alice@example.org")
        );
        assert_eq!(
            msg.from().unwrap().first().unwrap().address(),
            Some("bob@example.net")
        );
        assert_eq!(msg.in_reply_to().as_text(), Some("m1@example.org"));
        assert_eq!(msg.references().as_text(), Some("m1@example.org"));
        assert!(msg
            .message_id()
            .is_some_and(|id| id.ends_with("@example.net")));
        // No header came from the subject's CR/LF.
        assert!(msg.header(HeaderName::Bcc).is_none());
        assert_eq!(msg.parts.len(), 3);
        let part = &msg.parts[2];
        let pct = part.content_type().unwrap();
        assert_eq!(pct.ctype(), "message");
        assert_eq!(pct.subtype(), Some("disposition-notification"));
        let text = String::from_utf8_lossy(part.contents());
        for want in [
            "Reporting-UA: host.example; mailpull ",
            "Original-Recipient: rfc822;bob@example.net\r\n",
            "Final-Recipient: rfc822;bob@example.net\r\n",
            "Original-Message-ID: <m1@example.org>\r\n",
            "Disposition: manual-action/MDN-sent-manually; displayed\r\n",
        ] {
            assert!(text.contains(want), "{want:?} not in {text:?}");
        }
    }

    #[test]
    fn refuses_bad_addresses() {
        let mut i = input();
        i.to = "a@b.example\r\nBcc: x@y.example";
        assert!(matches!(build(&i), Err(MdnError::BadTo(..))));
        let mut i = input();
        i.from = "not an address";
        assert!(matches!(build(&i), Err(MdnError::BadFrom(..))));
        let mut i = input();
        i.message_id = None;
        i.original_recipient = None;
        let raw = String::from_utf8(build(&i).unwrap()).unwrap();
        assert!(!raw.contains("Original-Message-ID"));
        assert!(!raw.contains("Original-Recipient"));
        assert!(!raw.contains("In-Reply-To"));
    }
}
