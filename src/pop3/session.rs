//! A POP3 session over any `Read + Write` stream (RFC 1939 §3–§7, RFC 2449, RFC 2595 §4,
//! RFC 3206, RFC 5034, RFC 6856).
//!
//! The session implements [`Source`](crate::source::Source) (in [`super::source`], with the
//! commands in [`super::transfer`]): it lists with UIDL and LIST, streams RETR replies through
//! [`ProvenBody`] straight into the sink, and deletes with DELE. When the server advertises
//! PIPELINING (RFC 2449 §6.6) it keeps a window of commands in flight: DELEs for messages the
//! sink has released go first, then RETRs, bounded by a count and by the bytes of RETR replies
//! outstanding, so the connection never idles waiting for a round trip. Without PIPELINING it
//! sends one command at a time. Nothing is ever written in the same write as the authentication
//! command (some servers discard what arrives with it); when the server offers `UTF8` (RFC
//! 6856), `UTF8` goes right after authentication, alone, so that a server that would convert
//! messages with UTF-8 header fields for old clients sends them as it holds them.
//!
//! **Every reply is matched to its command before anything is recorded.** The engine records a
//! message as soon as its body reader reports the end, so [`ProvenBody`] reports it only after
//! proving the framing (see [`super::reply`]): the terminator, a first line that is not a status
//! line, a size consistent with the `+OK N octets` announcement and not wildly unlike the LIST
//! size, and, on a pipelining server, the reply to a `UIDL n` sent right after each `RETR n`
//! (or `TOP n 0`): `+OK n <the unique id listed for n>`. An extra reply, a missing one or a
//! shifted stream cannot produce that line, so the message that was in flight is not recorded.
//! Besides, whenever no reply is due (before a command is sent with nothing in flight, after the
//! QUIT reply) nothing may have arrived. Listings must name every message once in both UIDL
//! and LIST ([`super::listing`]). Once the replies are out of step the session is
//! *desynchronised*: it returns a protocol error (exit 76), sends nothing more — not even QUIT,
//! so that the server never enters the UPDATE state and no DELE of the session takes effect —
//! and the messages proven before stay recorded.
//!
//! **Residual risk without PIPELINING** (Gmail's POP3 has none): the sentinel would cost a
//! round trip per message, so it is not sent. What remains is free: nothing may be buffered
//! after a terminator or a reply, the announced octet count must fit, the size must be
//! plausible, the first line must not be a status line. A server that sent an extra reply in a
//! separate TCP segment, arriving after mailpull had read a terminator and before it sent the
//! next command, and whose next message is about the size of the one expected (within a factor
//! of four) and has no octet count, could still have its replies read one step late. A server
//! that lists wrong unique ids cannot be caught without the sentinel either: such a message is
//! recorded under the id the server gave, and fetched again when the server corrects it.
//!
//! Every command and status line is logged at debug level (`-v`), passwords and SASL responses
//! redacted, with a count for the UIDL and LIST listings and the size of each message; every
//! line of a CAPA reply at trace level (`-vv`). Server text is decoded lossily for the log and
//! for messages, which quote at most a short prefix of it.

use std::io::{self, BufReader, Read, Write};

use super::proto::{self, quote, Capabilities, Status};
#[cfg(doc)]
use super::reply::ProvenBody;
use super::reply::{self, Ended};
use crate::sasl::OAuthMechanism;
use crate::source::{RemoteMessage, SourceError};
use crate::tls::{self, StartTls};

/// How to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// SASL PLAIN when the server advertises it, else USER/PASS.
    Auto,
    /// USER and PASS (RFC 1939 §7).
    User,
    /// SASL PLAIN with an initial response (RFC 5034 §4, RFC 4616).
    Plain,
    /// APOP (RFC 1939 §7), when the greeting carries a timestamp.
    Apop,
    /// SASL XOAUTH2 (RFC 5034); the secret is an OAuth 2 access token ([`super::auth`]).
    XOAuth2,
    /// SASL OAUTHBEARER (RFC 5034, RFC 7628); the secret is an OAuth 2 access token.
    OAuthBearer,
}

/// Messages in flight at most when pipelining (each is a RETR or TOP and its `UIDL n`, or a
/// DELE).
pub(super) const MAX_IN_FLIGHT: usize = 64;
/// Bytes of RETR replies in flight at most when pipelining (at least one RETR is always sent).
pub(super) const MAX_BYTES_IN_FLIGHT: u64 = 2 << 20;
/// Read buffer size.
const BUF_SIZE: usize = 64 * 1024;
/// The most lines a CAPA reply may have (real ones have about ten).
const MAX_CAPA_LINES: usize = 1000;

/// A POP3 session.
pub struct Session<S: Read + Write> {
    pub(super) conn: BufReader<S>,
    out: Vec<u8>,
    pub(super) line: Vec<u8>,
    /// The greeting line as sent (the APOP digest covers its timestamp's bytes).
    greeting_line: Vec<u8>,
    greeting: String,
    pub(super) caps: Capabilities,
    /// Set once the replies could not be matched to the commands (or could not be parsed):
    /// nothing more is sent, not even QUIT.
    desync: Option<String>,
    /// Whether the server's RETR replies announce their size (`+OK N octets`), once known: a
    /// server answers all of them alike.
    pub(super) octet_counts: Option<bool>,
    /// Messages in the maildrop as listed, and how many of them the server accepted a DELE
    /// for since: what STAT must answer before QUIT (see [`Session::quit`]).
    pub(super) listed: usize,
    pub(super) deleted: usize,
    /// Replies were read since the last one proven to belong to its command (single-line
    /// DELE replies after the last proven message): QUIT is preceded by a STAT sentinel.
    pub(super) unproven: bool,
}

/// Turns an I/O error into a classified source error.
fn io_error(context: &str, e: io::Error) -> SourceError {
    match e.kind() {
        io::ErrorKind::InvalidData => SourceError::Protocol(format!("{context}: {e}")),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SourceError::io(
            context,
            io::Error::new(io::ErrorKind::TimedOut, "the server did not answer in time"),
        ),
        _ => SourceError::io(context, e),
    }
}

/// Classifies a `-ERR` reply by its response code (RFC 2449 §8, RFC 3206).
pub(super) fn refusal(context: &str, st: &Status, default_auth: bool) -> SourceError {
    let msg = if st.text.is_empty() {
        format!("{context}: the server said -ERR")
    } else {
        format!("{context}: the server said: {}", st.quoted())
    };
    match st.code.as_deref() {
        Some("LOGIN-DELAY") => SourceError::Unavailable(format!(
            "{msg}\n  (the server limits how often you may log in [LOGIN-DELAY]; try again later)"
        )),
        Some("IN-USE") => SourceError::Unavailable(format!(
            "{msg}\n  (the mailbox is in use by another session [IN-USE]; try again when it has ended)"
        )),
        Some("SYS/TEMP") => SourceError::Temporary(msg),
        Some("SYS/PERM") => SourceError::Unavailable(format!("{msg} [SYS/PERM]")),
        Some("AUTH") => SourceError::Auth(format!("{msg}\n  (check the user name and password)")),
        _ if default_auth => SourceError::Auth(format!("{msg}\n  (check the user name and password)")),
        _ => SourceError::Protocol(msg),
    }
}

/// What a desynchronised session did about it, for error messages.
pub(super) const DESYNC_ADVICE: &str =
    "\n  (mailpull ended the session without QUIT, so the server deletes \
     nothing; messages delivered before stay recorded, the others are fetched next time)";

impl<S: Read + Write> Session<S> {
    /// Reads the greeting from a fresh connection.
    pub fn start(stream: S) -> Result<Session<S>, SourceError> {
        let mut s = Session {
            conn: BufReader::with_capacity(BUF_SIZE, stream),
            out: Vec::with_capacity(4096),
            line: Vec::with_capacity(512),
            greeting_line: Vec::new(),
            greeting: String::new(),
            caps: Capabilities::default(),
            desync: None,
            octet_counts: None,
            listed: 0,
            deleted: 0,
            unproven: false,
        };
        let st = s.status("reading the server greeting")?;
        if !st.ok {
            return Err(match st.code.as_deref() {
                Some(_) => refusal("server greeting", &st, false),
                None => SourceError::Unavailable(format!(
                    "the server refused the connection: {}",
                    st.quoted()
                )),
            });
        }
        s.greeting_line = s.line.clone();
        s.greeting = st.text;
        Ok(s)
    }

    /// The greeting text (after `+OK`).
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// The capabilities from the last CAPA.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Asks for the capability list (RFC 2449 §5). A server without CAPA gets an empty list.
    pub fn capa(&mut self) -> Result<(), SourceError> {
        self.expect_idle("CAPA")?;
        self.send("CAPA");
        self.flush("sending CAPA")?;
        let st = self.status("reading the CAPA reply")?;
        self.caps = if st.ok {
            let mut lines = Vec::new();
            self.multiline("reading the capability list", MAX_CAPA_LINES, |l| {
                let l = String::from_utf8_lossy(l).into_owned();
                log::trace!("S: {l}");
                lines.push(l);
                Ok(())
            })?;
            Capabilities::from_lines(lines)
        } else {
            Capabilities::default()
        };
        Ok(())
    }

    /// Negotiates TLS with STLS (RFC 2595 §4). `upgrade` performs the TLS handshake on the raw
    /// stream. Refuses when the server does not advertise STLS: never falls back to plaintext.
    /// The procedure is [`tls::secure`]'s, shared with IMAP's STARTTLS.
    pub fn stls<F>(self, upgrade: F) -> Result<Session<S>, SourceError>
    where
        F: FnOnce(S) -> Result<S, SourceError>,
    {
        tls::secure(self, upgrade)
    }

    /// Logs in. `method` is honoured as asked; `Auto` picks SASL PLAIN when advertised. Then,
    /// when the server offers it, asks for UTF-8 mode (RFC 6856).
    pub fn login(
        &mut self,
        user: &str,
        password: &str,
        method: AuthMethod,
    ) -> Result<(), SourceError> {
        let method = match method {
            AuthMethod::Auto if self.caps.sasl("PLAIN") => AuthMethod::Plain,
            AuthMethod::Auto => AuthMethod::User,
            m => m,
        };
        self.expect_idle("logging in")?;
        // The authentication command is always the last thing in its write: some servers
        // discard whatever arrives with it.
        match method {
            AuthMethod::XOAuth2 => self.auth_oauth(OAuthMechanism::XOAuth2, user, password)?,
            AuthMethod::OAuthBearer => {
                self.auth_oauth(OAuthMechanism::OAuthBearer, user, password)?
            }
            AuthMethod::Plain => {
                // A server whose CAPA does not list PLAIN would refuse it, and the refusal
                // would read like a wrong password. (A server without CAPA may still take it.)
                if !self.caps.lines().is_empty() && !self.caps.sasl("PLAIN") {
                    return Err(self.sasl_not_offered("PLAIN"));
                }
                let resp = proto::sasl_plain(user, password);
                self.send_secret(&format!("AUTH PLAIN {resp}"), "AUTH PLAIN <redacted>");
                self.flush("sending AUTH PLAIN")?;
                let st = self.status("authenticating")?;
                if !st.ok {
                    return Err(refusal("the server refused the login", &st, true));
                }
            }
            AuthMethod::Apop => {
                let Some(stamp) = proto::apop_timestamp(&self.greeting_line) else {
                    return Err(SourceError::Unavailable(
                        "APOP was asked for, but the server's greeting offers no APOP \
                         timestamp; use another --auth method"
                            .into(),
                    ));
                };
                let digest = proto::apop_digest(stamp, password);
                self.send_secret(
                    &format!("APOP {user} {digest}"),
                    &format!("APOP {user} <redacted>"),
                );
                self.flush("sending APOP")?;
                let st = self.status("authenticating")?;
                if !st.ok {
                    return Err(refusal("the server refused the login", &st, true));
                }
            }
            AuthMethod::User | AuthMethod::Auto => {
                let pipelining = self.caps.has("PIPELINING");
                self.send(&format!("USER {user}"));
                if !pipelining {
                    self.flush("sending USER")?;
                    let st = self.status("sending the user name")?;
                    if !st.ok {
                        return Err(refusal("the server refused the login", &st, true));
                    }
                }
                self.send_secret(&format!("PASS {password}"), "PASS <redacted>");
                self.flush("sending PASS")?;
                if pipelining {
                    let st = self.status("sending the user name")?;
                    if !st.ok {
                        // The PASS reply still comes; read it so the log is complete.
                        let _ = self.status("authenticating");
                        return Err(refusal("the server refused the login", &st, true));
                    }
                }
                let st = self.status("authenticating")?;
                if !st.ok {
                    return Err(refusal("the server refused the login", &st, true));
                }
            }
        }
        if let Some(delay) = self
            .caps
            .args("LOGIN-DELAY")
            .and_then(|a| a.first().cloned())
        {
            log::debug!("server asks for at least {delay} seconds between logins (LOGIN-DELAY)");
        }
        if self.caps.has("UTF8") {
            self.utf8()?;
        }
        Ok(())
    }

    /// RFC 6856: asks for UTF-8 mode, in a write of its own after the authentication reply and
    /// before any listing. A server that offers it may otherwise replace a message with UTF-8
    /// in its header by a generated notice that carries the original as an attachment. The
    /// session goes on whatever the answer.
    fn utf8(&mut self) -> Result<(), SourceError> {
        self.expect_idle("UTF8")?;
        self.send("UTF8");
        self.flush("sending UTF8")?;
        let st = self.status("reading the UTF8 reply")?;
        if st.ok {
            log::debug!("UTF-8 mode is on: the server sends messages as it holds them");
        } else {
            log::info!(
                "the server refused UTF8 ({}); it may send messages whose header holds UTF-8 \
                 in a converted form",
                st.quoted()
            );
        }
        Ok(())
    }

    /// Queues a command (sent at the next `flush`).
    pub(super) fn send(&mut self, cmd: &str) {
        self.send_secret(cmd, cmd);
    }

    /// Queues a command, logging `shown` instead of it (passwords, SASL data).
    pub(super) fn send_secret(&mut self, cmd: &str, shown: &str) {
        log::debug!("C: {shown}");
        self.out.extend_from_slice(cmd.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub(super) fn flush(&mut self, context: &str) -> Result<(), SourceError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stream = self.conn.get_mut();
        let r = stream.write_all(&self.out).and_then(|_| stream.flush());
        self.out.clear();
        r.map_err(|e| io_error(context, e))
    }

    /// A protocol error that leaves the replies unmatched to the commands: the session is
    /// desynchronised from here on (see the module documentation).
    pub(super) fn protocol(&mut self, msg: String) -> SourceError {
        log::debug!("the session is out of step: {msg}");
        self.desync.get_or_insert_with(|| msg.clone());
        SourceError::Protocol(msg)
    }

    /// Nothing may have arrived when no reply is due (before a command is sent with nothing in
    /// flight).
    pub(super) fn expect_idle(&mut self, before: &str) -> Result<(), SourceError> {
        if self.conn.buffer().is_empty() {
            return Ok(());
        }
        let q = quote(self.conn.buffer());
        Err(self.protocol(format!(
            "the server sent {q:?} before {before} although no reply was due: its replies are \
             out of step with the commands{DESYNC_ADVICE}"
        )))
    }

    /// Reads one line into `self.line`; a closed connection is an error saying `closed`.
    pub(super) fn read_line(&mut self, context: &str, closed: &str) -> Result<(), SourceError> {
        match proto::read_line(&mut self.conn, &mut self.line) {
            Ok(Some(())) => Ok(()),
            Ok(None) => Err(SourceError::io(
                context,
                io::Error::new(io::ErrorKind::UnexpectedEof, closed.to_string()),
            )),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let q = quote(&self.line);
                Err(self.protocol(format!(
                    "{context}: the server sent a line longer than {} bytes ({q:?})",
                    proto::MAX_LINE
                )))
            }
            Err(e) => Err(io_error(context, e)),
        }
    }

    /// Reads one status line.
    pub(super) fn status(&mut self, context: &str) -> Result<Status, SourceError> {
        self.read_line(context, "the server closed the connection")?;
        log::debug!("S: {}", String::from_utf8_lossy(&self.line));
        match proto::parse_status(&self.line) {
            Some(st) => Ok(st),
            None => {
                let q = quote(&self.line);
                Err(self.protocol(format!("{context}: expected +OK or -ERR, got {q:?}")))
            }
        }
    }

    /// Reads the lines of a multi-line reply (listings; never message bodies), removing the
    /// stuffed dots, and hands each to `each`; at most `max` lines. Returns their number.
    pub(super) fn multiline(
        &mut self,
        context: &str,
        max: usize,
        mut each: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<usize, SourceError> {
        let mut count = 0;
        loop {
            self.read_line(
                context,
                "the server closed the connection in the middle of a listing",
            )?;
            if self.line == b"." {
                return Ok(count);
            }
            if count == max {
                return Err(self.protocol(format!("{context}: more than {max} lines")));
            }
            let l = self.line.strip_prefix(b".").unwrap_or(&self.line);
            if let Err(e) = each(l) {
                return Err(self.protocol(format!("{context}: {e}")));
            }
            count += 1;
        }
    }

    /// Reads the reply to the `UIDL n` sent after a command about `m` (the sentinel).
    pub(super) fn sentinel(&mut self, m: &RemoteMessage) -> Result<(), SourceError> {
        let context = format!("reading the reply to UIDL {}", m.number);
        self.read_line(&context, "the server closed the connection")?;
        log::debug!("S: {}", String::from_utf8_lossy(&self.line));
        if reply::sentinel_matches(&self.line, m.number, &m.uid) {
            return Ok(());
        }
        let q = quote(&self.line);
        Err(self.protocol(format!(
            "the server answered {q:?} where the reply to UIDL {} (+OK {} {}) was due: its \
             replies are out of step with the commands{DESYNC_ADVICE}",
            m.number, m.number, m.uid
        )))
    }

    /// Turns how a message reply ended into the session's result.
    pub(super) fn ended(&mut self, context: &str, ended: Ended) -> Result<(), SourceError> {
        match ended {
            Ended::Proven => Ok(()),
            Ended::Broken(kind, text) => Err(io_error(context, io::Error::new(kind, text))),
            Ended::Desync(why) => Err(self.protocol(format!("{why}{DESYNC_ADVICE}"))),
            Ended::Open => {
                Err(self.protocol(format!("{context}: the reply was not read to its end")))
            }
        }
    }
}

/// STLS's steps, run in order by [`tls::secure`].
impl<S: Read + Write> StartTls for Session<S> {
    type Stream = S;
    const COMMAND: &'static str = "STLS";
    const IMPLICIT_TLS_SCHEME: &'static str = "pop3s://";

    fn offers_tls(&self) -> bool {
        self.caps.has("STLS")
    }

    fn request_tls(&mut self) -> Result<(), SourceError> {
        self.expect_idle("STLS")?;
        self.send("STLS");
        self.flush("sending STLS")?;
        let st = self.status("reading the STLS reply")?;
        if !st.ok {
            return Err(SourceError::Unavailable(format!(
                "the server refused STLS: {}",
                st.quoted()
            )));
        }
        Ok(())
    }

    fn read_ahead(&self) -> bool {
        !self.conn.buffer().is_empty()
    }

    fn resume_over<F>(mut self, upgrade: F) -> Result<Self, SourceError>
    where
        F: FnOnce(S) -> Result<S, SourceError>,
    {
        let greeting_line = std::mem::take(&mut self.greeting_line);
        let greeting = std::mem::take(&mut self.greeting);
        let stream = upgrade(self.conn.into_inner())?;
        let mut s = Session {
            conn: BufReader::with_capacity(BUF_SIZE, stream),
            out: self.out,
            line: self.line,
            greeting_line,
            greeting,
            caps: Capabilities::default(),
            desync: None,
            octet_counts: None,
            listed: 0,
            deleted: 0,
            unproven: false,
        };
        // RFC 2595 §4: capabilities learned before TLS must be discarded.
        s.capa()?;
        Ok(s)
    }
}

impl<S: Read + Write> Session<S> {
    /// STAT before QUIT when the last replies read (DELEs after the last proven message) carry
    /// nothing that ties them to their commands: `+OK n size` with `n` the messages listed less
    /// those deleted in this session (RFC 1939 §5: deleted messages are not counted) proves
    /// that no reply came twice or went missing, so that an extra `+OK` cannot make the reply
    /// to QUIT look like one. A mismatch makes the session desynchronised: no QUIT is sent.
    fn stat_sentinel(&mut self) -> Result<(), SourceError> {
        self.send("STAT");
        self.flush("sending STAT")?;
        let context = "reading the reply to STAT";
        self.read_line(context, "the server closed the connection")?;
        log::debug!("S: {}", String::from_utf8_lossy(&self.line));
        let expected = self.listed.saturating_sub(self.deleted);
        let count = proto::parse_status(&self.line)
            .filter(|st| st.ok)
            .and_then(|st| {
                let mut words = st.text.split_ascii_whitespace();
                let n = words.next()?.parse::<usize>().ok()?;
                words.next()?.parse::<u64>().ok()?;
                Some(n)
            });
        if count == Some(expected) {
            self.unproven = false;
            return Ok(());
        }
        let q = quote(&self.line);
        Err(self.protocol(format!(
            "the server answered {q:?} where the reply to STAT (+OK {expected} …) was due: its \
             replies are out of step with the commands{DESYNC_ADVICE}"
        )))
    }
}

impl<S: Read + Write> Session<S> {
    /// QUIT (RFC 1939 §6): the deletions take effect. Never sent once the session is out of
    /// step: the server then stays out of the UPDATE state and deletes nothing.
    pub(super) fn quit(&mut self) -> Result<(), SourceError> {
        if let Some(why) = &self.desync {
            return Err(SourceError::Protocol(format!(
                "not ending the session with QUIT after an earlier protocol error ({why}); the \
                 server deletes nothing"
            )));
        }
        self.expect_idle("QUIT")?;
        if self.unproven {
            self.stat_sentinel()?;
        }
        self.send("QUIT");
        self.flush("sending QUIT")?;
        let st = self.status("ending the session (QUIT)")?;
        if !self.conn.buffer().is_empty() {
            let q = quote(self.conn.buffer());
            return Err(self.protocol(format!(
                "the server sent more after its reply to QUIT ({q:?}): its replies were out of \
                 step with the commands, so whether the deletions of this session took effect \
                 is unknown (the next run finds out and deletes what is left)"
            )));
        }
        if !st.ok {
            // RFC 1939 §6: -ERR to QUIT means some deletions may not have been made. The
            // messages are recorded as delivered, so the next run deletes them again.
            let e = refusal("ending the session (QUIT)", &st, false);
            return Err(match e {
                SourceError::Protocol(msg) => SourceError::Temporary(format!(
                    "{msg}\n  (some deletions may not have been made; the next run retries them)"
                )),
                e => e,
            });
        }
        Ok(())
    }
}
