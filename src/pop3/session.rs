//! A POP3 session over any `Read + Write` stream (RFC 1939 §3–§7, RFC 2449, RFC 2595 §4,
//! RFC 3206, RFC 5034).
//!
//! The session implements [`Source`]: it lists with UIDL and LIST, streams RETR replies through
//! [`DotReader`] straight into the sink, and deletes with DELE. When the server advertises
//! PIPELINING (RFC 2449 §6.6) it keeps a window of commands in flight: DELEs for messages the
//! sink has released go first, then RETRs, bounded by a count and by the bytes of RETR replies
//! outstanding, so the connection never idles waiting for a round trip. Without PIPELINING it
//! sends one command at a time.
//!
//! Everything the session sends and receives is logged at debug level with passwords and SASL
//! responses redacted.

use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};

use super::proto::{self, Capabilities, DotReader, Status};
use crate::source::{
    Listing, RemoteMessage, Sink, Source, SourceError, TransferReport, HEADER_LIMIT,
};

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
}

/// Commands in flight at most when pipelining.
const MAX_IN_FLIGHT: usize = 64;
/// Bytes of RETR replies in flight at most when pipelining (at least one RETR is always sent).
const MAX_BYTES_IN_FLIGHT: u64 = 2 << 20;
/// Read buffer size.
const BUF_SIZE: usize = 64 * 1024;

/// A POP3 session.
pub struct Session<S: Read + Write> {
    conn: BufReader<S>,
    out: Vec<u8>,
    line: Vec<u8>,
    greeting: String,
    caps: Capabilities,
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
fn refusal(context: &str, st: &Status, default_auth: bool) -> SourceError {
    let msg = if st.text.is_empty() {
        format!("{context}: the server said -ERR")
    } else {
        format!("{context}: the server said: {}", st.text)
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

impl<S: Read + Write> Session<S> {
    /// Reads the greeting from a fresh connection.
    pub fn start(stream: S) -> Result<Session<S>, SourceError> {
        let mut s = Session {
            conn: BufReader::with_capacity(BUF_SIZE, stream),
            out: Vec::with_capacity(4096),
            line: Vec::with_capacity(512),
            greeting: String::new(),
            caps: Capabilities::default(),
        };
        let st = s.status("reading the server greeting")?;
        if !st.ok {
            return Err(match st.code.as_deref() {
                Some(_) => refusal("server greeting", &st, false),
                None => SourceError::Unavailable(format!(
                    "the server refused the connection: {}",
                    st.text
                )),
            });
        }
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
        self.send("CAPA");
        self.flush("sending CAPA")?;
        let st = self.status("reading the CAPA reply")?;
        self.caps = if st.ok {
            Capabilities::from_lines(self.lines("reading the capability list")?)
        } else {
            Capabilities::default()
        };
        Ok(())
    }

    /// Negotiates TLS with STLS (RFC 2595 §4). `upgrade` performs the TLS handshake on the raw
    /// stream. Refuses when the server does not advertise STLS: never falls back to plaintext.
    pub fn stls<F>(mut self, upgrade: F) -> Result<Session<S>, SourceError>
    where
        F: FnOnce(S) -> Result<S, SourceError>,
    {
        if !self.caps.has("STLS") {
            return Err(SourceError::Unavailable(
                "the server does not offer STLS, so the connection cannot be secured; mailpull \
                 will not send your password in clear.\n  (use pop3s:// if the server has a TLS \
                 port, or --insecure-no-tls on a trusted loopback connection)"
                    .into(),
            ));
        }
        self.send("STLS");
        self.flush("sending STLS")?;
        let st = self.status("reading the STLS reply")?;
        if !st.ok {
            return Err(SourceError::Unavailable(format!(
                "the server refused STLS: {}",
                st.text
            )));
        }
        if !self.conn.buffer().is_empty() {
            // Anything after the +OK would be processed as if it came over TLS
            // (the STARTTLS command injection attack, CVE-2011-0411 style).
            return Err(SourceError::Protocol(
                "the server sent unexpected data right after accepting STLS".into(),
            ));
        }
        let greeting = std::mem::take(&mut self.greeting);
        let stream = upgrade(self.conn.into_inner())?;
        let mut s = Session {
            conn: BufReader::with_capacity(BUF_SIZE, stream),
            out: self.out,
            line: self.line,
            greeting,
            caps: Capabilities::default(),
        };
        // RFC 2595 §4: capabilities learned before TLS must be discarded.
        s.capa()?;
        Ok(s)
    }

    /// Logs in. `method` is honoured as asked; `Auto` picks SASL PLAIN when advertised.
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
        match method {
            AuthMethod::Plain => {
                let resp = proto::sasl_plain(user, password);
                self.send_secret(&format!("AUTH PLAIN {resp}"), "AUTH PLAIN <redacted>");
                self.flush("sending AUTH PLAIN")?;
                let st = self.status("authenticating")?;
                if !st.ok {
                    return Err(refusal("the server refused the login", &st, true));
                }
            }
            AuthMethod::Apop => {
                let Some(stamp) = proto::apop_timestamp(&self.greeting) else {
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
        Ok(())
    }

    /// Queues a command (sent at the next `flush`).
    fn send(&mut self, cmd: &str) {
        self.send_secret(cmd, cmd);
    }

    /// Queues a command, logging `shown` instead of it (passwords, SASL data).
    fn send_secret(&mut self, cmd: &str, shown: &str) {
        log::debug!("C: {shown}");
        self.out.extend_from_slice(cmd.as_bytes());
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

    /// Reads one line into `self.line`; a closed connection is an error saying `closed`.
    fn read_line(&mut self, context: &str, closed: &str) -> Result<(), SourceError> {
        match proto::read_line(&mut self.conn, &mut self.line) {
            Ok(Some(())) => Ok(()),
            Ok(None) => Err(SourceError::io(
                context,
                io::Error::new(io::ErrorKind::UnexpectedEof, closed.to_string()),
            )),
            Err(e) => Err(io_error(context, e)),
        }
    }

    /// Reads one status line.
    fn status(&mut self, context: &str) -> Result<Status, SourceError> {
        self.read_line(context, "the server closed the connection")?;
        log::debug!("S: {}", String::from_utf8_lossy(&self.line));
        proto::parse_status(&self.line).ok_or_else(|| {
            SourceError::Protocol(format!(
                "{context}: expected +OK or -ERR, got {:?}",
                truncate(&String::from_utf8_lossy(&self.line), 80)
            ))
        })
    }

    /// Reads the lines of a multi-line reply (for short listings; never for message bodies).
    fn lines(&mut self, context: &str) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        loop {
            self.read_line(
                context,
                "the server closed the connection in the middle of a listing",
            )?;
            if self.line == b"." {
                return Ok(out);
            }
            let l = match self.line.strip_prefix(b".") {
                Some(rest) => rest,
                None => &self.line[..],
            };
            out.push(String::from_utf8_lossy(l).into_owned());
        }
    }

    fn parse_uidl(lines: &[String]) -> Result<Vec<(u32, String)>, SourceError> {
        lines
            .iter()
            .map(|l| match proto::parse_listing(l) {
                Some((n, uid)) if proto::valid_uidl(uid) => Ok((n, uid.to_string())),
                _ => Err(SourceError::Protocol(format!(
                    "malformed UIDL line {:?}",
                    truncate(l, 80)
                ))),
            })
            .collect()
    }

    fn parse_list(lines: &[String]) -> Result<Vec<(u32, u64)>, SourceError> {
        lines
            .iter()
            .map(|l| {
                proto::parse_listing(l)
                    .and_then(|(n, size)| Some((n, size.parse::<u64>().ok()?)))
                    .ok_or_else(|| {
                        SourceError::Protocol(format!("malformed LIST line {:?}", truncate(l, 80)))
                    })
            })
            .collect()
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let t: String = s.chars().take(max).collect();
        format!("{t}…")
    }
}

enum InFlight {
    Retr(usize),
    Dele(RemoteMessage),
}

impl<S: Read + Write> Source for Session<S> {
    fn mailboxes(&mut self) -> Result<Vec<String>, SourceError> {
        Ok(vec![String::new()])
    }

    fn open(&mut self, _mailbox: &str, _write: bool) -> Result<Listing, SourceError> {
        Ok(Listing {
            uidvalidity: 0,
            messages: self.list()?,
            partial: false,
        })
    }

    fn headers(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<Vec<u8>>>, SourceError> {
        self.top_headers(msgs)
    }

    fn transfer(
        &mut self,
        delete_now: &[RemoteMessage],
        retrieve: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<TransferReport, SourceError> {
        self.transfer_pipelined(delete_now, retrieve, sink)
    }

    fn finish(&mut self) -> Result<(), SourceError> {
        self.quit()
    }
}

impl<S: Read + Write> Session<S> {
    /// The messages on the server (UIDL and LIST, RFC 1939 §7 and §5), in server order.
    pub fn list(&mut self) -> Result<Vec<RemoteMessage>, SourceError> {
        let pipelining = self.caps.has("PIPELINING");
        self.send("UIDL");
        if pipelining {
            self.send("LIST");
        }
        self.flush("sending UIDL")?;
        let st = self.status("reading the UIDL reply")?;
        let uidl_lines = if st.ok {
            Some(self.lines("reading the UIDL listing")?)
        } else {
            None
        };
        if !pipelining {
            self.send("LIST");
            self.flush("sending LIST")?;
        }
        let st_list = self.status("reading the LIST reply")?;
        if !st_list.ok {
            return Err(refusal("LIST", &st_list, false));
        }
        let list = Self::parse_list(&self.lines("reading the LIST listing")?)?;
        let Some(uidl_lines) = uidl_lines else {
            return Err(SourceError::Protocol(format!(
                "the server does not support UIDL ({}); mailpull needs unique ids to know which \
                 messages it already has",
                st.text
            )));
        };
        let uidl = Self::parse_uidl(&uidl_lines)?;
        let sizes: std::collections::HashMap<u32, u64> = list.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(uidl.len());
        for (number, uid) in uidl {
            if !seen.insert(uid.clone()) {
                return Err(SourceError::Protocol(format!(
                    "the server lists the unique id {uid:?} twice; refusing to guess which \
                     message is which"
                )));
            }
            let Some(&size) = sizes.get(&number) else {
                return Err(SourceError::Protocol(format!(
                    "message {number} is in the UIDL listing but not in LIST"
                )));
            };
            out.push(RemoteMessage {
                number,
                uid,
                size,
                flagged_deleted: false,
            });
        }
        Ok(out)
    }

    /// The header block of each message (`TOP n 0`, RFC 1939 §7), pipelined when the server
    /// offers PIPELINING, cut at [`HEADER_LIMIT`] bytes. `None` for a message the server
    /// refuses; an error when it refuses them all and does not announce TOP (RFC 2449 §6.2).
    pub fn top_headers(
        &mut self,
        msgs: &[RemoteMessage],
    ) -> Result<Vec<Option<Vec<u8>>>, SourceError> {
        let window = if self.caps.has("PIPELINING") {
            MAX_IN_FLIGHT
        } else {
            1
        };
        let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(msgs.len());
        let mut sent = 0;
        let mut refused = None;
        while out.len() < msgs.len() {
            while sent < msgs.len() && sent - out.len() < window {
                self.send(&format!("TOP {} 0", msgs[sent].number));
                sent += 1;
            }
            self.flush("sending TOP")?;
            let m = &msgs[out.len()];
            let context = format!("reading the headers of message {}", m.number);
            let st = self.status(&context)?;
            if !st.ok {
                log::debug!("the server refused TOP {}: {}", m.number, st.text);
                refused.get_or_insert(st.text);
                out.push(None);
                continue;
            }
            let mut body = DotReader::new(&mut self.conn);
            let mut header = Vec::new();
            let read = (&mut body)
                .take(HEADER_LIMIT as u64)
                .read_to_end(&mut header);
            if read.is_ok() && !body.is_done() {
                // Longer than HEADER_LIMIT (or a server that sent body lines): skip the rest.
                let _ = body.drain();
            }
            if read.is_err() || body.failed() {
                return Err(SourceError::io(
                    context,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection broke in the middle of the headers",
                    ),
                ));
            }
            out.push(Some(header));
        }
        if let Some(text) = refused {
            if !self.caps.has("TOP") && out.iter().all(Option::is_none) {
                return Err(SourceError::Unavailable(format!(
                    "the server does not support TOP ({text}), which reading headers without \
                     downloading needs (list, filters, --pick)"
                )));
            }
        }
        Ok(out)
    }

    fn transfer_pipelined(
        &mut self,
        delete_now: &[RemoteMessage],
        retrieve: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<TransferReport, SourceError> {
        let (max_cmds, max_bytes) = if self.caps.has("PIPELINING") {
            (MAX_IN_FLIGHT, MAX_BYTES_IN_FLIGHT)
        } else {
            (1, 0)
        };
        let mut report = TransferReport::default();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut deletes: VecDeque<RemoteMessage> = delete_now.iter().cloned().collect();
        let mut next = 0usize;
        let mut bytes_in_flight = 0u64;
        let mut stopped = false;
        let mut final_deletes_taken = false;
        loop {
            while in_flight.len() < max_cmds {
                if let Some(m) = deletes.pop_front() {
                    self.send(&format!("DELE {}", m.number));
                    in_flight.push_back(InFlight::Dele(m));
                } else if !stopped
                    && next < retrieve.len()
                    && (bytes_in_flight == 0 || bytes_in_flight + retrieve[next].size <= max_bytes)
                {
                    self.send(&format!("RETR {}", retrieve[next].number));
                    bytes_in_flight += retrieve[next].size;
                    in_flight.push_back(InFlight::Retr(next));
                    next += 1;
                } else {
                    break;
                }
            }
            self.flush("sending commands")?;
            match in_flight.pop_front() {
                None => {
                    if final_deletes_taken {
                        break;
                    }
                    final_deletes_taken = true;
                    deletes.extend(sink.take_deletes(true));
                }
                Some(InFlight::Dele(m)) => {
                    let st = self.status(&format!("deleting message {}", m.number))?;
                    if st.ok {
                        report.deleted.push(m);
                    } else {
                        log::warn!(
                            "the server refused to delete message {} ({}): {}; it stays on the server",
                            m.number,
                            m.uid,
                            st.text
                        );
                    }
                }
                Some(InFlight::Retr(i)) => {
                    let msg = &retrieve[i];
                    bytes_in_flight = bytes_in_flight.saturating_sub(msg.size);
                    let context = format!("retrieving message {}", msg.number);
                    let st = self.status(&context)?;
                    if !st.ok {
                        if matches!(st.code.as_deref(), Some("SYS/TEMP") | Some("SYS/PERM")) {
                            return Err(refusal(&context, &st, false));
                        }
                        report.refused.push((msg.clone(), st.text));
                        continue;
                    }
                    let mut body = DotReader::new(&mut self.conn);
                    let result = if stopped {
                        Ok(())
                    } else {
                        sink.message(msg, &mut body)
                    };
                    if !body.failed() && !body.is_done() {
                        // The sink gave up early: skip the rest of this reply.
                        let _ = body.drain();
                    }
                    if body.failed() {
                        return Err(SourceError::io(
                            context,
                            io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the connection broke in the middle of the message",
                            ),
                        ));
                    }
                    if let Err(e) = result {
                        if e.fatal && !stopped {
                            stopped = true;
                            log::debug!("stopping retrieval after a delivery failure");
                        }
                    }
                    deletes.extend(sink.take_deletes(false));
                }
            }
        }
        Ok(report)
    }

    /// QUIT (RFC 1939 §6): the deletions take effect.
    fn quit(&mut self) -> Result<(), SourceError> {
        self.send("QUIT");
        self.flush("sending QUIT")?;
        let st = self.status("ending the session (QUIT)")?;
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
