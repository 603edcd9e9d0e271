//! An IMAP4rev1 session over any `Read + Write` stream (RFC 3501, with STARTTLS §6.2.1,
//! AUTHENTICATE §6.2.2 + SASL-IR RFC 4959, LITERAL+ RFC 7888, UIDPLUS RFC 4315, IDLE RFC 2177
//! and the response codes of RFC 5530).
//!
//! # Reading responses
//!
//! Responses are read a line at a time into a buffer. A line that ends with a literal marker
//! `{N}` (RFC 3501 §4.3) is followed by exactly N raw bytes, then the response goes on with
//! another line. For each marker the session decides what to do with the N bytes:
//! - When fetching message bodies, it first asks [`proto::probe_body_literal`] whether the
//!   literal is the `BODY[]` value of a FETCH response. If it is, the N bytes are handed to the
//!   caller's callback through a [`Read`] that yields exactly those bytes straight from the
//!   connection (never more than the read buffer in memory), and in the response buffer the
//!   literal is replaced by an empty one (`{0}`), so that the complete response can still be
//!   parsed to check the UID and the rest.
//! - Any other literal (a header field, a mailbox name) is read into the buffer, up to
//!   [`MAX_RESPONSE`] bytes.
//!
//! When the line has no marker the response is complete and `imap-codec` parses it.
//!
//! # Errors
//!
//! Every failure maps to a [`SourceError`]: I/O errors and timeouts, and `* BYE` at any time
//! after the greeting, are `Connection`; a `BYE` greeting is `Unavailable`; `BAD`, unparseable
//! responses and impossible answers are `Protocol`; `NO` is classified by its RFC 5530 response
//! code (see `refusal`), and without one by what the command was (a refused login is `Auth`).
//!
//! Everything sent and received is logged at debug level, with passwords and SASL responses
//! redacted and message bodies summarised.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, FlagFetch, FlagNameAttribute, FlagPerm};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{
    Code, CommandContinuationRequest, Data, GreetingKind, Response, Status, StatusBody, StatusKind,
};

use super::pattern;
use super::proto::{self, Arg, Capabilities};
use super::sasl;
use super::seqmap::{Conflict, SeqMap};
use super::utf7;
use super::wire::{self, closed, io_error, log_line, quote, BodyReader, Wire};
use crate::source::{SourceError, HEADER_LIMIT};
use crate::tls::ReadTimeout;

pub use super::wire::MAX_RESPONSE;

/// How to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// AUTHENTICATE PLAIN when the server advertises `AUTH=PLAIN`, else LOGIN.
    Auto,
    /// LOGIN (RFC 3501 §6.2.3).
    Login,
    /// AUTHENTICATE PLAIN (RFC 4616), with SASL-IR (RFC 4959) when advertised.
    Plain,
    /// AUTHENTICATE XOAUTH2 (Google/Microsoft); the secret is an OAuth 2 access token.
    XOAuth2,
    /// AUTHENTICATE OAUTHBEARER (RFC 7628); the secret is an OAuth 2 access token.
    OAuthBearer,
}

/// A mailbox found by [`Session::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxName {
    /// The name in UTF-8 (decoded from modified UTF-7); `INBOX` for the inbox.
    pub name: String,
    /// The name as the server sent it.
    pub wire: String,
    /// The server's hierarchy delimiter, if it has one.
    pub delimiter: Option<char>,
}

/// What SELECT or EXAMINE reported (RFC 3501 §6.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxStatus {
    /// `UIDVALIDITY`: UIDs are only comparable while this stays the same.
    pub uidvalidity: u32,
    /// `UIDNEXT`, if the server sent it.
    pub uidnext: Option<u32>,
    /// Number of messages (`EXISTS`).
    pub exists: u32,
    /// The flags that can be changed permanently (`PERMANENTFLAGS`, or `FLAGS` without it),
    /// e.g. `\Deleted`, `\*`.
    pub permanent_flags: Vec<String>,
    /// The mailbox was opened read-only (EXAMINE, or `[READ-ONLY]`).
    pub read_only: bool,
    /// New keywords can be stored (`\*` in `PERMANENTFLAGS`).
    pub can_set_keywords: bool,
}

/// A message found by [`Session::list_new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListedMessage {
    pub uid: u32,
    /// `RFC822.SIZE`.
    pub size: u64,
    /// The message carries `\Deleted`.
    pub deleted: bool,
}

/// Returned by a [`Session::fetch_bodies`] callback to stop: no further messages are requested
/// (those already on the wire are read and discarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop;

/// What [`Session::fetch_bodies`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchOutcome {
    /// UIDs whose body was handed to the callback and for which it returned `Ok`.
    pub delivered: Vec<u32>,
    /// UIDs requested whose body the server did not send (expunged meanwhile, or refused with
    /// `NO`).
    pub missing: Vec<u32>,
    /// The callback returned [`Stop`]: UIDs not in `delivered` or `missing` were not
    /// retrieved (never requested, or read and discarded after the stop).
    pub stopped: bool,
}

/// What ended an [`Session::idle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleEvent {
    /// The mailbox has more messages than before (`* N EXISTS`).
    NewMail { exists: u32 },
    /// Messages were expunged by someone else.
    Expunged,
    /// The time ran out.
    Timeout,
}

/// FETCH commands in flight at most in [`Session::fetch_bodies`].
const FETCH_WINDOW: usize = 16;
/// UIDs per FETCH command at most.
const FETCH_CHUNK: usize = 16;
/// Announced bytes per FETCH command at most (at least one message per command).
const FETCH_CHUNK_BYTES: u64 = 1 << 20;
/// Announced bytes of FETCH commands in flight at most (at least one command).
const FETCH_BYTES_IN_FLIGHT: u64 = 4 << 20;
/// Size assumed for a message whose size is not known.
const UNKNOWN_SIZE: u64 = 64 * 1024;
/// Commands in flight at most for STORE and metadata FETCH batches.
const WINDOW: usize = 16;

/// Literals of one response that may be probed for a message body (see `next_response`).
const MAX_PROBES: usize = 4;
/// The longest response prefix probed for a message body.
const MAX_PROBE_PREFIX: usize = 64 * 1024;

/// The longest mailbox name accepted from LIST.
pub const MAX_NAME: usize = 1000;
/// The most mailboxes accepted from the LIST commands of one [`Session::list`].
pub const MAX_MAILBOXES: usize = 10_000;

/// A header section as fetched: (UID, the section's bytes if the server sent them, size).
type HeaderSection = (u32, Option<Vec<u8>>, u64);

/// Default classification of a `NO` without a telling response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    Auth,
    Unavailable,
    Protocol,
}

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
    /// UIDs (0: unknown) reported expunged since the last [`Session::take_expunged`].
    expunged: Vec<u32>,
    /// Sizes learned from FETCH RFC822.SIZE.
    sizes: HashMap<u32, u64>,
    /// Keywords (flags that are not system flags, e.g. `$MDNSent`) of the selected mailbox's
    /// messages as last listed, by UID.
    keywords: HashMap<u32, Vec<String>>,
    logging_out: bool,
}

/// A FETCH response that gives a message another UID than the session knows.
fn conflict(ctx: &str, c: Conflict) -> SourceError {
    SourceError::Protocol(match c.known {
        Some(k) => format!(
            "{ctx}: the server gave message {} the UID {}, but it is UID {k}",
            c.seq, c.uid
        ),
        None => format!(
            "{ctx}: the server gave message {} the UID {}, which another message has",
            c.seq, c.uid
        ),
    })
}

/// Classifies a tagged `NO` or `BAD` (RFC 3501 §7.1, RFC 5530 §3).
fn refusal(context: &str, body: &StatusBody<'_>, default: Fail) -> SourceError {
    let code = body.code.as_ref().map(proto::code_name);
    let text = body.text.as_ref();
    let msg = match &code {
        Some(c) => format!("{context}: the server said: [{c}] {text}"),
        None => format!("{context}: the server said: {text}"),
    };
    if body.kind == StatusKind::Bad {
        return SourceError::Protocol(msg);
    }
    match code.as_deref() {
        Some("AUTHENTICATIONFAILED") | Some("AUTHORIZATIONFAILED") => {
            SourceError::Auth(format!("{msg}\n  (check the user name and password)"))
        }
        Some("EXPIRED") => SourceError::Auth(format!(
            "{msg}\n  (the password or credentials have expired [EXPIRED])"
        )),
        Some("PRIVACYREQUIRED") => SourceError::Unavailable(format!(
            "{msg}\n  (the server requires an encrypted connection [PRIVACYREQUIRED])"
        )),
        Some("CONTACTADMIN") => SourceError::Unavailable(format!(
            "{msg}\n  (the server asks you to contact its administrator [CONTACTADMIN])"
        )),
        Some("UNAVAILABLE") | Some("SERVERBUG") | Some("LIMIT") | Some("OVERQUOTA") => {
            SourceError::Temporary(msg)
        }
        Some("INUSE") => SourceError::Unavailable(format!(
            "{msg}\n  (the mailbox is in use by another session [INUSE]; try again later)"
        )),
        Some("NOPERM") | Some("NONEXISTENT") | Some("CORRUPTION") => SourceError::Unavailable(msg),
        Some("CLIENTBUG") | Some("CANNOT") | Some("PARSE") => SourceError::Protocol(msg),
        _ => match default {
            Fail::Auth => SourceError::Auth(format!("{msg}\n  (check the user name and password)")),
            Fail::Unavailable => SourceError::Unavailable(msg),
            Fail::Protocol => SourceError::Protocol(msg),
        },
    }
}

/// The callback side of a body fetch.
struct BodySink<'a> {
    on_message: &'a mut dyn FnMut(u32, &mut dyn Read) -> Result<(), Stop>,
    /// Requested and not yet seen.
    wanted: HashSet<u32>,
    stopped: bool,
    delivered: Vec<u32>,
}

impl BodySink<'_> {
    /// Hands a body to the callback, unless it was not requested, already seen, or the
    /// callback stopped. The caller drains what the callback leaves unread.
    fn deliver(&mut self, uid: u32, body: &mut dyn Read) {
        if !self.wanted.remove(&uid) {
            log::warn!("the server sent message UID {uid}, which was not asked for; ignoring it");
            return;
        }
        if self.stopped {
            return;
        }
        match (self.on_message)(uid, body) {
            Ok(()) => self.delivered.push(uid),
            Err(Stop) => {
                log::debug!("stopping the retrieval after message UID {uid}");
                self.stopped = true;
            }
        }
    }
}

/// The body streamed from one response: (seq, UID it was delivered as).
type Streamed = Option<(u32, u32)>;

fn fetch_uid(items: &[MessageDataItem<'_>]) -> Option<u32> {
    items.iter().find_map(|i| match i {
        MessageDataItem::Uid(u) => Some(u.get()),
        _ => None,
    })
}

fn fetch_size(items: &[MessageDataItem<'_>]) -> Option<u64> {
    items.iter().find_map(|i| match i {
        MessageDataItem::Rfc822Size(s) => Some(*s as u64),
        _ => None,
    })
}

impl<S: Read + Write + ReadTimeout> Session<S> {
    /// Like [`Session::idle`], but also ends (as [`IdleEvent::Timeout`], after DONE) once
    /// `stop()` returns true. While nothing arrives the socket's read timeout is shortened to
    /// `tick`, so `stop` is checked at least that often; the connection's own read timeout is
    /// restored before any response is read, so a slow server is not mistaken for a dead one.
    pub fn idle_until(
        &mut self,
        timeout: Duration,
        tick: Duration,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<IdleEvent, SourceError> {
        let normal = self
            .conn
            .get_ref()
            .read_timeout()
            .map_err(|e| io_error("setting up IDLE", e))?;
        let tick = tick.max(Duration::from_millis(1));
        let result = self.idle_inner(timeout, stop, &mut |s, waiting| {
            s.set_read_timeout(if waiting { Some(tick) } else { normal })
        });
        // Whatever happened, the connection gets its own timeout back.
        let _ = self.conn.get_ref().set_read_timeout(normal);
        result
    }
}

impl<S: Read + Write> Session<S> {
    /// Reads the greeting (RFC 3501 §7.1.1 OK, §7.1.4 PREAUTH, §7.1.5 BYE) and learns the
    /// capabilities (from its `[CAPABILITY ...]` code, else with CAPABILITY).
    pub fn start(stream: S) -> Result<Session<S>, SourceError> {
        let mut s = Session {
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
        };
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

    /// Turns on `UTF8=ACCEPT` (RFC 6855, with ENABLE of RFC 5161) when the server offers it
    /// (`UTF8=ACCEPT`, or `UTF8=ONLY`, which implies it), so that the server hands over
    /// messages with UTF-8 header fields as they are instead of downgraded copies (see the
    /// module documentation of [`super`]). Call it after logging in and before selecting a
    /// mailbox. From then on mailbox names travel in UTF-8 both ways. Returns whether it is in
    /// effect; a server that refuses is used without it.
    pub fn enable_utf8(&mut self) -> Result<bool, SourceError> {
        if self.utf8 {
            return Ok(true);
        }
        if !(self.caps.has("UTF8=ACCEPT") || self.caps.has("UTF8=ONLY")) {
            return Ok(false);
        }
        let mut enabled = false;
        let r = self.simple(
            &[Arg::Raw("ENABLE UTF8=ACCEPT")],
            "enabling UTF-8 (ENABLE UTF8=ACCEPT)",
            Fail::Protocol,
            &mut |r| {
                if let Response::Data(Data::Enabled { capabilities }) = r {
                    enabled |= capabilities
                        .iter()
                        .any(|c| c.to_string().eq_ignore_ascii_case("UTF8=ACCEPT"));
                }
                Ok(())
            },
        );
        match r {
            Ok(_) => {}
            Err(e @ SourceError::Connection { .. }) => return Err(e),
            Err(e) => {
                log::info!("the server offers UTF8=ACCEPT but refused to enable it ({e})");
                return Ok(false);
            }
        }
        if !enabled {
            log::info!("the server offers UTF8=ACCEPT but did not enable it");
        }
        self.utf8 = enabled;
        Ok(enabled)
    }

    /// Whether UID EXPUNGE is available (UIDPLUS, RFC 4315).
    pub fn has_uidplus(&self) -> bool {
        self.caps.has("UIDPLUS")
    }

    /// Messages in the selected mailbox, as last reported by the server.
    pub fn exists(&self) -> u32 {
        self.exists
    }

    /// Messages of the selected mailbox that no listing in this session has reported yet (the
    /// server announced more messages than it listed): new mail to fetch.
    pub fn unlisted(&self) -> u32 {
        self.exists
            .saturating_sub(u32::try_from(self.seqs.len()).unwrap_or(u32::MAX))
    }

    /// The UIDVALIDITY of the selected mailbox, as last reported by the server.
    pub fn uidvalidity(&self) -> Option<u32> {
        self.uidvalidity
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
    /// capabilities are asked for again over TLS.
    pub fn starttls<F>(mut self, upgrade: F) -> Result<Session<S>, SourceError>
    where
        F: FnOnce(S) -> Result<S, SourceError>,
    {
        if !self.caps.has("STARTTLS") {
            return Err(SourceError::Unavailable(
                "the server does not offer STARTTLS, so the connection cannot be secured; \
                 mailpull will not send your password in clear.\n  (use imaps:// if the server \
                 has a TLS port, or --insecure-no-tls on a trusted loopback connection)"
                    .into(),
            ));
        }
        self.simple(
            &[Arg::Raw("STARTTLS")],
            "starting TLS",
            Fail::Unavailable,
            &mut |_| Ok(()),
        )?;
        if !self.conn.buffered().is_empty() {
            // Anything after the OK would be taken as if it came over TLS (CVE-2011-0411).
            return Err(SourceError::Protocol(
                "the server sent unexpected data right after accepting STARTTLS".into(),
            ));
        }
        let stream = upgrade(self.conn.into_inner())?;
        let mut s = Session {
            conn: Wire::new(stream),
            out: self.out,
            buf: self.buf,
            next_tag: self.next_tag,
            caps: Capabilities::default(),
            caps_gen: self.caps_gen,
            greeting: self.greeting,
            preauth: self.preauth,
            seqs: SeqMap::default(),
            exists: 0,
            uidvalidity: None,
            utf8: false,
            expunged: Vec::new(),
            sizes: HashMap::new(),
            keywords: HashMap::new(),
            logging_out: false,
        };
        // RFC 3501 §6.2.1: capabilities learned before TLS must be discarded.
        s.capability()?;
        Ok(s)
    }

    /// Logs in. `Auto` uses AUTHENTICATE PLAIN when `AUTH=PLAIN` is advertised, else LOGIN;
    /// other methods are used as asked. For XOAUTH2 and OAUTHBEARER `secret` is the access
    /// token. Afterwards the capabilities are up to date (from the OK's code, or asked for).
    pub fn login(
        &mut self,
        user: &str,
        secret: &str,
        method: AuthMethod,
    ) -> Result<(), SourceError> {
        if self.preauth {
            log::debug!("the server greeted with PREAUTH: no login needed");
            return Ok(());
        }
        let method = match method {
            AuthMethod::Auto if self.caps.auth("PLAIN") => AuthMethod::Plain,
            AuthMethod::Auto => AuthMethod::Login,
            m => m,
        };
        let before = self.caps_gen;
        match method {
            AuthMethod::Login | AuthMethod::Auto => {
                if self.caps.has("LOGINDISABLED") {
                    return Err(SourceError::Unavailable(
                        "the server does not allow LOGIN on this connection (LOGINDISABLED); \
                         it needs TLS first or another --auth method"
                            .into(),
                    ));
                }
                self.simple(
                    &[
                        Arg::Raw("LOGIN"),
                        Arg::Str(user.as_bytes()),
                        Arg::Secret(secret.as_bytes()),
                    ],
                    "logging in",
                    Fail::Auth,
                    &mut |_| Ok(()),
                )?;
            }
            AuthMethod::Plain => {
                self.authenticate("PLAIN", &sasl::sasl_plain(user, secret), "*")?;
            }
            AuthMethod::XOAuth2 => {
                // On failure the server sends a JSON error as a challenge; the client answers
                // with an empty response and gets the tagged NO.
                self.authenticate("XOAUTH2", &sasl::sasl_xoauth2(user, secret), "")?;
            }
            AuthMethod::OAuthBearer => {
                // RFC 7628 §3.2.3: the client answers an error challenge with %x01.
                self.authenticate("OAUTHBEARER", &sasl::sasl_oauthbearer(user, secret), "AQ==")?;
            }
        }
        if self.caps_gen == before {
            self.capability()?;
        }
        Ok(())
    }

    /// AUTHENTICATE `mech` with one client response (RFC 3501 §6.2.2), as an initial response
    /// when SASL-IR is advertised (RFC 4959 §3), else after the first continuation request.
    /// Further challenges (errors) get `cancel`.
    fn authenticate(
        &mut self,
        mech: &str,
        response: &str,
        cancel: &str,
    ) -> Result<(), SourceError> {
        if !self.caps.auth(mech) {
            return Err(SourceError::Unavailable(format!(
                "the server does not offer AUTH={mech}; choose another --auth method"
            )));
        }
        let ctx = format!("authenticating with {mech}");
        let tag = self.tag();
        let sasl_ir = self.caps.has("SASL-IR");
        if sasl_ir {
            self.write_line(
                &format!("{tag} AUTHENTICATE {mech} {response}"),
                &format!("{tag} AUTHENTICATE {mech} <redacted>"),
            );
        } else {
            self.write_line(
                &format!("{tag} AUTHENTICATE {mech}"),
                &format!("{tag} AUTHENTICATE {mech}"),
            );
        }
        self.flush(&ctx)?;
        let mut sent = sasl_ir;
        loop {
            let (resp, _) = self.next_response(&ctx, None)?;
            match resp {
                Response::CommandContinuationRequest(c) => {
                    if sent {
                        if let CommandContinuationRequest::Base64(d) = &c {
                            log::debug!("server challenge: {}", String::from_utf8_lossy(d));
                        }
                        self.write_line(cancel, "<cancel>");
                    } else {
                        self.write_line(response, "<redacted>");
                        sent = true;
                    }
                    self.flush(&ctx)?;
                }
                Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                    if t.body.kind == StatusKind::Ok {
                        return Ok(());
                    }
                    return Err(refusal("the server refused the login", &t.body, Fail::Auth));
                }
                Response::Status(Status::Tagged(t)) => {
                    return Err(self.unexpected_tag(&ctx, t.tag.as_ref()))
                }
                _ => {}
            }
        }
    }

    /// Lists the mailboxes matching each name or pattern (`INBOX`, `Lists/*`, `*`) with
    /// `LIST "" pattern` (RFC 3501 §6.3.8): names are decoded from modified UTF-7 (taken as
    /// UTF-8 after `ENABLE UTF8=ACCEPT`), `\Noselect` and `\NonExistent` mailboxes are
    /// skipped, duplicates dropped (first one wins).
    ///
    /// A server is not trusted to answer only what was asked: a name is accepted only if it
    /// matches the pattern that was sent ([`pattern::list_answers`], with the hierarchy
    /// delimiter the server gives for it; others are ignored with a warning), is at most
    /// [`MAX_NAME`] bytes long, and at most [`MAX_MAILBOXES`] names are accepted in all (more
    /// is a protocol error).
    pub fn list(&mut self, patterns: &[String]) -> Result<Vec<MailboxName>, SourceError> {
        let mut out: Vec<MailboxName> = Vec::new();
        let mut seen = HashSet::new();
        for pattern in patterns {
            let wire = self.mailbox_to_wire(pattern);
            let mut found = Vec::new();
            let mut stray = 0usize;
            let mut first_stray = String::new();
            let utf8 = self.utf8;
            let ctx = format!("listing mailboxes matching {pattern:?}");
            let accepted = out.len();
            self.simple(
                &[Arg::Raw("LIST"), Arg::Str(b""), Arg::Str(&wire)],
                &ctx,
                Fail::Unavailable,
                &mut |r| {
                    let Response::Data(Data::List {
                        items,
                        delimiter,
                        mailbox,
                    }) = r
                    else {
                        return Ok(());
                    };
                    let raw: &[u8] = match mailbox {
                        Mailbox::Inbox => b"INBOX",
                        Mailbox::Other(o) => o.inner().as_ref(),
                    };
                    let delimiter = delimiter.as_ref().map(|d| d.inner());
                    let delim_byte = delimiter.and_then(|c| u8::try_from(c).ok());
                    if raw.len() > MAX_NAME || !pattern::list_answers(&wire, raw, delim_byte) {
                        if stray == 0 {
                            first_stray = quote(raw);
                        }
                        stray += 1;
                        return Ok(());
                    }
                    let skip = items.iter().any(|a| {
                        matches!(a, FlagNameAttribute::Noselect)
                            || a.to_string().eq_ignore_ascii_case("\\NonExistent")
                    });
                    if skip {
                        return Ok(());
                    }
                    if accepted + found.len() >= MAX_MAILBOXES {
                        return Err(SourceError::Protocol(format!(
                            "{ctx}: the server listed more than {MAX_MAILBOXES} mailboxes"
                        )));
                    }
                    let name = if matches!(mailbox, Mailbox::Inbox) {
                        "INBOX".to_string()
                    } else if utf8 {
                        String::from_utf8_lossy(raw).into_owned()
                    } else {
                        utf7::mailbox_from_wire(raw)
                    };
                    found.push(MailboxName {
                        name,
                        wire: String::from_utf8_lossy(raw).into_owned(),
                        delimiter,
                    });
                    Ok(())
                },
            )?;
            if stray > 0 {
                log::warn!(
                    "the server answered LIST {pattern:?} with {stray} mailbox name(s) that do \
                     not match it (the first: {first_stray:?}); ignoring them"
                );
            }
            for m in found {
                if seen.insert(m.name.clone()) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// A mailbox name (UTF-8) as sent to the server: modified UTF-7 (RFC 3501 §5.1.3), or
    /// UTF-8 as is once `ENABLE UTF8=ACCEPT` is in effect (RFC 6855 §3). `INBOX` in any case
    /// is sent as `INBOX`.
    fn mailbox_to_wire(&self, mailbox: &str) -> Vec<u8> {
        if mailbox.eq_ignore_ascii_case("INBOX") {
            b"INBOX".to_vec()
        } else if self.utf8 {
            mailbox.as_bytes().to_vec()
        } else {
            utf7::utf7_encode(mailbox).into_bytes()
        }
    }

    /// Creates a mailbox (RFC 3501 §6.3.3); the name is given in UTF-8.
    pub fn create(&mut self, mailbox: &str) -> Result<(), SourceError> {
        let wire = self.mailbox_to_wire(mailbox);
        self.simple(
            &[Arg::Raw("CREATE"), Arg::Str(&wire)],
            &format!("creating mailbox {mailbox:?}"),
            Fail::Unavailable,
            &mut |_| Ok(()),
        )?;
        Ok(())
    }

    /// Opens a mailbox (name in UTF-8) with SELECT, or EXAMINE when `read_only`
    /// (RFC 3501 §6.3.1, §6.3.2).
    pub fn select(&mut self, mailbox: &str, read_only: bool) -> Result<MailboxStatus, SourceError> {
        let wire = self.mailbox_to_wire(mailbox);
        self.seqs.clear();
        self.exists = 0;
        self.uidvalidity = None;
        self.sizes.clear();
        self.keywords.clear();
        let mut uidvalidity = None;
        let mut uidnext = None;
        let mut permanent: Option<Vec<String>> = None;
        let mut flags: Vec<String> = Vec::new();
        let ctx = format!("opening mailbox {mailbox:?}");
        let st = self.simple(
            &[
                Arg::Raw(if read_only { "EXAMINE" } else { "SELECT" }),
                Arg::Str(&wire),
            ],
            &ctx,
            Fail::Unavailable,
            &mut |r| {
                match r {
                    Response::Data(Data::Flags(f)) => {
                        flags = f.iter().map(|f| f.to_string()).collect();
                    }
                    Response::Status(Status::Untagged(b)) => match &b.code {
                        Some(Code::UidValidity(v)) => uidvalidity = Some(v.get()),
                        Some(Code::UidNext(v)) => uidnext = Some(v.get()),
                        Some(Code::PermanentFlags(f)) => {
                            permanent = Some(
                                f.iter()
                                    .map(|p| match p {
                                        FlagPerm::Flag(f) => f.to_string(),
                                        FlagPerm::Asterisk => "\\*".to_string(),
                                    })
                                    .collect(),
                            )
                        }
                        _ => {}
                    },
                    _ => {}
                }
                Ok(())
            },
        )?;
        let read_only = match st.code {
            Some(Code::ReadOnly) => true,
            Some(Code::ReadWrite) => false,
            _ => read_only,
        };
        let Some(uidvalidity) = uidvalidity else {
            return Err(SourceError::Protocol(format!(
                "{ctx}: the server sent no UIDVALIDITY, so UIDs cannot be trusted"
            )));
        };
        // RFC 3501 §7.1: without PERMANENTFLAGS, all FLAGS can be changed permanently.
        let permanent_flags = permanent.unwrap_or(flags);
        let can_set_keywords = permanent_flags.iter().any(|f| f == "\\*");
        Ok(MailboxStatus {
            uidvalidity,
            uidnext,
            exists: self.exists,
            permanent_flags,
            read_only,
            can_set_keywords,
        })
    }

    /// UIDs and sizes of every message of the selected mailbox, by ascending UID, with
    /// `UID FETCH 1:* (UID RFC822.SIZE FLAGS)` (RFC 3501 §6.4.8). An empty mailbox sends
    /// nothing. Also learns the sequence number of every message (see
    /// [`Session::fetch_bodies`]) and its keywords (see [`Session::listed_with_keyword`]).
    pub fn uids_and_sizes(&mut self) -> Result<Vec<(u32, u64)>, SourceError> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        self.keywords.clear();
        let listed = self.list_messages(1)?;
        Ok(listed.into_iter().map(|m| (m.uid, m.size)).collect())
    }

    /// The messages with a UID above `after` (new mail since a listing that ended at UID
    /// `after`), by ascending UID, with `UID FETCH after+1:* (UID RFC822.SIZE FLAGS)`: one
    /// command, whose answer is proportional to the new messages only. Their keywords and
    /// sequence numbers are learned as by [`Session::uids_and_sizes`]; what was known about the
    /// others is kept.
    pub fn list_new(&mut self, after: u32) -> Result<Vec<ListedMessage>, SourceError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        // RFC 3501 §6.4.8: `first:*` includes the last message even when its UID is below
        // `first`; `list_messages` drops it.
        self.list_messages(first)
    }

    /// `UID FETCH first:* (UID RFC822.SIZE FLAGS)`: the messages with a UID of at least
    /// `first`, by ascending UID.
    fn list_messages(&mut self, first: u32) -> Result<Vec<ListedMessage>, SourceError> {
        let mut map = std::collections::BTreeMap::new();
        let mut keywords: HashMap<u32, Vec<String>> = HashMap::new();
        let expunged_before = self.expunged.len();
        let cmd = format!("UID FETCH {first}:* (UID RFC822.SIZE FLAGS)");
        self.simple(
            &[Arg::Raw(&cmd)],
            "listing messages",
            Fail::Protocol,
            &mut |r| {
                if let Response::Data(Data::Fetch { items, .. }) = r {
                    let items = items.as_ref();
                    if let (Some(uid), Some(size)) = (fetch_uid(items), fetch_size(items)) {
                        if uid < first {
                            return Ok(());
                        }
                        let flags = || {
                            items
                                .iter()
                                .filter_map(|i| match i {
                                    MessageDataItem::Flags(f) => Some(f),
                                    _ => None,
                                })
                                .flatten()
                        };
                        let deleted = flags().any(|f| matches!(f, FlagFetch::Flag(Flag::Deleted)));
                        let kws: Vec<String> = flags()
                            .filter_map(|f| match f {
                                FlagFetch::Flag(Flag::Keyword(k)) => Some(k.to_string()),
                                _ => None,
                            })
                            .collect();
                        if !kws.is_empty() {
                            keywords.insert(uid, kws);
                        }
                        map.insert(uid, ListedMessage { uid, size, deleted });
                    }
                }
                Ok(())
            },
        )?;
        self.keywords.extend(keywords);
        // A message listed and then expunged (UID FETCH may see EXPUNGE, RFC 3501 §7.4.1).
        for uid in self.expunged.drain(expunged_before..) {
            map.remove(&uid);
        }
        self.sizes.extend(map.values().map(|m| (m.uid, m.size)));
        Ok(map.into_values().collect())
    }

    /// Streams the bodies of `uids` (`UID FETCH set (UID BODY.PEEK[])`, RFC 3501 §6.4.5,
    /// §6.4.8; PEEK keeps `\Seen` unchanged) to `on_message`, one call per message, in the
    /// server's order.
    ///
    /// The `Read` yields exactly the bytes of the server's literal: no line-end conversion
    /// (servers send CRLF), nothing added or removed. It never holds more than the read buffer
    /// (64 KiB) in memory. If the connection breaks in the middle, `read` returns an error and
    /// the whole call fails with `Connection`: the message is incomplete. Whatever the callback
    /// leaves unread is read and discarded.
    ///
    /// Several commands of up to 16 UIDs are in flight at once (16 commands, 4 MiB of announced
    /// sizes at most), so the server never waits for a round trip. When `on_message` returns
    /// [`Stop`], nothing more is requested; what is already on the wire is read and discarded.
    ///
    /// A server may send the UID after the body (`* 5 FETCH (BODY[] {n}...  UID 9)`): the
    /// session then knows the UID from the sequence number, having listed the mailbox with
    /// [`Session::uids_and_sizes`] (done here first if needed), and checks it against the UID
    /// that follows.
    pub fn fetch_bodies(
        &mut self,
        uids: &[u32],
        on_message: &mut dyn FnMut(u32, &mut dyn Read) -> Result<(), Stop>,
    ) -> Result<FetchOutcome, SourceError> {
        let mut uids: Vec<u32> = uids.iter().copied().filter(|&u| u != 0).collect();
        uids.sort_unstable();
        uids.dedup();
        if uids.is_empty() {
            return Ok(FetchOutcome::default());
        }
        // A body sent before its UID is recognised by its sequence number, which a listing
        // (of the mailbox, or of its new messages) taught the session. Without any, list the
        // mailbox first.
        if self.seqs.is_empty() && self.exists > 0 {
            self.uids_and_sizes()?;
        }
        // Chunks of UIDs, each one command.
        let mut chunks: Vec<(Vec<u32>, u64)> = Vec::new();
        for &u in &uids {
            let size = self.sizes.get(&u).copied().unwrap_or(UNKNOWN_SIZE);
            match chunks.last_mut() {
                Some((c, bytes)) if c.len() < FETCH_CHUNK && *bytes + size <= FETCH_CHUNK_BYTES => {
                    c.push(u);
                    *bytes += size;
                }
                _ => chunks.push((vec![u], size)),
            }
        }
        let mut sink = BodySink {
            on_message,
            wanted: uids.iter().copied().collect(),
            stopped: false,
            delivered: Vec::new(),
        };
        let mut missing = Vec::new();
        let mut in_flight: VecDeque<(String, Vec<u32>, u64)> = VecDeque::new();
        let mut bytes_in_flight = 0u64;
        let mut next = 0;
        let ctx = "retrieving messages";
        loop {
            while !sink.stopped
                && next < chunks.len()
                && in_flight.len() < FETCH_WINDOW
                && (in_flight.is_empty()
                    || bytes_in_flight + chunks[next].1 <= FETCH_BYTES_IN_FLIGHT)
            {
                let (chunk, bytes) = &chunks[next];
                let set = proto::uid_sets(chunk, proto::MAX_SET_LEN).join(",");
                let tag = self.tag();
                let line = format!("{tag} UID FETCH {set} (UID BODY.PEEK[])");
                self.write_line(&line, &line);
                in_flight.push_back((tag, chunk.clone(), *bytes));
                bytes_in_flight += bytes;
                next += 1;
            }
            self.flush(ctx)?;
            if in_flight.is_empty() {
                break;
            }
            let (resp, streamed) = self.next_response(ctx, Some(&mut sink))?;
            match resp {
                Response::Status(Status::Tagged(t)) => {
                    let Some(pos) = in_flight.iter().position(|(tag, ..)| tag == t.tag.as_ref())
                    else {
                        return Err(self.unexpected_tag(ctx, t.tag.as_ref()));
                    };
                    let (_, chunk, bytes) = in_flight.remove(pos).unwrap();
                    bytes_in_flight -= bytes;
                    match t.body.kind {
                        StatusKind::Bad => return Err(refusal(ctx, &t.body, Fail::Protocol)),
                        StatusKind::No => {
                            let code = t.body.code.as_ref().map(proto::code_name);
                            if matches!(code.as_deref(), Some("UNAVAILABLE") | Some("SERVERBUG")) {
                                return Err(refusal(ctx, &t.body, Fail::Protocol));
                            }
                            log::warn!(
                                "the server did not send some messages: {}",
                                t.body.text.as_ref()
                            );
                        }
                        StatusKind::Ok => {}
                    }
                    for u in chunk {
                        if sink.wanted.remove(&u) {
                            missing.push(u);
                        }
                    }
                }
                Response::Data(Data::Fetch { seq, items }) => {
                    let items = items.as_ref();
                    let uid = fetch_uid(items);
                    // A streamed body was checked (UID included) by its reader.
                    if streamed.is_none() {
                        // A body sent as a quoted string or NIL (not as a literal).
                        let body = items.iter().find_map(|i| match i {
                            MessageDataItem::BodyExt {
                                section: None,
                                origin: None,
                                data,
                            }
                            | MessageDataItem::Rfc822(data) => Some(data.clone()),
                            _ => None,
                        });
                        if let Some(data) = body {
                            let uid = uid.or_else(|| self.uid_of(seq.get()));
                            match (uid, data.into_option()) {
                                (Some(uid), Some(bytes)) => {
                                    // As for a streamed body: only once a response follows.
                                    wire::next_starts_response(&mut self.conn, uid, ctx)?;
                                    let mut r: &[u8] = &bytes;
                                    sink.deliver(uid, &mut r);
                                }
                                (Some(uid), None) => {
                                    log::warn!("the server sent NIL as the body of UID {uid}");
                                }
                                (None, _) => {
                                    return Err(SourceError::Protocol(format!(
                                        "the server sent the body of message {seq} without \
                                         its UID, and its UID is unknown"
                                    )))
                                }
                            }
                        }
                    }
                }
                Response::CommandContinuationRequest(_) => {
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: unexpected continuation request"
                    )))
                }
                _ => {}
            }
        }
        // Every command sent has completed, and its unanswered UIDs are in `missing`; what is
        // still wanted was never requested (only possible after a stop).
        debug_assert!(sink.stopped || sink.wanted.is_empty());
        missing.sort_unstable();
        missing.dedup();
        Ok(FetchOutcome {
            delivered: sink.delivered,
            missing,
            stopped: sink.stopped,
        })
    }

    /// Marks messages `\Deleted` (`UID STORE set +FLAGS.SILENT (\Deleted)`, RFC 3501 §6.4.6).
    pub fn store_deleted(&mut self, uids: &[u32]) -> Result<(), SourceError> {
        self.store_flag(uids, "\\Deleted")
    }

    /// Marks messages `\Seen` (`UID STORE set +FLAGS.SILENT (\Seen)`, RFC 3501 §6.4.6).
    pub fn store_seen(&mut self, uids: &[u32]) -> Result<(), SourceError> {
        self.store_flag(uids, "\\Seen")
    }

    /// Adds a keyword such as `$MDNSent` to messages (RFC 3501 §6.4.6).
    pub fn store_keyword(&mut self, uids: &[u32], keyword: &str) -> Result<(), SourceError> {
        if !proto::valid_keyword(keyword) {
            return Err(SourceError::Protocol(format!(
                "{keyword:?} is not a valid IMAP keyword"
            )));
        }
        self.store_flag(uids, keyword)
    }

    fn store_flag(&mut self, uids: &[u32], flag: &str) -> Result<(), SourceError> {
        let cmds: Vec<String> = proto::uid_sets(uids, proto::MAX_SET_LEN)
            .into_iter()
            .map(|set| format!("UID STORE {set} +FLAGS.SILENT ({flag})"))
            .collect();
        self.pipeline(&cmds, &format!("setting {flag}"), &mut |_| Ok(()))
    }

    /// Removes exactly `uids` if they are `\Deleted` (`UID EXPUNGE`, RFC 4315 §2.1). Needs
    /// UIDPLUS (see [`Session::has_uidplus`]). Returns the UIDs the server reported expunged
    /// (0 for a message whose UID was not known).
    pub fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, SourceError> {
        if !self.has_uidplus() {
            return Err(SourceError::Unavailable(
                "the server lacks UIDPLUS, so mailpull cannot expunge only its own messages".into(),
            ));
        }
        self.expunged.clear();
        let cmds: Vec<String> = proto::uid_sets(uids, proto::MAX_SET_LEN)
            .into_iter()
            .map(|set| format!("UID EXPUNGE {set}"))
            .collect();
        self.pipeline(&cmds, "expunging messages", &mut |_| Ok(()))?;
        Ok(std::mem::take(&mut self.expunged))
    }

    /// Removes every `\Deleted` message of the mailbox (EXPUNGE, RFC 3501 §6.4.3). Check
    /// [`Session::deleted_uids_in_mailbox`] first. Returns the UIDs reported expunged.
    pub fn expunge_all(&mut self) -> Result<Vec<u32>, SourceError> {
        self.expunged.clear();
        self.simple(
            &[Arg::Raw("EXPUNGE")],
            "expunging messages",
            Fail::Protocol,
            &mut |_| Ok(()),
        )?;
        Ok(std::mem::take(&mut self.expunged))
    }

    /// UIDs of the messages that carry `\Deleted` (`UID SEARCH DELETED`, RFC 3501 §6.4.4).
    pub fn deleted_uids_in_mailbox(&mut self) -> Result<Vec<u32>, SourceError> {
        self.uid_search(
            &[Arg::Raw("UID SEARCH DELETED")],
            "searching for deleted messages",
        )
    }

    /// UIDs of the listed messages that carry `keyword` (e.g. `$MDNSent`, RFC 3503), as the
    /// last [`Session::uids_and_sizes`] saw them (keywords compare case-insensitively).
    pub fn listed_with_keyword(&self, keyword: &str) -> std::collections::HashSet<u32> {
        self.keywords
            .iter()
            .filter(|(_, kws)| kws.iter().any(|k| k.eq_ignore_ascii_case(keyword)))
            .map(|(&uid, _)| uid)
            .collect()
    }

    /// Runs a `UID SEARCH` and returns the UIDs found, sorted and unique.
    fn uid_search(&mut self, cmd: &[Arg<'_>], ctx: &str) -> Result<Vec<u32>, SourceError> {
        let mut out = Vec::new();
        self.simple(cmd, ctx, Fail::Protocol, &mut |r| {
            if let Response::Data(Data::Search(v, ..)) = r {
                out.extend(v.iter().map(|n| n.get()));
            }
            Ok(())
        })?;
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Message-ID header (unfolded) and size of each of `uids` the server still has
    /// (`UID FETCH set (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`), by UID.
    pub fn message_ids(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<(u32, Option<String>, u64)>, SourceError> {
        let found =
            self.fetch_header_section(uids, "HEADER.FIELDS (MESSAGE-ID)", "reading Message-IDs")?;
        Ok(found
            .into_iter()
            .map(|(u, h, s)| (u, h.and_then(|h| crate::source::message_id(&h)), s))
            .collect())
    }

    /// The header block of each of `uids` (`BODY.PEEK[HEADER]`, RFC 3501 §6.4.5; the `\Seen`
    /// flag is not set), cut at [`HEADER_LIMIT`] bytes: (uid, header, size) in UID order.
    /// UIDs the server does not answer for (expunged meanwhile) are missing.
    pub fn headers(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>, u64)>, SourceError> {
        let found = self.fetch_header_section(uids, "HEADER", "reading message headers")?;
        Ok(found
            .into_iter()
            .map(|(u, h, s)| {
                let mut h = h.unwrap_or_default();
                h.truncate(HEADER_LIMIT);
                (u, h, s)
            })
            .collect())
    }

    /// `UID FETCH set (UID RFC822.SIZE BODY.PEEK[section])`, pipelined: (uid, section data,
    /// size) in UID order. Also remembers the sizes.
    fn fetch_header_section(
        &mut self,
        uids: &[u32],
        section: &str,
        ctx: &str,
    ) -> Result<Vec<HeaderSection>, SourceError> {
        let cmds: Vec<String> = proto::uid_sets(uids, proto::MAX_SET_LEN)
            .into_iter()
            .map(|set| format!("UID FETCH {set} (UID RFC822.SIZE BODY.PEEK[{section}])"))
            .collect();
        let mut found: std::collections::BTreeMap<u32, (Option<Vec<u8>>, u64)> = Default::default();
        self.pipeline(&cmds, ctx, &mut |r| {
            if let Response::Data(Data::Fetch { items, .. }) = r {
                let items = items.as_ref();
                let Some(uid) = fetch_uid(items) else {
                    return Ok(());
                };
                let data = items.iter().find_map(|i| match i {
                    MessageDataItem::BodyExt {
                        section: Some(_),
                        data,
                        ..
                    } => Some(data.clone()),
                    _ => None,
                });
                let Some(size) = fetch_size(items) else {
                    return Ok(());
                };
                let data = data.and_then(|d| d.into_option()).map(|d| d.into_owned());
                found.insert(uid, (data, size));
            }
            Ok(())
        })?;
        self.sizes.extend(found.iter().map(|(&u, (_, s))| (u, *s)));
        Ok(found.into_iter().map(|(u, (h, s))| (u, h, s)).collect())
    }

    /// Waits for changes to the selected mailbox with IDLE (RFC 2177) for at most `timeout`
    /// (keep it under 29 minutes), then ends the IDLE with DONE.
    ///
    /// The wait is measured in reads: a read that times out on the connection (its read
    /// timeout) counts as "nothing happened yet", so the effective wait is `timeout` rounded up
    /// to the connection's read timeout; without a read timeout, it lasts until the server
    /// says something. New mail is counted from the number of messages known before IDLE was
    /// sent, so an `EXISTS` that arrives with the continuation request counts too.
    pub fn idle(&mut self, timeout: Duration) -> Result<IdleEvent, SourceError> {
        self.idle_inner(timeout, &mut || false, &mut |_, _| Ok(()))
    }

    /// Sends IDLE, waits for an event, the `timeout` or `stop()`, and ends the IDLE with DONE.
    /// `wait(stream, true)` is called before each wait for the server and `wait(stream,
    /// false)` after it, before a response is read.
    fn idle_inner(
        &mut self,
        timeout: Duration,
        stop: &mut dyn FnMut() -> bool,
        wait: &mut dyn FnMut(&S, bool) -> io::Result<()>,
    ) -> Result<IdleEvent, SourceError> {
        if !self.caps.has("IDLE") {
            return Err(SourceError::Unavailable(
                "the server does not offer IDLE".into(),
            ));
        }
        let ctx = "waiting for new mail (IDLE)";
        let start_exists = self.exists;
        let tag = self.tag();
        self.write_line(&format!("{tag} IDLE"), &format!("{tag} IDLE"));
        self.flush(ctx)?;
        loop {
            let (resp, _) = self.next_response(ctx, None)?;
            match resp {
                Response::CommandContinuationRequest(_) => break,
                Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                    return Err(refusal(ctx, &t.body, Fail::Protocol));
                }
                Response::Status(Status::Tagged(t)) => {
                    return Err(self.unexpected_tag(ctx, t.tag.as_ref()))
                }
                _ => {}
            }
        }
        self.expunged.clear();
        let start = Instant::now();
        let event = loop {
            if self.exists > start_exists {
                break IdleEvent::NewMail {
                    exists: self.exists,
                };
            }
            if !self.expunged.is_empty() {
                break IdleEvent::Expunged;
            }
            if start.elapsed() >= timeout || stop() {
                break IdleEvent::Timeout;
            }
            wait(self.conn.get_ref(), true).map_err(|e| io_error(ctx, e))?;
            let got = match self.conn.fill_buf() {
                Ok(b) => Ok(!b.is_empty()),
                Err(e) => Err(e),
            };
            wait(self.conn.get_ref(), false).map_err(|e| io_error(ctx, e))?;
            match got {
                Ok(false) => return Err(closed(ctx, "the server closed the connection")),
                Ok(true) => {
                    let (resp, _) = self.next_response(ctx, None)?;
                    if let Response::Status(Status::Tagged(t)) = resp {
                        return Err(SourceError::Protocol(format!(
                            "{ctx}: the server ended IDLE by itself: {}",
                            t.body.text.as_ref()
                        )));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(io_error(ctx, e)),
            }
        };
        self.write_line("DONE", "DONE");
        self.flush(ctx)?;
        self.wait_tagged(&tag, ctx, Fail::Protocol, &mut |_| Ok(()))?;
        Ok(event)
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

    // -----------------------------------------------------------------------------------------
    // Sending
    // -----------------------------------------------------------------------------------------

    fn tag(&mut self) -> String {
        let t = format!("A{:04}", self.next_tag);
        self.next_tag += 1;
        t
    }

    fn write_line(&mut self, line: &str, shown: &str) {
        log::debug!("C: {shown}");
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn flush(&mut self, context: &str) -> Result<(), SourceError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stream = self.conn.get_mut();
        let r = stream.write_all(&self.out).and_then(|_| stream.flush());
        self.out.clear();
        r.map_err(|e| io_error(context, e))
    }

    /// Sends a command, waiting for continuation requests before synchronizing literals
    /// (RFC 3501 §7.5). Returns its tag; the command may still sit in the output buffer.
    fn send(&mut self, args: &[Arg<'_>], ctx: &str, fail: Fail) -> Result<String, SourceError> {
        let tag = self.tag();
        let segments = proto::encode_command(&tag, args, self.caps.has("LITERAL+"))
            .map_err(|e| SourceError::Protocol(format!("{ctx}: {e}")))?;
        for seg in segments {
            log::debug!("C: {}", seg.shown);
            self.out.extend_from_slice(&seg.bytes);
            if seg.await_continuation {
                self.flush(ctx)?;
                loop {
                    let (resp, _) = self.next_response(ctx, None)?;
                    match resp {
                        Response::CommandContinuationRequest(_) => break,
                        Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                            return Err(refusal(ctx, &t.body, fail));
                        }
                        Response::Status(Status::Tagged(t)) => {
                            return Err(self.unexpected_tag(ctx, t.tag.as_ref()))
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(tag)
    }

    /// Runs one command: sends it, hands every untagged response to `handler`, and returns
    /// the tagged OK (or the classified error for NO/BAD).
    fn simple(
        &mut self,
        args: &[Arg<'_>],
        ctx: &str,
        fail: Fail,
        handler: &mut dyn FnMut(&Response<'static>) -> Result<(), SourceError>,
    ) -> Result<StatusBody<'static>, SourceError> {
        let tag = self.send(args, ctx, fail)?;
        self.flush(ctx)?;
        self.wait_tagged(&tag, ctx, fail, handler)
    }

    fn wait_tagged(
        &mut self,
        tag: &str,
        ctx: &str,
        fail: Fail,
        handler: &mut dyn FnMut(&Response<'static>) -> Result<(), SourceError>,
    ) -> Result<StatusBody<'static>, SourceError> {
        loop {
            let (resp, _) = self.next_response(ctx, None)?;
            match resp {
                Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                    if t.body.kind == StatusKind::Ok {
                        return Ok(t.body);
                    }
                    return Err(refusal(ctx, &t.body, fail));
                }
                Response::Status(Status::Tagged(t)) => {
                    return Err(self.unexpected_tag(ctx, t.tag.as_ref()))
                }
                Response::CommandContinuationRequest(_) => {
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: unexpected continuation request"
                    )))
                }
                r => handler(&r)?,
            }
        }
    }

    /// Runs commands without literals, up to [`WINDOW`] in flight; the first failure is
    /// returned after all replies have been read.
    fn pipeline(
        &mut self,
        cmds: &[String],
        ctx: &str,
        handler: &mut dyn FnMut(&Response<'static>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let mut in_flight: VecDeque<String> = VecDeque::new();
        let mut next = 0;
        let mut first_err = None;
        loop {
            while next < cmds.len() && in_flight.len() < WINDOW && first_err.is_none() {
                let tag = self.tag();
                let line = format!("{tag} {}", cmds[next]);
                self.write_line(&line, &line);
                in_flight.push_back(tag);
                next += 1;
            }
            self.flush(ctx)?;
            if in_flight.is_empty() {
                break;
            }
            let (resp, _) = self.next_response(ctx, None)?;
            match resp {
                Response::Status(Status::Tagged(t)) => {
                    let Some(pos) = in_flight.iter().position(|tag| tag == t.tag.as_ref()) else {
                        return Err(self.unexpected_tag(ctx, t.tag.as_ref()));
                    };
                    in_flight.remove(pos);
                    if t.body.kind != StatusKind::Ok && first_err.is_none() {
                        first_err = Some(refusal(ctx, &t.body, Fail::Protocol));
                    }
                }
                Response::CommandContinuationRequest(_) => {
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: unexpected continuation request"
                    )))
                }
                r => handler(&r)?,
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Receiving
    // -----------------------------------------------------------------------------------------

    fn unexpected_tag(&self, ctx: &str, tag: &str) -> SourceError {
        SourceError::Protocol(format!(
            "{ctx}: the server answered a command that was not sent (tag {tag:?})"
        ))
    }

    fn uid_of(&self, seq: u32) -> Option<u32> {
        self.seqs.uid(seq)
    }

    fn set_caps(&mut self, caps: Capabilities) {
        self.caps = caps;
        self.caps_gen += 1;
    }

    /// Reads one complete response, streaming a whole-message literal to `body` (see the
    /// module documentation and [`wire`]), parses it and updates the session state from it.
    fn next_response(
        &mut self,
        ctx: &str,
        mut body: Option<&mut BodySink<'_>>,
    ) -> Result<(Response<'static>, Streamed), SourceError> {
        loop {
            if self.buf.capacity() > 4 * wire::BUF_SIZE {
                // Do not hold on to the memory of a long response.
                self.buf = Vec::with_capacity(4096);
            }
            self.buf.clear();
            let mut literals = 0;
            loop {
                let line_start = self.buf.len();
                wire::read_line(&mut self.conn, &mut self.buf, ctx)?;
                log_line(&self.buf[line_start..]);
                let Some((rel, n)) = proto::literal_marker(&self.buf[line_start..]) else {
                    break;
                };
                let marker = line_start + rel;
                literals += 1;
                // A message body is the first literal of a FETCH response that begins a few
                // bytes before it; probing later ones would cost time in proportion to the
                // response for every literal (a server could send millions).
                let may_be_body = literals <= MAX_PROBES && marker <= MAX_PROBE_PREFIX;
                if let (Some(sink), true) = (body.as_deref_mut(), may_be_body) {
                    if let Some(probe) = proto::probe_body_literal(&self.buf, marker) {
                        let known = self.uid_of(probe.seq);
                        let uid = match (probe.uid, known) {
                            (Some(u), Some(k)) if u != k => {
                                return Err(conflict(
                                    ctx,
                                    Conflict {
                                        seq: probe.seq,
                                        known: Some(k),
                                        uid: u,
                                    },
                                ))
                            }
                            (Some(u), _) | (None, Some(u)) => u,
                            (None, None) => {
                                return Err(SourceError::Protocol(format!(
                                    "the server sent the body of message {} before its UID, \
                                     and its UID is unknown",
                                    probe.seq
                                )))
                            }
                        };
                        if let Some(&size) = self.sizes.get(&uid) {
                            let most = size.saturating_mul(2).saturating_add(1 << 20);
                            if n > most {
                                return Err(SourceError::Protocol(format!(
                                    "{ctx}: the server announced {n} bytes for message UID \
                                     {uid}, which it listed with {size} bytes"
                                )));
                            }
                        }
                        // The literal's data goes to the callback, not into the buffer.
                        self.buf.truncate(marker);
                        self.buf.extend_from_slice(b"{0}\r\n");
                        log::debug!("S: <message UID {uid}: {n} bytes>");
                        let mut reader =
                            BodyReader::new(&mut self.conn, &mut self.buf, n, probe.seq, uid, ctx);
                        sink.deliver(uid, &mut reader);
                        let resp = reader.finish()?;
                        self.absorb(&resp, ctx)?;
                        return Ok((resp, Some((probe.seq, uid))));
                    }
                }
                wire::read_literal(&mut self.conn, &mut self.buf, n, ctx)?;
                log::debug!("S: <literal of {n} bytes>");
            }
            match proto::parse_response(&self.buf) {
                Some(resp) => {
                    self.absorb(&resp, ctx)?;
                    return Ok((resp, None));
                }
                None => {
                    let l = &self.buf;
                    let looks_like_fetch = l.starts_with(b"* ")
                        && l[2..].iter().take_while(|b| b.is_ascii_digit()).count() > 0
                        && l[2..]
                            .iter()
                            .skip_while(|b| b.is_ascii_digit())
                            .take(7)
                            .map(|b| b.to_ascii_uppercase())
                            .eq(b" FETCH ".iter().copied());
                    if l.starts_with(b"* ") && !looks_like_fetch {
                        // Untagged data of an extension imap-codec does not know: harmless.
                        log::warn!(
                            "ignoring a server response that could not be parsed: {:?}",
                            quote(l)
                        );
                        continue;
                    }
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: the server sent something that is not a valid IMAP response: {:?}",
                        quote(l)
                    )));
                }
            }
        }
    }

    /// Updates the session state from a response: capabilities, EXISTS, EXPUNGE, UIDs,
    /// UIDVALIDITY, alerts; a BYE (except while logging out) ends the session with a
    /// `Connection` error. Numbers the server sends are only remembered within what it
    /// announced (a message number above EXISTS is ignored), so no claim costs memory.
    fn absorb(&mut self, resp: &Response<'static>, ctx: &str) -> Result<(), SourceError> {
        let code = match resp {
            Response::Status(Status::Bye(b)) => {
                if self.logging_out {
                    return Ok(());
                }
                let text = b.text.as_ref();
                let what = if text.is_empty() || text == proto::NO_TEXT {
                    "the server ended the session".to_string()
                } else {
                    format!("the server ended the session: {text}")
                };
                return Err(SourceError::io(
                    ctx,
                    io::Error::new(io::ErrorKind::ConnectionAborted, what),
                ));
            }
            Response::Status(Status::Untagged(b)) => {
                if b.kind != StatusKind::Ok {
                    log::warn!("the server says: {}", b.text.as_ref());
                }
                if let Some(Code::UidValidity(v)) = &b.code {
                    self.uidvalidity = Some(v.get());
                }
                b.code.as_ref().map(|c| (c, b.text.as_ref()))
            }
            Response::Status(Status::Tagged(t)) => {
                t.body.code.as_ref().map(|c| (c, t.body.text.as_ref()))
            }
            Response::Data(Data::Capability(c)) => {
                self.set_caps(Capabilities::from_parsed(c.as_ref()));
                None
            }
            Response::Data(Data::Exists(n)) => {
                self.exists = *n;
                self.seqs.truncate(*n);
                None
            }
            Response::Data(Data::Expunge(seq)) => {
                if seq.get() <= self.exists {
                    self.expunged
                        .push(self.seqs.expunge(seq.get()).unwrap_or(0));
                    self.exists -= 1;
                } else {
                    log::debug!(
                        "the server reported message {seq} expunged, but announced only {} \
                         messages; ignoring it",
                        self.exists
                    );
                }
                None
            }
            Response::Data(Data::Fetch { seq, items }) => {
                if let Some(uid) = fetch_uid(items.as_ref()) {
                    if seq.get() <= self.exists {
                        self.seqs
                            .insert(seq.get(), uid)
                            .map_err(|c| conflict(ctx, c))?;
                    } else {
                        log::debug!(
                            "the server sent data for message {seq}, but announced only {} \
                             messages; not remembering its UID",
                            self.exists
                        );
                    }
                }
                None
            }
            _ => None,
        };
        match code {
            Some((Code::Capability(c), _)) => self.set_caps(Capabilities::from_parsed(c.as_ref())),
            Some((Code::Alert, text)) => log::warn!("server alert: {text}"),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted server: reads come from `input` (at most `chunk` bytes per read), writes are
    /// captured.
    struct Mock {
        input: Vec<u8>,
        pos: usize,
        chunk: usize,
        written: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    }

    impl Read for Mock {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.input.len() - self.pos);
            buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl Write for Mock {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    type Written = std::rc::Rc<std::cell::RefCell<Vec<u8>>>;

    fn mock(input: &[u8], chunk: usize) -> (Mock, Written) {
        let written: Written = Default::default();
        (
            Mock {
                input: input.to_vec(),
                pos: 0,
                chunk,
                written: written.clone(),
            },
            written,
        )
    }

    const GREETING: &[u8] =
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN IDLE UIDPLUS] ready\r\n";

    fn session(script: &[u8]) -> (Session<Mock>, Written) {
        let mut all = GREETING.to_vec();
        all.extend_from_slice(script);
        let (m, w) = mock(&all, usize::MAX);
        (Session::start(m).unwrap(), w)
    }

    fn text(w: &Written) -> String {
        String::from_utf8_lossy(&w.borrow()).into_owned()
    }

    #[test]
    fn greetings() {
        let (s, _) = session(b"");
        assert!(s.capabilities().has("idle"));
        assert!(s.capabilities().auth("PLAIN"));
        assert!(!s.is_preauth());
        assert_eq!(s.greeting(), "ready");

        let (m, w) = mock(
            b"* PREAUTH hello\r\n* CAPABILITY IMAP4rev1 IDLE\r\nA0001 OK done\r\n",
            usize::MAX,
        );
        let s = Session::start(m).unwrap();
        assert!(s.is_preauth());
        assert!(s.capabilities().has("IDLE"));
        assert_eq!(text(&w), "A0001 CAPABILITY\r\n");

        let (m, _) = mock(b"* BYE [UNAVAILABLE] go away\r\n", usize::MAX);
        assert!(matches!(
            Session::start(m),
            Err(SourceError::Unavailable(_))
        ));

        let (m, _) = mock(b"+OK POP3 ready\r\n", usize::MAX);
        assert!(matches!(Session::start(m), Err(SourceError::Protocol(_))));

        let (m, _) = mock(b"", usize::MAX);
        assert!(matches!(
            Session::start(m),
            Err(SourceError::Connection { .. })
        ));
    }

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
        let e = s.login("u", "tok", AuthMethod::XOAuth2).unwrap_err();
        assert!(matches!(e, SourceError::Auth(_)), "{e:?}");
        let t = text(&w);
        assert!(t.starts_with("A0001 AUTHENTICATE XOAUTH2 "), "{t}");
        assert!(t.ends_with("\r\n\r\n"), "{t:?}");
        // Not offered.
        let (mut s, _) = session(b"");
        assert!(matches!(
            s.login("u", "tok", AuthMethod::OAuthBearer),
            Err(SourceError::Unavailable(_))
        ));
    }

    #[test]
    fn list_decodes_and_skips() {
        let (mut s, w) = session(
            b"* LIST (\\HasNoChildren) \".\" INBOX\r\n\
              * LIST (\\Noselect \\HasChildren) \".\" Lists\r\n\
              * LIST (\\HasNoChildren) \".\" \"Entw&APw-rfe\"\r\n\
              * LIST (\\NonExistent) \".\" Gone\r\n\
              * LIST () \".\" {3}\r\na\"b\r\n\
              A0001 OK done\r\n\
              * LIST (\\HasNoChildren) \".\" INBOX\r\n\
              A0002 OK done\r\n",
        );
        let l = s.list(&["*".into(), "INBOX".into()]).unwrap();
        let names: Vec<&str> = l.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["INBOX", "Entwürfe", "a\"b"]);
        assert_eq!(l[1].wire, "Entw&APw-rfe");
        assert_eq!(l[1].delimiter, Some('.'));
        assert_eq!(
            text(&w),
            "A0001 LIST \"\" \"*\"\r\nA0002 LIST \"\" \"INBOX\"\r\n"
        );
    }

    const SELECT: &[u8] = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
        * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n\
        * 3 EXISTS\r\n\
        * 0 RECENT\r\n\
        * OK [UIDVALIDITY 1700000000] UIDs valid\r\n\
        * OK [UIDNEXT 12] Predicted next UID\r\n\
        * OK [HIGHESTMODSEQ 7] Highest\r\n\
        A0001 OK [READ-WRITE] Select completed.\r\n";

    #[test]
    fn select_parses() {
        let (mut s, w) = session(SELECT);
        let st = s.select("Entwürfe", false).unwrap();
        assert_eq!(
            st,
            MailboxStatus {
                uidvalidity: 1700000000,
                uidnext: Some(12),
                exists: 3,
                permanent_flags: [
                    "\\Answered",
                    "\\Flagged",
                    "\\Deleted",
                    "\\Seen",
                    "\\Draft",
                    "\\*"
                ]
                .map(String::from)
                .to_vec(),
                read_only: false,
                can_set_keywords: true,
            }
        );
        assert_eq!(text(&w), "A0001 SELECT \"Entw&APw-rfe\"\r\n");

        let (mut s, w) = session(
            b"* 0 EXISTS\r\n* FLAGS (\\Seen \\Deleted)\r\n* OK [UIDVALIDITY 5] x\r\nA0001 OK [READ-ONLY] done\r\n",
        );
        let st = s.select("INBOX", true).unwrap();
        assert!(st.read_only && !st.can_set_keywords);
        assert_eq!(st.permanent_flags, ["\\Seen", "\\Deleted"]);
        assert_eq!(text(&w), "A0001 EXAMINE \"INBOX\"\r\n");
        // An empty mailbox: no FETCH is sent.
        assert!(s.uids_and_sizes().unwrap().is_empty());
        assert_eq!(text(&w), "A0001 EXAMINE \"INBOX\"\r\n");

        let (mut s, _) = session(b"A0001 NO [NONEXISTENT] no such mailbox\r\n");
        assert!(matches!(
            s.select("x", false),
            Err(SourceError::Unavailable(_))
        ));
        let (mut s, _) = session(b"* 1 EXISTS\r\nA0001 OK done\r\n");
        assert!(matches!(
            s.select("x", false),
            Err(SourceError::Protocol(_))
        ));
    }

    fn selected(script: &[u8]) -> (Session<Mock>, Written) {
        let mut all = SELECT.to_vec();
        all.extend_from_slice(script);
        let (mut s, w) = session(&all);
        s.select("INBOX", false).unwrap();
        w.borrow_mut().clear();
        (s, w)
    }

    #[test]
    fn uids_and_sizes_any_order() {
        let (mut s, w) = selected(
            b"* 2 FETCH (RFC822.SIZE 200 UID 7)\r\n\
              * 1 FETCH (UID 5 RFC822.SIZE 100)\r\n\
              * 4 EXISTS\r\n\
              * 1 FETCH (FLAGS (\\Seen))\r\n\
              * 3 FETCH (UID 11 RFC822.SIZE 300)\r\n\
              A0002 OK done\r\n",
        );
        assert_eq!(
            s.uids_and_sizes().unwrap(),
            vec![(5, 100), (7, 200), (11, 300)]
        );
        assert_eq!(text(&w), "A0002 UID FETCH 1:* (UID RFC822.SIZE FLAGS)\r\n");
        assert_eq!(s.exists(), 4);
    }

    #[test]
    fn uids_and_sizes_drops_expunged() {
        let (mut s, _) = selected(
            b"* 1 FETCH (UID 5 RFC822.SIZE 100)\r\n\
              * 2 FETCH (UID 7 RFC822.SIZE 200)\r\n\
              * 1 EXPUNGE\r\n\
              * 2 FETCH (UID 11 RFC822.SIZE 300)\r\n\
              A0002 OK done\r\n",
        );
        assert_eq!(s.uids_and_sizes().unwrap(), vec![(7, 200), (11, 300)]);
        assert_eq!(s.seqs.uids().collect::<Vec<_>>(), vec![7, 11]);
        assert_eq!(s.seqs.uid(2), Some(11));
        assert_eq!(s.exists(), 2);
    }

    /// Runs fetch_bodies over a scripted reply (after SELECT and a listing of UIDs 5, 7, 11),
    /// reading `chunk` bytes per read.
    /// The outcome, the bodies seen by the callback, and what was sent.
    type Fetched = (
        Result<FetchOutcome, SourceError>,
        Vec<(u32, Vec<u8>)>,
        String,
    );

    fn fetch(reply: &[u8], chunk: usize, uids: &[u32]) -> Fetched {
        let mut all = GREETING.to_vec();
        all.extend_from_slice(SELECT);
        all.extend_from_slice(
            b"* 1 FETCH (UID 5 RFC822.SIZE 5)\r\n* 2 FETCH (UID 7 RFC822.SIZE 7)\r\n\
              * 3 FETCH (UID 11 RFC822.SIZE 3)\r\nA0002 OK done\r\n",
        );
        all.extend_from_slice(reply);
        let (m, w) = mock(&all, chunk);
        let mut s = Session::start(m).unwrap();
        s.select("INBOX", false).unwrap();
        s.uids_and_sizes().unwrap();
        w.borrow_mut().clear();
        let mut got = Vec::new();
        let r = s.fetch_bodies(uids, &mut |uid, r| {
            let mut v = Vec::new();
            match r.read_to_end(&mut v) {
                Ok(_) => {
                    got.push((uid, v));
                    Ok(())
                }
                Err(_) => Err(Stop),
            }
        });
        let t = text(&w);
        (r, got, t)
    }

    #[test]
    fn fetch_uid_before_and_after_literal() {
        let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab\r\nc)\r\n\
                      * 2 FETCH (BODY[] {7}\r\nx\r\ny\r\nz UID 7)\r\n\
                      * 3 FETCH (FLAGS (\\Seen))\r\n\
                      A0003 OK done\r\n";
        for chunk in [usize::MAX, 1, 3] {
            let (r, got, sent) = fetch(reply, chunk, &[7, 5]);
            let r = r.unwrap();
            assert_eq!(r.delivered, vec![5, 7]);
            assert!(r.missing.is_empty() && !r.stopped);
            assert_eq!(
                got,
                vec![(5, b"ab\r\nc".to_vec()), (7, b"x\r\ny\r\nz".to_vec())]
            );
            assert_eq!(sent, "A0003 UID FETCH 5,7 (UID BODY.PEEK[])\r\n");
        }
    }

    #[test]
    fn fetch_pipelines_chunks() {
        let mut script = GREETING.to_vec();
        script.extend_from_slice(b"* 40 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\nA0001 OK done\r\n");
        for i in 1..=40 {
            script.extend_from_slice(
                format!("* {i} FETCH (UID {} RFC822.SIZE 3)\r\n", i * 2).as_bytes(),
            );
        }
        script.extend_from_slice(b"A0002 OK done\r\n");
        // The server answers the three commands; the second one out of order with the third.
        let mut reply = |tag: &str, range: std::ops::RangeInclusive<u32>| {
            for i in range {
                script.extend_from_slice(
                    format!("* {i} FETCH (UID {} BODY[] {{3}}\r\nm{i:02})\r\n", i * 2).as_bytes(),
                );
            }
            script.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
        };
        reply("A0003", 1..=16);
        reply("A0005", 33..=40);
        reply("A0004", 17..=32);
        let (m, w) = mock(&script, 7);
        let mut s = Session::start(m).unwrap();
        s.select("INBOX", true).unwrap();
        s.uids_and_sizes().unwrap();
        w.borrow_mut().clear();
        let uids: Vec<u32> = (1..=40).map(|i| i * 2).collect();
        let mut got = Vec::new();
        let out = s
            .fetch_bodies(&uids, &mut |uid, r| {
                let mut v = String::new();
                r.read_to_string(&mut v).unwrap();
                got.push((uid, v));
                Ok(())
            })
            .unwrap();
        assert_eq!(out.delivered.len(), 40);
        assert!(out.missing.is_empty());
        assert_eq!(got[0], (2, "m01".to_string()));
        assert_eq!(got[39], (64, "m32".to_string()));
        let sent = text(&w);
        assert!(
            sent.starts_with(
                "A0003 UID FETCH 2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32 (UID BODY.PEEK[])\r\n\
                 A0004 UID FETCH 34,"
            ),
            "{sent}"
        );
        assert_eq!(sent.lines().count(), 3);
    }

    #[test]
    fn capabilities_from_everywhere() {
        let (mut s, _) = session(
            b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 X-Custom=1 literal+\r\nA0001 OK done\r\n",
        );
        assert!(s.capabilities().has("STARTTLS"));
        let caps = s.capability().unwrap();
        assert!(caps.auth("xoauth2"));
        assert!(caps.has("X-CUSTOM=1"));
        assert!(caps.has("LITERAL+"));
        assert!(!caps.has("STARTTLS"));
        assert!(!caps.has("IDLE"));
    }

    #[test]
    fn fetch_reports_missing_and_quoted_bodies() {
        let reply = b"* 3 FETCH (UID 11 BODY[] \"abc\")\r\nA0003 OK done\r\n";
        let (r, got, _) = fetch(reply, usize::MAX, &[5, 11]);
        let r = r.unwrap();
        assert_eq!(r.delivered, vec![11]);
        assert_eq!(r.missing, vec![5]);
        assert_eq!(got, vec![(11, b"abc".to_vec())]);
    }

    #[test]
    fn quoted_bodies_need_a_following_response_too() {
        for (reply, closed) in [
            (&b"* 3 FETCH (UID 11 BODY[] \"abc\")\r\n"[..], true),
            (
                b"* 3 FETCH (UID 11 BODY[] \"abc\")\r\n)\r\nA0003 OK\r\n",
                false,
            ),
        ] {
            let (r, got, _) = fetch(reply, usize::MAX, &[11]);
            assert!(got.is_empty(), "{got:?}");
            match r {
                Err(SourceError::Connection { .. }) if closed => {}
                Err(SourceError::Protocol(_)) if !closed => {}
                r => panic!("{r:?}"),
            }
        }
    }

    #[test]
    fn fetch_uid_mismatch_is_protocol_error() {
        let reply = b"* 2 FETCH (BODY[] {7}\r\nx\r\ny\r\nz UID 5)\r\nA0003 OK done\r\n";
        let (r, _, _) = fetch(reply, usize::MAX, &[7]);
        assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
    }

    #[test]
    fn fetch_cut_mid_literal_is_an_error() {
        let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab";
        for chunk in [usize::MAX, 1] {
            let (r, got, _) = fetch(reply, chunk, &[5]);
            assert!(matches!(r, Err(SourceError::Connection { .. })), "{r:?}");
            // The callback saw an error, not a short end.
            assert!(got.is_empty());
        }
    }

    #[test]
    fn fetch_garbage_after_literal_is_protocol_error() {
        let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab\r\ncXYZ)\r\nA0003 OK done\r\n";
        let (r, _, _) = fetch(reply, usize::MAX, &[5]);
        assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
    }

    #[test]
    fn fetch_stop_still_consumes() {
        let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab\r\nc)\r\n\
                      * 2 FETCH (UID 7 BODY[] {7}\r\nx\r\ny\r\nz)\r\n\
                      A0003 OK done\r\nA0004 OK [CAPABILITY IMAP4rev1] x\r\n";
        let mut all = GREETING.to_vec();
        all.extend_from_slice(SELECT);
        all.extend_from_slice(
            b"* 1 FETCH (UID 5 RFC822.SIZE 5)\r\n* 2 FETCH (UID 7 RFC822.SIZE 7)\r\n\
              * 3 FETCH (UID 11 RFC822.SIZE 3)\r\nA0002 OK done\r\n",
        );
        all.extend_from_slice(reply);
        let (m, _) = mock(&all, 2);
        let mut s = Session::start(m).unwrap();
        s.select("INBOX", false).unwrap();
        s.uids_and_sizes().unwrap();
        let mut calls = 0;
        let r = s
            .fetch_bodies(&[5, 7], &mut |_, r| {
                calls += 1;
                let mut b = [0u8; 1];
                r.read_exact(&mut b).unwrap();
                Err(Stop)
            })
            .unwrap();
        assert_eq!(calls, 1);
        assert!(r.stopped);
        assert!(r.delivered.is_empty());
        // The session is still in sync.
        s.capability().unwrap();
    }

    #[test]
    fn a_body_under_another_uid_is_not_delivered() {
        // Message 1 was listed as UID 5; a FETCH response that says message 1 is UID 7 would
        // put message 1's bytes under UID 7 (and, in delete mode, UID 7 would be expunged
        // without ever being fetched).
        for reply in [
            &b"* 1 FETCH (UID 7 BODY[] {5}\r\nab\r\nc)\r\nA0003 OK done\r\n"[..],
            b"* 3 FETCH (UID 7 BODY[] {5}\r\nab\r\nc)\r\nA0003 OK done\r\n",
            b"* 1 FETCH (UID 7 BODY[] \"abc\")\r\nA0003 OK done\r\n",
        ] {
            let (r, got, _) = fetch(reply, usize::MAX, &[5, 7]);
            assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
            assert!(got.is_empty(), "{got:?}");
        }
    }

    #[test]
    fn many_literals_in_one_response_are_not_probed_one_by_one() {
        // Each probe parses the response so far: probing 100,000 literals of one response
        // would take quadratic time.
        let mut reply = b"* 1 FETCH (UID 5 X-FOO (".to_vec();
        for _ in 0..100_000 {
            reply.extend_from_slice(b"{0}\r\n ");
        }
        reply.extend_from_slice(b"))\r\nA0003 OK done\r\n");
        let (r, got, _) = fetch(&reply, usize::MAX, &[5]);
        assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
        assert!(got.is_empty());
    }

    #[test]
    fn fetch_without_known_uid_is_protocol_error() {
        let reply = b"* 9 FETCH (BODY[] {3}\r\nabc UID 99)\r\nA0003 OK done\r\n";
        let (r, _, _) = fetch(reply, usize::MAX, &[99]);
        assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
    }

    #[test]
    fn bye_mid_session() {
        let (mut s, _) = selected(b"* BYE shutting down\r\n");
        let e = s.uids_and_sizes().unwrap_err();
        assert!(matches!(e, SourceError::Connection { .. }), "{e:?}");
    }

    #[test]
    fn garbage_line_is_protocol_error() {
        let (mut s, _) = selected(b"hello world\r\n");
        let e = s.uids_and_sizes().unwrap_err();
        assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
        // Unknown untagged data is skipped.
        let (mut s, _) =
            selected(b"* XFOO bar (baz\r\n* 1 FETCH (UID 5 RFC822.SIZE 1)\r\nA0002 OK done\r\n");
        assert_eq!(s.uids_and_sizes().unwrap(), vec![(5, 1)]);
        // But a FETCH that cannot be parsed is an error.
        let (mut s, _) = selected(b"* 1 FETCH (UID x)\r\nA0002 OK done\r\n");
        assert!(matches!(s.uids_and_sizes(), Err(SourceError::Protocol(_))));
    }

    #[test]
    fn store_expunge_search_message_ids() {
        let (mut s, w) = selected(
            b"A0002 OK stored\r\n\
              * 2 EXPUNGE\r\nA0003 OK expunged\r\n\
              * SEARCH 3 9\r\nA0004 OK done\r\n\
              * 1 FETCH (UID 5 RFC822.SIZE 42 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\nMessage-ID: <a@b>\r\n\r\n)\r\n\
              * 2 FETCH (UID 11 RFC822.SIZE 7 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n\
              A0005 OK done\r\n\
              A0006 OK stored\r\n",
        );
        for (seq, uid) in [(1, 5), (2, 7), (3, 11)] {
            s.seqs.insert(seq, uid).unwrap();
        }
        s.store_deleted(&[7, 5, 6]).unwrap();
        assert_eq!(s.expunge(&[5, 6, 7]).unwrap(), vec![7]);
        assert_eq!(s.deleted_uids_in_mailbox().unwrap(), vec![3, 9]);
        assert_eq!(
            s.message_ids(&[5, 11]).unwrap(),
            vec![(5, Some("<a@b>".to_string()), 42), (11, None, 7)]
        );
        s.store_keyword(&[5], "$MDNSent").unwrap();
        assert_eq!(
            text(&w),
            "A0002 UID STORE 5:7 +FLAGS.SILENT (\\Deleted)\r\n\
             A0003 UID EXPUNGE 5:7\r\n\
             A0004 UID SEARCH DELETED\r\n\
             A0005 UID FETCH 5,11 (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n\
             A0006 UID STORE 5 +FLAGS.SILENT ($MDNSent)\r\n"
        );
        assert!(s.store_keyword(&[5], "bad word").is_err());
    }

    #[test]
    fn tagged_no_and_bad() {
        let (mut s, _) = selected(b"A0002 NO [SERVERBUG] oops\r\n");
        assert!(matches!(
            s.store_deleted(&[1]),
            Err(SourceError::Temporary(_))
        ));
        let (mut s, _) = selected(b"A0002 BAD syntax\r\n");
        assert!(matches!(
            s.store_deleted(&[1]),
            Err(SourceError::Protocol(_))
        ));
        let (mut s, _) = selected(b"A0099 OK what\r\n");
        assert!(matches!(
            s.store_deleted(&[1]),
            Err(SourceError::Protocol(_))
        ));
    }

    #[test]
    fn starttls_checks() {
        // Not advertised.
        let (m, _) = mock(b"* OK [CAPABILITY IMAP4rev1] hi\r\n", usize::MAX);
        let s = Session::start(m).unwrap();
        assert!(matches!(s.starttls(Ok), Err(SourceError::Unavailable(_))));
        // Injection after the OK.
        let (s, _) = session(b"A0001 OK go\r\nA0002 OK injected\r\n");
        assert!(matches!(s.starttls(Ok), Err(SourceError::Protocol(_))));
        // Fine: capabilities are asked for again.
        let (s, w) = session(b"A0001 OK go\r\n");
        let r = s.starttls(|mut m| {
            m.input
                .extend_from_slice(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA0002 OK done\r\n");
            Ok(m)
        });
        let s = r.unwrap();
        assert!(!s.capabilities().has("STARTTLS"));
        assert_eq!(text(&w), "A0001 STARTTLS\r\nA0002 CAPABILITY\r\n");
    }

    #[test]
    fn idle_sees_new_mail() {
        let (mut s, w) = selected(b"+ idling\r\n* 4 EXISTS\r\nA0002 OK done\r\n");
        assert_eq!(
            s.idle(Duration::from_secs(5)).unwrap(),
            IdleEvent::NewMail { exists: 4 }
        );
        assert_eq!(text(&w), "A0002 IDLE\r\nDONE\r\n");
    }

    #[test]
    fn claimed_numbers_cost_no_memory() {
        // Issue 11, class 2: `* 4294967295 EXISTS` or a FETCH for message 4294967295 made
        // the session allocate a vector of that length (16 GiB).
        let (mut s, _) = selected(
            b"* 100000000 EXISTS\r\n\
              * 1 FETCH (UID 5 RFC822.SIZE 10)\r\n\
              * 99999999 FETCH (UID 7 RFC822.SIZE 20)\r\n\
              * 4294967295 FETCH (UID 8 RFC822.SIZE 30)\r\n\
              * 4294967295 EXISTS\r\n\
              * 4294967295 EXPUNGE\r\n\
              A0002 OK done\r\n",
        );
        s.uids_and_sizes().unwrap();
        assert!(s.seqs.len() <= 3, "{} sequence numbers held", s.seqs.len());
        assert_eq!(s.uid_of(99_999_999), Some(7));
        assert_eq!(s.exists(), 4_294_967_294);
    }

    #[test]
    fn bye_without_text() {
        // Issue 11, class 12: `* BYE` without text was logged as an unparseable response.
        let (mut s, _) = selected(b"* BYE\r\n");
        let e = s.uids_and_sizes().unwrap_err();
        assert!(matches!(e, SourceError::Connection { .. }), "{e:?}");
        assert!(
            e.to_string().contains("the server ended the session"),
            "{e}"
        );
        assert!(!e.to_string().contains(proto::NO_TEXT), "{e}");
        let (mut s, _) = session(b"* BYE\r\nA0001 OK\r\n");
        s.logout().unwrap();
    }

    #[test]
    fn list_accepts_only_names_that_answer_the_pattern() {
        // Issue 11, class 6: asked for INBOX, a server that also names Private must not get
        // Private fetched (and, with --no-keep, expunged).
        let (mut s, _) = session(
            b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
              * LIST (\\HasNoChildren) \"/\" Private\r\n\
              * LIST () \"/\" \"INBOX/x\"\r\n\
              A0001 OK done\r\n\
              * LIST () \"/\" \"Lists/a\"\r\n\
              * LIST () \"/\" \"Lists/a/b\"\r\n\
              * LIST () \"/\" \"Other\"\r\n\
              * LIST () NIL \"Lists/c/d\"\r\n\
              A0002 OK done\r\n",
        );
        let names: Vec<String> = s
            .list(&["inbox".to_string(), "Lists/%".to_string()])
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["INBOX", "Lists/a", "Lists/c/d"]);
    }

    #[test]
    fn list_bounds_names() {
        let mut script = Vec::new();
        script.extend_from_slice(
            format!("* LIST () \"/\" \"{}\"\r\n", "x".repeat(MAX_NAME + 1)).as_bytes(),
        );
        script.extend_from_slice(b"A0001 OK done\r\n");
        for i in 0..=MAX_MAILBOXES {
            script.extend_from_slice(format!("* LIST () \"/\" \"f{i}\"\r\n").as_bytes());
        }
        script.extend_from_slice(b"A0002 OK done\r\n");
        let (mut s, _) = session(&script);
        assert!(s.list(&["*".to_string()]).unwrap().is_empty());
        let e = s.list(&["*".to_string()]).unwrap_err();
        assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
    }

    #[test]
    fn logs_and_errors_quote_little() {
        let mut line = b"* 1 FETCH (UID ".to_vec();
        line.resize(1 << 20, b'9');
        line.extend_from_slice(b")\r\n");
        let (mut s, _) = selected(&line);
        let e = s.uids_and_sizes().unwrap_err();
        assert!(
            e.to_string().len() < 400,
            "{} bytes of error",
            e.to_string().len()
        );
    }

    #[test]
    fn utf8_accept_is_enabled_and_names_travel_in_utf8() {
        let (m, w) = mock(
            b"* OK [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT LITERAL+] hi\r\n\
              * ENABLED UTF8=ACCEPT\r\nA0001 OK enabled\r\n\
              * LIST () \"/\" \"Entw\xc3\xbcrfe\"\r\n\
              * LIST () \"/\" \"A&-B\"\r\nA0002 OK done\r\n\
              * 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\nA0003 OK done\r\n",
            usize::MAX,
        );
        let mut s = Session::start(m).unwrap();
        assert!(s.capabilities().has("UTF8=ACCEPT"));
        assert!(s.enable_utf8().unwrap());
        assert!(s.enable_utf8().unwrap()); // once only
        let names: Vec<String> = s
            .list(&["*".to_string()])
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        // After ENABLE, `&` is just a character: no modified UTF-7 decoding.
        assert_eq!(names, ["Entwürfe", "A&-B"]);
        s.select("Entwürfe", true).unwrap();
        assert_eq!(
            text(&w),
            "A0001 ENABLE UTF8=ACCEPT\r\nA0002 LIST \"\" \"*\"\r\n\
             A0003 EXAMINE {9+}\r\nEntwürfe\r\n"
        );

        // Not offered: nothing sent. Refused: used without.
        let (mut s, w) = session(b"");
        assert!(!s.enable_utf8().unwrap());
        assert_eq!(text(&w), "");
        let (m, _) = mock(
            b"* OK [CAPABILITY IMAP4rev1 UTF8=ACCEPT] hi\r\nA0001 BAD no\r\n",
            usize::MAX,
        );
        let mut s = Session::start(m).unwrap();
        assert!(!s.enable_utf8().unwrap());
    }

    #[test]
    fn logout_accepts_bye() {
        let (mut s, w) = session(b"* BYE bye\r\nA0001 OK done\r\n");
        s.logout().unwrap();
        assert_eq!(text(&w), "A0001 LOGOUT\r\n");
        let (mut s, _) = session(b"* BYE bye\r\n");
        s.logout().unwrap();
    }
}
