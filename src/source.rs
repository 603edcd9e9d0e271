//! The boundary between the fetch engine and the mail protocols.
//!
//! A protocol session implements [`Source`]; the engine implements [`Sink`]. The protocol owns
//! the wire (pipelining, streaming, its own command order) and knows nothing about ledgers or
//! mailboxes; the engine owns the promises and knows nothing about the wire. The contract:
//! - [`Source::transfer`] streams every requested message to [`Sink::message`], in order, and
//!   asks [`Sink::take_deletes`] after each one which messages may now be deleted. It deletes
//!   exactly those (and the `delete_now` list), never anything else.
//! - A session may hold several mailboxes (IMAP folders; POP3 has one, named `""`). The
//!   engine asks for [`Source::mailboxes`] and then [`Source::open`]s one after the other.
//! - Deletions take effect only in [`Source::close`] (IMAP: UID EXPUNGE of exactly the
//!   messages deleted in this session) or, where the protocol has no such step, in
//!   [`Source::finish`] (POP3 QUIT).
//! - After a [`Sink::message`] error that is fatal, the source requests no further messages but
//!   still reads what is already on the wire, asks for the final deletes and returns `Ok`, so
//!   that the engine can end the session properly.

use std::io::{self, Read};

use crate::exit::{Classify, Exit};

/// The most bytes of a message's header block that mailpull reads or keeps: enough for any
/// real header block; a longer one is cut here.
pub const HEADER_LIMIT: usize = 64 * 1024;

/// A message as listed by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteMessage {
    /// The session-local handle: POP3 message number, IMAP UID.
    pub number: u32,
    /// The stable identifier: POP3 UIDL, IMAP UID (decimal).
    pub uid: String,
    /// Size in bytes as announced by the server.
    pub size: u64,
    /// Already marked for deletion on the server by someone (IMAP `\Deleted`). The engine
    /// neither downloads nor touches such a message unless the ledger knows it as its own.
    pub flagged_deleted: bool,
}

/// Protocol-level failures, classified for the exit status.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Connection refused, reset or closed, or a timeout: try again later.
    #[error("{context}: {source}")]
    Connection {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The server is there but will not serve us now or at all (LOGIN-DELAY, IN-USE, SYS/PERM,
    /// no STLS on a plain port, TLS verification failed).
    #[error("{0}")]
    Unavailable(String),
    /// The server answered something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Credentials refused.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A temporary condition reported by the server (SYS/TEMP).
    #[error("temporary server failure: {0}")]
    Temporary(String),
}

impl SourceError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> SourceError {
        SourceError::Connection {
            context: context.into(),
            source,
        }
    }
}

impl Classify for SourceError {
    fn exit(&self) -> Exit {
        match self {
            SourceError::Connection { .. } | SourceError::Temporary(_) => Exit::TempFail,
            SourceError::Unavailable(_) => Exit::Unavailable,
            SourceError::Protocol(_) => Exit::Protocol,
            SourceError::Auth(_) => Exit::NoPerm,
        }
    }
}

/// A failure reported by the sink for one message.
#[derive(Debug)]
pub struct SinkError {
    /// Stop requesting further messages (e.g. the disk is full).
    pub fatal: bool,
}

/// The engine side of a transfer.
pub trait Sink {
    /// Consumes one message. The body reader yields the message bytes (already decoded from
    /// the wire format) and ends at the end of the message.
    fn message(&mut self, msg: &RemoteMessage, body: &mut dyn Read) -> Result<(), SinkError>;

    /// Messages that are now durably delivered and recorded and may be deleted on the server.
    /// With `all`, the sink first makes every pending delivery durable (end of transfer).
    fn take_deletes(&mut self, all: bool) -> Vec<RemoteMessage>;
}

/// The messages of an opened mailbox.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// IMAP UIDVALIDITY; 0 for POP3.
    pub uidvalidity: u32,
    /// The messages, in server order.
    pub messages: Vec<RemoteMessage>,
    /// Only some of the mailbox's messages are listed (`mailpull watch` over IMAP lists only
    /// the messages that arrived since its last listing). A message missing from a partial
    /// listing may well still be on the server, so the engine does nothing that concerns the
    /// whole mailbox with it (no pruning of ledger rows).
    pub partial: bool,
    /// IMAP `UIDNEXT` as the server announced it when the mailbox was opened (every message
    /// that arrives later gets a UID of at least this), given only when the listing accounts
    /// for every message below it (with a partial listing: together with the [`Resume`] it
    /// was opened from). `None` for POP3, when not sent, or when the listing did not add up.
    pub uidnext: Option<u32>,
    /// How many messages the mailbox holds (IMAP `EXISTS`), when a partial listing does not
    /// show it; `None` when `messages` is all of them.
    pub on_server: Option<u64>,
    /// For a source that lists every message every time (POP3): a digest of the complete
    /// listing as the server sent it (its unique ids in server order). Two listings with the
    /// same digest name the same messages in the same order.
    pub digest: Option<ListingDigest>,
}

/// A SHA-256 digest of a complete listing (see [`Listing::digest`]).
pub type ListingDigest = [u8; 32];

impl Listing {
    /// How many messages the mailbox holds.
    pub fn on_server(&self) -> u64 {
        self.on_server.unwrap_or(self.messages.len() as u64)
    }
}

/// Where the last complete run left a mailbox (see [`Source::open_since`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    pub uidvalidity: u32,
    /// Every message with a UID below this was delivered.
    pub uidnext: u32,
    /// How many messages the mailbox held then (`EXISTS`): a later partial listing must add
    /// up with it.
    pub exists: u32,
    /// POP3 (`uidvalidity` and `uidnext` are 0 then): the digest of the listing whose every
    /// message was delivered.
    pub listing: Option<ListingDigest>,
}

/// A logged-in protocol session.
pub trait Source {
    /// The mailboxes to fetch, in order (POP3: just `""`).
    fn mailboxes(&mut self) -> Result<Vec<String>, SourceError>;

    /// Opens `mailbox` and lists its messages. With `write` false the mailbox is opened
    /// read-only where the protocol allows (IMAP EXAMINE).
    fn open(&mut self, mailbox: &str, write: bool) -> Result<Listing, SourceError>;

    /// Like [`Source::open`], but where the protocol can tell that the mailbox is the one
    /// `resume` describes (IMAP: the same UIDVALIDITY), lists only the messages that arrived
    /// since — none at all when `UIDNEXT` is unchanged (IMAP) or the listing has the digest of
    /// `resume` (POP3) — and says `partial`. The default lists everything.
    fn open_since(
        &mut self,
        mailbox: &str,
        write: bool,
        resume: Resume,
    ) -> Result<Listing, SourceError> {
        let _ = resume;
        self.open(mailbox, write)
    }

    /// The Message-ID header of each message (headers only, no body), `None` where a message
    /// has none. Used to recognise messages after an IMAP UIDVALIDITY change.
    fn message_ids(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<String>>, SourceError> {
        Ok(vec![None; msgs.len()])
    }

    /// The header block of each message (up to [`HEADER_LIMIT`] bytes, no body), in the order
    /// of `msgs`; `None` where the server would not send it. Used by `list`, filters and
    /// `--pick`. Callers ask for a few hundred messages at a time.
    fn headers(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<Vec<u8>>>, SourceError>;
    /// The uids among `msgs` (of the open mailbox) that another client already marked as
    /// answered for read receipts (IMAP keyword `$MDNSent`, RFC 3503). Protocols without such
    /// a mark report none.
    fn answered(
        &mut self,
        msgs: &[RemoteMessage],
    ) -> Result<std::collections::HashSet<String>, SourceError> {
        let _ = msgs;
        Ok(Default::default())
    }

    /// Marks `msgs` (of the open mailbox) as answered for read receipts so that other mail
    /// clients send none (IMAP `$MDNSent`), where the protocol and the mailbox allow it.
    fn mark_answered(&mut self, msgs: &[RemoteMessage]) -> Result<(), SourceError> {
        let _ = msgs;
        Ok(())
    }

    /// Deletes `delete_now` (already delivered earlier), then streams `retrieve` to `sink`,
    /// deleting what the sink releases. See the module documentation.
    fn transfer(
        &mut self,
        delete_now: &[RemoteMessage],
        retrieve: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<TransferReport, SourceError>;

    /// Closes the open mailbox. Where the protocol makes deletions take effect per mailbox
    /// (IMAP), it does so for exactly `deleted` and returns the messages the server confirmed
    /// removed; `None` means deletions take effect at [`Source::finish`] (POP3).
    fn close(
        &mut self,
        deleted: &[RemoteMessage],
    ) -> Result<Option<Vec<RemoteMessage>>, SourceError> {
        let _ = deleted;
        Ok(None)
    }

    /// Ends the session (POP3 QUIT: the deletions take effect; IMAP LOGOUT). `Ok` means the
    /// server confirmed it.
    fn finish(&mut self) -> Result<(), SourceError>;
}

/// What happened during a transfer, from the protocol's point of view.
#[derive(Clone, Debug, Default)]
pub struct TransferReport {
    /// Messages whose deletion the server accepted (they go at `close` or `finish`).
    pub deleted: Vec<RemoteMessage>,
    /// Messages the server refused to send (e.g. `-ERR` to RETR), with its reply.
    pub refused: Vec<(RemoteMessage, String)>,
}

/// The Message-ID header's value (unfolded, trimmed) from a message's header block; `None`
/// past the blank line that ends it, for an empty value or one longer than a header line may be
/// (998). The one parser for the ledger's Message-IDs, whether read from a streamed message
/// or from a header fetch, so that they compare equal.
pub fn message_id(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        // RFC 5322 §4.5.2 (obsolete syntax) allows white space before the colon.
        if !name.trim_end().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut v = value.trim().to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(next.trim());
                lines.next();
            } else {
                break;
            }
        }
        let v = v.trim().to_string();
        return (!v.is_empty() && v.len() <= 998).then_some(v);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::message_id;

    #[test]
    fn message_ids_from_headers() {
        assert_eq!(
            message_id(b"From: a\r\nMessage-ID: <1@x>\r\n\r\nMessage-ID: <body@x>\r\n").as_deref(),
            Some("<1@x>")
        );
        assert_eq!(
            message_id(b"message-id:\n  <folded@x>\nSubject: s\n\n").as_deref(),
            Some("<folded@x>")
        );
        assert_eq!(message_id(b"Subject: s\n\nMessage-ID: <body@x>\n"), None);
        assert_eq!(message_id(b"Message-ID:   \n\n"), None);
        assert_eq!(message_id(b""), None);
    }
}
