//! An IMAP4rev1 session over any `Read + Write` stream (RFC 3501, with STARTTLS §6.2.1,
//! AUTHENTICATE §6.2.2 + SASL-IR RFC 4959, LITERAL+ RFC 7888, UIDPLUS RFC 4315, IDLE RFC 2177
//! and the response codes of RFC 5530).
//!
//! This room holds the [`Session`] itself: the greeting, the capabilities, STARTTLS (its
//! steps; the procedure is [`tls::secure`]'s) and LOGOUT. The commands live beside it, one
//! concern per room:
//! - `auth`: LOGIN and AUTHENTICATE (SASL PLAIN, XOAUTH2, OAUTHBEARER) — [`Session::login`];
//! - `mailbox`: ENABLE UTF8=ACCEPT, LIST, CREATE, SELECT/EXAMINE;
//! - `fetch`: the listings of the selected mailbox and the streamed message bodies;
//! - `store`: STORE, EXPUNGE and SEARCH;
//! - `idle`: IDLE;
//! - `command`: how a command is sent and its completion awaited (tags, literals,
//!   pipelining), and how a refusal is classified;
//! - `reader`: how a response is read off the connection (streaming a message body) and what
//!   the session learns from it.
//!
//! # Errors
//!
//! Every failure maps to a [`SourceError`]: I/O errors and timeouts, and `* BYE` at any time
//! after the greeting, are `Connection`; a `BYE` greeting is `Unavailable`; `BAD`, unparseable
//! responses and impossible answers are `Protocol`; `NO` is classified by its RFC 5530 response
//! code (see `command::refusal`), and without one by what the command was (a refused login is
//! `Auth`).
//!
//! Everything sent and received is logged at debug level, with passwords and SASL responses
//! redacted and message bodies summarised.

use std::collections::HashMap;
use std::io::{Read, Write};

use imap_codec::imap_types::response::{Code, GreetingKind};

use super::proto::{self, Arg, Capabilities};
use super::seqmap::SeqMap;
use super::wire::{self, log_line, quote, Wire};
use crate::source::SourceError;
use crate::tls::{self, StartTls};
use command::Fail;

mod auth;
mod command;
mod fetch;
mod idle;
mod mailbox;
mod reader;
mod store;
#[cfg(test)]
mod tests;

pub use super::wire::MAX_RESPONSE;
pub use auth::AuthMethod;
pub use fetch::{FetchOutcome, ListedMessage, Stop};
pub use idle::IdleEvent;
pub use mailbox::{MailboxName, MailboxStatus, MAX_MAILBOXES, MAX_NAME};

/// An IMAP session.
pub struct Session<S: Read + Write> {
    conn: Wire<S>,
    out: Vec<u8>,
    /// The response being assembled.
    buf: Vec<u8>,
    next_tag: u32,
    caps: Capabilities,
    /// Bumped whenever capabilities arrive.
    caps_gen: u64,
    greeting: String,
    preauth: bool,
    /// Message sequence number → UID, for the selected mailbox, as far as seen.
    seqs: SeqMap,
    exists: u32,
    /// The UIDVALIDITY of the selected mailbox, as last reported.
    uidvalidity: Option<u32>,
    /// `ENABLE UTF8=ACCEPT` is in effect (RFC 6855): mailbox names are UTF-8 on the wire.
    utf8: bool,
    /// UIDs (0: unknown) reported expunged since the command that watches for them (EXPUNGE,
    /// IDLE, a listing) last cleared or took them.
    expunged: Vec<u32>,
    /// Sizes learned from FETCH RFC822.SIZE.
    sizes: HashMap<u32, u64>,
    /// Keywords (flags that are not system flags, e.g. `$MDNSent`) of the selected mailbox's
    /// messages as last listed, by UID.
    keywords: HashMap<u32, Vec<String>>,
    logging_out: bool,
}

impl<S: Read + Write> Session<S> {
    /// A session over `stream` that knows nothing yet.
    fn fresh(stream: S) -> Session<S> {
        Session {
            conn: Wire::new(stream),
            out: Vec::with_capacity(4096),
            buf: Vec::with_capacity(4096),
            next_tag: 1,
            caps: Capabilities::default(),
            caps_gen: 0,
            greeting: String::new(),
            preauth: false,
            seqs: SeqMap::default(),
            exists: 0,
            uidvalidity: None,
            utf8: false,
            expunged: Vec::new(),
            sizes: HashMap::new(),
            keywords: HashMap::new(),
            logging_out: false,
        }
    }

    /// Reads the greeting (RFC 3501 §7.1.1 OK, §7.1.4 PREAUTH, §7.1.5 BYE) and learns the
    /// capabilities (from its `[CAPABILITY ...]` code, else with CAPABILITY).
    pub fn start(stream: S) -> Result<Session<S>, SourceError> {
        let mut s = Session::fresh(stream);
        let ctx = "reading the server greeting";
        s.buf.clear();
        wire::read_line(&mut s.conn, &mut s.buf, ctx)?;
        log_line(&s.buf);
        let g = proto::parse_greeting(&s.buf).ok_or_else(|| {
            SourceError::Protocol(format!(
                "{ctx}: this is not an IMAP server greeting: {:?}",
                quote(&s.buf)
            ))
        })?;
        let text = g.text.as_ref().to_string();
        match g.kind {
            GreetingKind::Bye => {
                return Err(SourceError::Unavailable(format!(
                    "the server refused the connection: {text}"
                )))
            }
            GreetingKind::PreAuth => s.preauth = true,
            GreetingKind::Ok => {}
        }
        match &g.code {
            Some(Code::Capability(c)) => s.set_caps(Capabilities::from_parsed(c.as_ref())),
            Some(Code::Alert) => log::warn!("server alert: {text}"),
            _ => {}
        }
        s.greeting = text;
        if s.caps.is_empty() {
            s.capability()?;
        }
        Ok(s)
    }

    /// The underlying stream (e.g. to look at its settings; reading or writing it directly
    /// would confuse the session).
    pub fn stream(&self) -> &S {
        self.conn.get_ref()
    }

    /// The greeting text.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Whether the server greeted with PREAUTH (already authenticated, RFC 3501 §7.1.4).
    pub fn is_preauth(&self) -> bool {
        self.preauth
    }

    /// The capabilities last advertised.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Asks for the capabilities (CAPABILITY, RFC 3501 §6.1.1).
    pub fn capability(&mut self) -> Result<&Capabilities, SourceError> {
        self.simple(
            &[Arg::Raw("CAPABILITY")],
            "asking for the capabilities",
            Fail::Protocol,
            &mut |_| Ok(()),
        )?;
        Ok(&self.caps)
    }

    /// Negotiates TLS with STARTTLS (RFC 3501 §6.2.1). `upgrade` performs the TLS handshake on
    /// the raw stream. Refuses when STARTTLS is not advertised (never falls back to
    /// plaintext), and when the server sent anything after its OK (command injection). The
    /// capabilities are asked for again over TLS. The procedure is [`tls::secure`]'s, shared
    /// with POP3's STLS.
    pub fn starttls<F>(self, upgrade: F) -> Result<Session<S>, SourceError>
    where
        F: FnOnce(S) -> Result<S, SourceError>,
    {
        tls::secure(self, upgrade)
    }

    /// Ends the session (LOGOUT, RFC 3501 §6.1.3). The server's BYE is expected; a connection
    /// closed right after it is fine.
    pub fn logout(&mut self) -> Result<(), SourceError> {
        self.logging_out = true;
        match self.simple(
            &[Arg::Raw("LOGOUT")],
            "logging out",
            Fail::Protocol,
            &mut |_| Ok(()),
        ) {
            Ok(_) => Ok(()),
            Err(SourceError::Connection { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// STARTTLS's steps, run in order by [`tls::secure`].
impl<S: Read + Write> StartTls for Session<S> {
    type Stream = S;
    const COMMAND: &'static str = "STARTTLS";
    const IMPLICIT_TLS_SCHEME: &'static str = "imaps://";

    fn offers_tls(&self) -> bool {
        self.caps.has("STARTTLS")
    }

    fn request_tls(&mut self) -> Result<(), SourceError> {
        self.simple(
            &[Arg::Raw("STARTTLS")],
            "starting TLS",
            Fail::Unavailable,
            &mut |_| Ok(()),
        )?;
        Ok(())
    }

    fn read_ahead(&self) -> bool {
        !self.conn.buffered().is_empty()
    }

    fn resume_over<F>(self, upgrade: F) -> Result<Self, SourceError>
    where
        F: FnOnce(S) -> Result<S, SourceError>,
    {
        let stream = upgrade(self.conn.into_inner())?;
        // What was learned before TLS is forgotten, but the tags go on.
        let mut s = Session {
            out: self.out,
            buf: self.buf,
            next_tag: self.next_tag,
            caps_gen: self.caps_gen,
            greeting: self.greeting,
            preauth: self.preauth,
            ..Session::fresh(stream)
        };
        // RFC 3501 §6.2.1: capabilities learned before TLS must be discarded.
        s.capability()?;
        Ok(s)
    }
}
