//! A scripted in-process POP3 server for fault injection, on the core in [`super::server`].
//!
//! [`Scripted`] is a small but real POP3 server (RFC 1939 with CAPA and response codes from
//! RFC 2449, AUTH PLAIN, XOAUTH2 and OAUTHBEARER from RFC 5034: the tokens of
//! [`super::server::sasl`] are accepted, any other gets the error challenge). Its mailbox persists across connections and behaves
//! like a real maildrop: DELE only marks a message, and the marks take effect only when the
//! server answers QUIT with `+OK`. A session that ends any other way deletes nothing.
//!
//! Faults are scheduled per connection ([`Scripted::fault_next`], [`Scripted::fault_on`]) and
//! strike at a [`Step`] of that session: after the greeting, after the login, on receipt of or
//! after the reply to the n-th command of some keyword, or in the middle of a RETR reply.
//!
//! For transcript mutation tests, the reply to any step can be replaced by arbitrary bytes
//! ([`Fault::ReplaceReply`]) or extended ([`Fault::AppendToReply`]) while the command still takes
//! effect, and the replies sent can be recorded ([`Scripted::record_replies`]). Every reply is
//! written to the socket in one write.
//!
//! With `UTF8` among its capabilities the server implements RFC 6856's `UTF8` command (after
//! login): until it was accepted, messages that have a [`Message::wrapped`] form are sent in that
//! form, as a server that protects old clients from 8-bit headers does.
//!
//! The server also checks the client (in [`session`]): every command line must be well formed
//! (CRLF, at most 255 octets, a known keyword with single-space separated printable arguments),
//! valid in the session state, about an existing, undeleted message, and not pipelined unless
//! PIPELINING was advertised. Violations are collected in [`Stats::violations`]; tests assert
//! there are none. A deletion check ([`Scripted::set_delete_check`]) runs at every DELE so a
//! test can verify that the message is already delivered when the client asks for its deletion.

mod session;

use super::server::{self, Action, Protocol, Server, Stored};
#[allow(unused_imports)] // each suite uses a part
pub use super::server::{
    base64_decode, base64_encode, Close, Received, Step, GARBAGE, PASSWORD, USER,
};

/// The POP3 server.
pub type Scripted = Server<Pop3>;
/// What the POP3 server saw, per unique id.
pub type Stats = server::Stats<String>;
/// The check run at every DELE, with the message's unique id.
pub type DeleCheck = server::DeleteCheck<String>;

/// The capabilities of a modern server: USER/PASS and SASL PLAIN, UIDL, pipelining, codes.
pub const CAPA_FULL: &[&str] = &["USER", "UIDL", "PIPELINING", "SASL PLAIN", "RESP-CODES"];
/// A minimal server: USER/PASS only, no pipelining (one command at a time).
pub const CAPA_MINIMAL: &[&str] = &["USER", "UIDL", "RESP-CODES"];

/// A fault scheduled for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close right after sending the greeting.
    CutAfterGreeting(Close),
    /// Close right after answering a successful login with `+OK`.
    CutAfterAuth(Close),
    /// On the `nth` RETR of the connection, send the `+OK` line and only the first
    /// `after_bytes` bytes of the (dot-stuffed) message data followed by the terminating
    /// `.` CRLF, then close. `usize::MAX` sends all the data but none of the terminating line;
    /// other values are capped so that at least the final LF is missing.
    CutInRetr {
        nth: usize,
        after_bytes: usize,
        close: Close,
    },
    /// Close right after answering the `k`-th DELE.
    CutAfterDele { k: usize, close: Close },
    /// QUIT received: close without answering and without committing the deletions.
    CutBeforeQuitReply(Close),
    /// QUIT received: commit the deletions, answer `+OK`, then close this way.
    CutAfterQuitReply(Close),
    /// Close right after the step (for steps without a named variant).
    CutAfter(Step, Close),
    /// Close on receipt of the command of a [`Step::Reply`] step, without executing it.
    CutBefore(Step, Close),
    /// After the step, stop answering but keep the connection open until the client leaves.
    SilentAfter(Step),
    /// On the `nth` RETR, send `after_bytes` bytes of message data (counted as for
    /// [`Fault::CutInRetr`]), then stall like [`Fault::SilentAfter`].
    StallInRetr { nth: usize, after_bytes: usize },
    /// Answer PASS / AUTH with this line (no CRLF) instead of logging in.
    LoginReply(String),
    /// Send [`GARBAGE`] instead of the reply of the step (the command is not executed). After a
    /// garbage greeting or a garbage QUIT reply the server closes; otherwise it goes on.
    GarbageAt(Step),
    /// The reply to this command (`UIDL`, `LIST` or `RETR`) lacks its terminating `.` line;
    /// then the server closes (FIN).
    UnterminatedMultiline(&'static str),
    /// UIDL reports message 1's unique id for message 2 as well.
    DuplicateUidl,
    /// LIST (and STAT) report every size off by this many octets (servers often report
    /// approximate sizes, e.g. counting LF line ends).
    ListSizeSkew(i64),
    /// Answer `-ERR` to every DELE of the message with this unique id (it is not marked).
    DeleErr { uidl: String },
    /// Answer QUIT in the TRANSACTION state with this line (no CRLF) and commit nothing, as
    /// a server does when the UPDATE state fails; then close.
    QuitErr(String),
    /// Answer `-ERR` to every RETR of the message with this unique id.
    RetrErr { uidl: String },
    /// Greet with this line (no CRLF, e.g. `-ERR [SYS/PERM] shutting down`), then close.
    GreetingErr(String),
    /// Send these bytes instead of the reply of the step ([`Step::Greeting`], [`Step::Login`]
    /// for the reply to PASS or AUTH, or a [`Step::Reply`]); the command itself still takes
    /// effect (a DELE marks, QUIT commits).
    ReplaceReply(Step, Vec<u8>),
    /// Send these bytes right after the reply of the step, in the same write.
    AppendToReply(Step, Vec<u8>),
    /// Answer `UTF8` with this line (no CRLF) instead of `+OK`; UTF-8 mode stays off unless it
    /// starts with `+OK`.
    Utf8Reply(String),
}

impl server::Fault for Fault {
    fn action(&self) -> Option<Action<'_>> {
        Some(match self {
            Fault::CutAfterGreeting(c) => Action::CutAfter(Step::Greeting, *c),
            Fault::CutAfterAuth(c) => Action::CutAfter(Step::Login, *c),
            Fault::CutInRetr {
                nth,
                after_bytes,
                close,
            } => Action::CutInData {
                nth: *nth,
                after_bytes: *after_bytes,
                close: *close,
            },
            Fault::CutAfterDele { k, close } => Action::CutAfter(Step::Reply("DELE", *k), *close),
            Fault::CutBeforeQuitReply(c) => Action::CutBefore(Step::Reply("QUIT", 1), *c),
            Fault::CutAfterQuitReply(c) => Action::CutAfter(Step::Reply("QUIT", 1), *c),
            Fault::CutAfter(s, c) => Action::CutAfter(s.clone(), *c),
            Fault::CutBefore(s, c) => Action::CutBefore(s.clone(), *c),
            Fault::SilentAfter(s) => Action::SilentAfter(s.clone()),
            Fault::StallInRetr { nth, after_bytes } => Action::StallInData {
                nth: *nth,
                after_bytes: *after_bytes,
            },
            Fault::LoginReply(r) => Action::LoginReply(r),
            Fault::GarbageAt(s) => Action::Garbage(s),
            Fault::ReplaceReply(s, b) => Action::Replace(s, b),
            Fault::AppendToReply(s, b) => Action::Append(s, b),
            _ => return None,
        })
    }

    /// A cut or stalled RETR reply always lacks at least its final LF.
    fn spoils(&self) -> Option<(usize, Option<usize>)> {
        match self {
            Fault::CutInRetr { nth, .. } | Fault::StallInRetr { nth, .. } => Some((*nth, None)),
            Fault::UnterminatedMultiline(k) if k.eq_ignore_ascii_case("RETR") => Some((1, None)),
            _ => None,
        }
    }

    fn refuses_greeting(&self) -> bool {
        matches!(self, Fault::GreetingErr(_))
    }
}

/// A message in the mailbox, as it is stored on the server: CRLF line ends, not dot-stuffed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub uidl: String,
    pub raw: Vec<u8>,
    /// What a server that protects old clients from UTF-8 headers sends instead (RFC 6856 §3)
    /// until the client asked for UTF-8 mode; LIST and STAT always report this form's size.
    pub wrapped: Option<Vec<u8>>,
}

impl Message {
    pub fn new(uidl: impl Into<String>, raw: impl Into<Vec<u8>>) -> Message {
        Message {
            uidl: uidl.into(),
            raw: raw.into(),
            wrapped: None,
        }
    }

    /// The same message with a wrapped form (see [`Message::wrapped`]).
    pub fn with_wrapped(mut self, wrapped: impl Into<Vec<u8>>) -> Message {
        self.wrapped = Some(wrapped.into());
        self
    }

    /// The message data as sent after `+OK` to RETR: dot-stuffed, CRLF-terminated, without
    /// the final `.` line.
    pub fn wire_data(&self) -> Vec<u8> {
        wire_data(&self.raw)
    }
}

/// `raw` as sent after `+OK` to RETR: dot-stuffed, CRLF-terminated, without the final `.` line.
pub fn wire_data(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Server settings.
#[derive(Clone)]
pub struct Config {
    /// The CAPA lines, e.g. [`CAPA_FULL`]. Advertising `STLS` makes STLS answer `-ERR` (it is
    /// never implemented here).
    pub capa: Vec<String>,
    /// Put an APOP timestamp in the greeting.
    pub apop_timestamp: bool,
    /// Discard whatever arrived in the same read as PASS or AUTH (some servers do), and count
    /// it as a violation.
    pub discard_after_login: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config::with_capa(CAPA_FULL)
    }
}

impl Config {
    pub fn with_capa(capa: &[&str]) -> Config {
        Config {
            capa: capa.iter().map(|s| s.to_string()).collect(),
            apop_timestamp: false,
            discard_after_login: false,
        }
    }

    fn has_capa(&self, name: &str) -> bool {
        self.capa.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Whether the `SASL` line lists `mech`.
    fn sasl_offers(&self, mech: &str) -> bool {
        self.capa.iter().any(|c| {
            let mut w = c.split_ascii_whitespace();
            w.next().is_some_and(|k| k.eq_ignore_ascii_case("SASL"))
                && w.any(|m| m.eq_ignore_ascii_case(mech))
        })
    }
}

/// POP3 for the server core.
pub struct Pop3;

impl Protocol for Pop3 {
    type Config = Config;
    type Store = Vec<Message>;
    type Key = String;
    type Fault = Fault;
    const NAME: &'static str = "POP3";
    const SCHEME: &'static str = "pop3";
    const LOGIN: &'static [&'static str] = &["PASS", "AUTH"];
    const COMMANDS: &'static [&'static str] = &[
        "CAPA", "USER", "PASS", "AUTH", "APOP", "STLS", "STAT", "LIST", "UIDL", "RETR", "DELE",
        "NOOP", "RSET", "QUIT", "TOP", "UTF8",
    ];

    fn config(caps: &[&str]) -> Config {
        Config::with_capa(caps)
    }

    fn prepare(messages: Vec<Message>) -> Vec<Message> {
        let mut seen = std::collections::BTreeSet::new();
        for m in &messages {
            assert!(
                seen.insert(m.uidl.clone()),
                "duplicate unique id {}",
                m.uidl
            );
            assert!(
                !m.uidl.is_empty() && m.uidl.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "bad unique id {:?}",
                m.uidl
            );
        }
        messages
    }

    fn inventory(messages: &Vec<Message>) -> Vec<Stored<'_, String>> {
        messages
            .iter()
            .map(|m| Stored {
                key: m.uidl.clone(),
                raw: &m.raw,
                marked: false,
            })
            .collect()
    }

    fn serve(conn: &mut server::Conn<'_, Pop3>) -> server::Flow {
        session::serve(conn)
    }
}

impl Scripted {
    /// The committed mailbox.
    pub fn mailbox(&self) -> Vec<Message> {
        self.store()
    }

    /// Unique ids of the committed mailbox, in order.
    pub fn uidls(&self) -> Vec<String> {
        self.mailbox().into_iter().map(|m| m.uidl).collect()
    }
}
