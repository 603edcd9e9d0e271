//! Fuzz harness: the modified UTF-7 codec for mailbox names (RFC 3501 §5.1.3,
//! `mailpull::imap::{utf7_encode, utf7_decode}`, hand-written).
//!
//! Oracles: no panic on any bytes; what decodes re-encodes to something that decodes to the
//! same text; any text encodes to printable ASCII that decodes back to it; decoding a name as
//! a server sent it (`mailbox_from_wire`) never fails.

use mailpull::imap::proto::mailbox_from_wire;
use mailpull::imap::{utf7_decode, utf7_encode};

pub fn run(data: &[u8]) {
    if let Ok(text) = utf7_decode(data) {
        let again = utf7_encode(&text);
        assert_eq!(utf7_decode(again.as_bytes()).as_deref(), Ok(text.as_str()));
    }
    let _ = mailbox_from_wire(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let enc = utf7_encode(text);
        assert!(enc.bytes().all(|b| (0x20..0x7f).contains(&b)), "{enc:?}");
        assert_eq!(utf7_decode(enc.as_bytes()).as_deref(), Ok(text));
    }
}
