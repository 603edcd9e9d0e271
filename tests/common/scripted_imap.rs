//! A scripted in-process IMAP server for fault injection.
//!
//! [`ScriptedImap`] is a small but real IMAP4rev1 server (RFC 3501, with LITERAL+ from
//! RFC 7888, SASL-IR from RFC 4959, UIDPLUS from RFC 4315 and the response codes of RFC 5530)
//! on the core in [`super::server`]. Its folders persist across
//! connections and behave like a real server's: flags are stored at once (a `\Deleted` flag
//! stays set when the connection drops before EXPUNGE), and only EXPUNGE, `UID EXPUNGE` and
//! CLOSE remove messages.
//!
//! Commands are read one at a time and answered in order, so pipelined commands (several
//! tagged `UID FETCH` in one write) work as with a real server. Command literals (`{n}` with a
//! `+` continuation request, `{n+}` with LITERAL+) are accepted.
//!
//! Faults are scheduled per connection ([`ScriptedImap::fault_next`],
//! [`ScriptedImap::fault_on`]) and strike at a [`Step`] of that session (after the greeting,
//! after the login, on receipt of or after the reply to the n-th command of some keyword such
//! as `"UID FETCH"`), or at the n-th `BODY[]` literal of the connection.
//!
//! It also speaks IDLE (RFC 2177, when `IDLE` is among the capabilities: messages added with
//! [`ScriptedImap::append`] are announced with `* N EXISTS`) and ENABLE UTF8=ACCEPT (RFC 5161,
//! RFC 6855: names in UTF-8 afterwards; with [`Config::downgrade`], messages with UTF-8 header
//! fields are presented downgraded to a client that did not enable it). For robustness tests,
//! [`Fault::InjectBeforeTagged`] adds raw responses and [`Fault::Mutate`] changes one thing in
//! what a connection sends ([`Mutation`]). [`Stats`] counts commands and bytes both ways.
//!
//! The server also checks the client: every command must be well formed (tag, CRLF, single
//! spaces, known command), valid in the session state, `UID EXPUNGE` only with UIDPLUS, no
//! `BODY[]` without `.PEEK`, no STORE on a read-only mailbox. Violations are collected in
//! [`Stats::violations`]; tests assert there are none. A deletion check
//! ([`ScriptedImap::set_delete_check`]) runs for every message a STORE flags `\Deleted`, so a
//! test can verify that the message is already delivered when the client asks for its
//! deletion.
//!
//! The session itself is in [`session`] (reading commands, faults, login), [`mailbox`] (ENABLE,
//! IDLE, LIST, SELECT) and [`fetch`] (FETCH, STORE, SEARCH, EXPUNGE); [`parse`] reads commands, [`mutator`] changes the output.

mod fetch;
mod mailbox;
mod mutator;
mod parse;
mod session;

use std::collections::BTreeSet;

use super::server::{self, Action, Protocol, Server, Stored};
#[allow(unused_imports)] // each suite uses a part
pub use super::server::{Close, Received, Step, GARBAGE, PASSWORD, USER};
#[allow(unused_imports)] // each suite uses a part
pub use parse::{downgraded, utf7_decode};

/// The IMAP server.
pub type ScriptedImap = Server<Imap>;
/// What the IMAP server saw, per message [`Key`].
pub type Stats = server::Stats<Key>;
/// The check run for every message a STORE flags `\Deleted`, with the message's [`Key`].
pub type StoreCheck = server::DeleteCheck<Key>;

/// The hierarchy delimiter.
pub const DELIMITER: char = '.';
/// The inbox.
pub const INBOX: &str = "INBOX";
/// A folder below a `\Noselect` parent (`Lists`).
pub const LISTS: &str = "Lists.a";
/// A folder with a non-ASCII name, as sent on the wire (modified UTF-7)…
pub const DRAFTS_WIRE: &str = "Entw&APw-rfe";
/// …and in UTF-8.
pub const DRAFTS_UTF8: &str = "Entwürfe";

/// A modern server: SASL PLAIN with an initial response, LITERAL+, UIDPLUS.
pub const CAPS_FULL: &[&str] = &["IMAP4rev1", "LITERAL+", "SASL-IR", "AUTH=PLAIN", "UIDPLUS"];
/// Like [`CAPS_FULL`] without UIDPLUS (no `UID EXPUNGE`).
pub const CAPS_NO_UIDPLUS: &[&str] = &["IMAP4rev1", "LITERAL+", "SASL-IR", "AUTH=PLAIN"];
/// A minimal server: LOGIN only, synchronizing literals only, no UIDPLUS.
pub const CAPS_MINIMAL: &[&str] = &["IMAP4rev1"];

/// The flags a message can carry.
const SYSTEM_FLAGS: &[&str] = &["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/// A fault scheduled for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close right after the step (after the tagged reply of a command).
    CutAfter(Step, Close),
    /// Close on receipt of the step's command, without executing or answering it.
    CutBefore(Step, Close),
    /// Execute the step's command (its effects persist) but send nothing, then close.
    CutUnanswered(Step, Close),
    /// Execute the step's command and send its untagged responses, but close instead of
    /// sending the tagged completion.
    CutBeforeTagged(Step, Close),
    /// At the `nth` (1-based) `BODY[]` literal of the connection, send the response up to and
    /// including the `{n}` line and `after_bytes` bytes after it, then close. Values of
    /// `after_bytes` at or beyond the literal's length cut in the `)` CRLF that ends the
    /// response (capped so that at least the final LF is missing).
    CutInBody {
        nth: usize,
        after_bytes: usize,
        close: Close,
    },
    /// Close right after the complete FETCH response carrying the `nth` `BODY[]` literal.
    CutAfterBody { nth: usize, close: Close },
    /// After the step, stop answering but keep the connection open until the client leaves.
    SilentAfter(Step),
    /// On receipt of the step's command, stop answering (without executing it).
    SilentBefore(Step),
    /// Like [`Fault::CutInBody`], but stall instead of closing.
    StallInBody { nth: usize, after_bytes: usize },
    /// After the step, send an untagged `* BYE` and close (FIN).
    ByeAfter(Step),
    /// On receipt of the step's command, send an untagged `* BYE` instead of executing it, and
    /// close (FIN).
    ByeInstead(Step),
    /// Send [`GARBAGE`] instead of the step's reply (the command is not executed) and go on.
    /// A garbage greeting is followed by a close.
    GarbageAt(Step),
    /// Answer the step's command with this tagged status (e.g. `NO [UNAVAILABLE] try later`,
    /// the tag is prepended) instead of executing it.
    ReplyInstead(Step, String),
    /// At the `nth` `BODY[]` literal, announce `by` octets fewer than are sent (the whole
    /// message follows the `{n}` line, then the rest of the response).
    LiteralShort { nth: usize, by: usize },
    /// After the step, another client adds a message with these flags to the folder (wire
    /// name); the session announces it with `* N EXISTS` before its next tagged reply, as
    /// a real server does.
    AppendAfter {
        step: Step,
        folder: String,
        raw: Vec<u8>,
        flags: Vec<String>,
    },
    /// Greet with `* BYE <text>`, then close.
    GreetingBye(String),
    /// Answer LOGIN / AUTHENTICATE with this tagged status (the tag is prepended), e.g.
    /// `NO [AUTHENTICATIONFAILED] Authentication failed.`, instead of logging in.
    LoginReply(String),
    /// Send these raw bytes right before the step's tagged reply, after its untagged
    /// responses (for [`Step::Greeting`]: right after the greeting), e.g. `* 4294967295
    /// EXISTS` CRLF or a `* LIST` line for a mailbox nobody asked for.
    InjectBeforeTagged(Step, Vec<u8>),
    /// Mutate what the server sends on this connection (see [`Mutation`]).
    Mutate(Mutation),
}

impl Fault {
    /// The step the fault strikes at, for the faults tied to one.
    pub fn step(&self) -> Option<&Step> {
        match self {
            Fault::CutAfter(s, _)
            | Fault::CutBefore(s, _)
            | Fault::CutUnanswered(s, _)
            | Fault::CutBeforeTagged(s, _)
            | Fault::SilentAfter(s)
            | Fault::SilentBefore(s)
            | Fault::ByeAfter(s)
            | Fault::ByeInstead(s)
            | Fault::GarbageAt(s)
            | Fault::ReplyInstead(s, _)
            | Fault::InjectBeforeTagged(s, _) => Some(s),
            Fault::AppendAfter { step, .. } => Some(step),
            _ => None,
        }
    }
}

/// One change to the bytes a connection sends, for mutation tests. The server's output is
/// split into protocol lines (each up to and including its LF) and literal data (the bytes
/// announced by a `{n}` at the end of a line); `line` counts protocol lines from 0 (the
/// greeting). Literal data is never changed (no client can tell a changed message from the
/// original), but literal lengths are, and cuts fall anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Nothing changes (counts the lines, see [`Stats::lines_out`]).
    None,
    /// XOR byte `at` (modulo the line's length) of the line with `mask` (non-zero).
    Flip { line: usize, at: usize, mask: u8 },
    /// Leave the line out.
    Delete { line: usize },
    /// Send the line twice.
    Duplicate { line: usize },
    /// Send `bytes` before the line.
    Insert { line: usize, bytes: Vec<u8> },
    /// Replace the `nth` run of digits of the line (modulo their number) by `value`.
    Number {
        line: usize,
        nth: usize,
        value: String,
    },
    /// Announce `by` more (or, negative, fewer) bytes in the `literal`-th (from 0) line that
    /// ends with a literal marker.
    LiteralLength { literal: usize, by: i64 },
    /// Close the connection (FIN) after `at` bytes counted from the start of the line (in
    /// the line, or in the literal data and lines after it).
    Cut { line: usize, at: usize },
}

impl Mutation {
    fn line(&self) -> Option<usize> {
        match self {
            Mutation::None => None,
            Mutation::Flip { line, .. }
            | Mutation::Delete { line }
            | Mutation::Duplicate { line }
            | Mutation::Insert { line, .. }
            | Mutation::Number { line, .. }
            | Mutation::Cut { line, .. } => Some(*line),
            Mutation::LiteralLength { .. } => None,
        }
    }
}

impl server::Fault for Fault {
    fn action(&self) -> Option<Action<'_>> {
        Some(match self {
            Fault::CutAfter(s, c) => Action::CutAfter(s.clone(), *c),
            Fault::CutBefore(s, c) => Action::CutBefore(s.clone(), *c),
            Fault::SilentAfter(s) => Action::SilentAfter(s.clone()),
            Fault::SilentBefore(s) => Action::SilentBefore(s.clone()),
            Fault::CutInBody {
                nth,
                after_bytes,
                close,
            } => Action::CutInData {
                nth: *nth,
                after_bytes: *after_bytes,
                close: *close,
            },
            Fault::StallInBody { nth, after_bytes } => Action::StallInData {
                nth: *nth,
                after_bytes: *after_bytes,
            },
            Fault::GarbageAt(s) => Action::Garbage(s),
            Fault::LoginReply(r) => Action::LoginReply(r),
            _ => return None,
        })
    }

    /// A cut or stalled `BODY[]` literal is incomplete when the cut falls inside it; a
    /// literal announced short always is.
    fn spoils(&self) -> Option<(usize, Option<usize>)> {
        match self {
            Fault::CutInBody {
                nth, after_bytes, ..
            }
            | Fault::StallInBody { nth, after_bytes } => Some((*nth, Some(*after_bytes))),
            Fault::LiteralShort { nth, .. } => Some((*nth, None)),
            _ => None,
        }
    }

    fn refuses_greeting(&self) -> bool {
        matches!(self, Fault::GreetingBye(_))
    }
}

/// A message as stored on the server: CRLF line ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub uid: u32,
    pub raw: Vec<u8>,
    /// System flags and keywords, e.g. `\Deleted`.
    pub flags: Vec<String>,
}

impl Message {
    pub fn new(uid: u32, raw: impl Into<Vec<u8>>) -> Message {
        assert!(uid > 0, "UIDs start at 1");
        Message {
            uid,
            raw: raw.into(),
            flags: Vec::new(),
        }
    }

    /// The message with these flags set.
    pub fn with_flags(mut self, flags: &[&str]) -> Message {
        for f in flags {
            add_flag(&mut self.flags, f);
        }
        self
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

fn add_flag(flags: &mut Vec<String>, flag: &str) {
    if !flags.iter().any(|f| f.eq_ignore_ascii_case(flag)) {
        let canonical = SYSTEM_FLAGS
            .iter()
            .find(|s| s.eq_ignore_ascii_case(flag))
            .map(|s| s.to_string())
            .unwrap_or_else(|| flag.to_string());
        flags.push(canonical);
    }
}

fn remove_flag(flags: &mut Vec<String>, flag: &str) {
    flags.retain(|f| !f.eq_ignore_ascii_case(flag));
}

/// A folder (mailbox).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// The name as sent on the wire (modified UTF-7); `INBOX` for the inbox.
    pub wire: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// By ascending UID (message sequence number n is `messages[n - 1]`).
    pub messages: Vec<Message>,
    /// It was opened read-write (SELECT) once (see [`Config::volatile_uidvalidity`]).
    pub selected_once: bool,
}

impl Folder {
    pub fn new(wire: &str, uidvalidity: u32, mut messages: Vec<Message>) -> Folder {
        messages.sort_by_key(|m| m.uid);
        for w in messages.windows(2) {
            assert!(w[0].uid != w[1].uid, "duplicate UID {} in {wire}", w[0].uid);
        }
        let uidnext = messages.last().map_or(1, |m| m.uid + 1);
        Folder {
            wire: wire.to_string(),
            uidvalidity,
            uidnext,
            messages,
            selected_once: false,
        }
    }

    /// A new UIDVALIDITY, and the messages numbered from 1 again.
    pub(super) fn renumber(&mut self, uidvalidity: u32) {
        self.uidvalidity = uidvalidity;
        for (i, m) in self.messages.iter_mut().enumerate() {
            m.uid = i as u32 + 1;
        }
        self.uidnext = self.messages.len() as u32 + 1;
    }

    fn is_inbox(&self) -> bool {
        self.wire.eq_ignore_ascii_case(INBOX)
    }

    /// Adds a message with these flags under the next UID; returns the UID.
    fn add(&mut self, raw: impl Into<Vec<u8>>, flags: &[String]) -> u32 {
        let uid = self.uidnext;
        self.uidnext += 1;
        let mut m = Message::new(uid, raw);
        for fl in flags {
            add_flag(&mut m.flags, fl);
        }
        self.messages.push(m);
        uid
    }
}

/// A message's identity: folder (wire name) and UID.
pub type Key = (String, u32);

pub fn key(folder: &str, uid: u32) -> Key {
    (folder.to_string(), uid)
}

/// Server settings.
#[derive(Clone)]
pub struct Config {
    /// The capabilities, e.g. [`CAPS_FULL`]. `IMAP4rev1` should be among them.
    pub caps: Vec<String>,
    /// Announce the capabilities in the greeting and in the login's OK (else the client has
    /// to ask with CAPABILITY).
    pub caps_in_greeting: bool,
    /// Send the UID after the body in FETCH responses (as some servers do).
    pub uid_last: bool,
    /// Unless the client sent `ENABLE UTF8=ACCEPT` (RFC 6855), present every message whose
    /// header holds 8-bit bytes as a generated notice with the original attached (as servers
    /// that downgrade for old clients do, RFC 6858), in FETCH and RFC822.SIZE alike.
    pub downgrade: bool,
    /// Until a folder was once opened read-write (SELECT), give it a new UIDVALIDITY, with its
    /// messages numbered from 1 again, when it is first opened in a session (as some servers
    /// do); the UIDVALIDITY the first SELECT gives stays.
    pub volatile_uidvalidity: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config::with_caps(CAPS_FULL)
    }
}

impl Config {
    pub fn with_caps(caps: &[&str]) -> Config {
        Config {
            caps: caps.iter().map(|s| s.to_string()).collect(),
            caps_in_greeting: true,
            uid_last: false,
            downgrade: false,
            volatile_uidvalidity: false,
        }
    }

    pub fn has_cap(&self, name: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// IMAP for the server core.
pub struct Imap;

impl Protocol for Imap {
    type Config = Config;
    type Store = Vec<Folder>;
    type Key = Key;
    type Fault = Fault;
    const NAME: &'static str = "IMAP";
    const SCHEME: &'static str = "imap";
    const LOGIN: &'static [&'static str] = &["LOGIN", "AUTHENTICATE"];
    const COMMANDS: &'static [&'static str] = &[
        "CAPABILITY",
        "NOOP",
        "CHECK",
        "LOGOUT",
        "LOGIN",
        "AUTHENTICATE",
        "STARTTLS",
        "ENABLE",
        "IDLE",
        "LIST",
        "LSUB",
        "STATUS",
        "SELECT",
        "EXAMINE",
        "FETCH",
        "STORE",
        "SEARCH",
        "COPY",
        "MOVE",
        "APPEND",
        "UID FETCH",
        "UID STORE",
        "UID SEARCH",
        "UID COPY",
        "UID MOVE",
        "UID EXPUNGE",
        "EXPUNGE",
        "CLOSE",
        "UNSELECT",
        "NAMESPACE",
        "ID",
    ];

    fn config(caps: &[&str]) -> Config {
        Config::with_caps(caps)
    }

    /// The folders' parents (e.g. `Lists` for `Lists.a`) are listed as `\Noselect` when they
    /// are not folders themselves.
    fn prepare(folders: Vec<Folder>) -> Vec<Folder> {
        let mut seen = BTreeSet::new();
        for f in &folders {
            let name = if f.is_inbox() {
                INBOX.to_string()
            } else {
                f.wire.clone()
            };
            assert!(seen.insert(name), "duplicate folder {}", f.wire);
            assert!(
                !f.wire.is_empty()
                    && f.wire
                        .bytes()
                        .all(|b| (0x01..=0x7f).contains(&b) && b != b'\r' && b != b'\n'),
                "folder names must be 7-bit (modified UTF-7; controls only for hostile-server \
                 tests), without CR or LF: {:?}",
                f.wire
            );
        }
        folders
            .into_iter()
            .map(|mut f| {
                if f.is_inbox() {
                    f.wire = INBOX.to_string();
                }
                f
            })
            .collect()
    }

    fn inventory(folders: &Vec<Folder>) -> Vec<Stored<'_, Key>> {
        folders
            .iter()
            .flat_map(|f| {
                f.messages.iter().map(|m| Stored {
                    key: key(&f.wire, m.uid),
                    raw: &m.raw,
                    marked: m.has_flag("\\Deleted"),
                })
            })
            .collect()
    }

    fn serve(conn: &mut server::Conn<'_, Imap>) -> server::Flow {
        session::serve(conn)
    }
}

/// The folder with this wire name.
fn folder_mut<'f>(folders: &'f mut [Folder], wire: &str) -> &'f mut Folder {
    folders
        .iter_mut()
        .find(|f| f.wire == wire)
        .unwrap_or_else(|| panic!("no folder {wire:?}"))
}

impl Stats {
    /// `BODY[]` literals begun for a message.
    pub fn bodies_of(&self, folder: &str, uid: u32) -> usize {
        self.fetched_of(&key(folder, uid))
    }

    /// Complete `BODY[]` responses for a message.
    pub fn complete_of(&self, folder: &str, uid: u32) -> usize {
        self.whole_of(&key(folder, uid))
    }

    /// STOREs of `\Deleted` for a message.
    pub fn stored_of(&self, folder: &str, uid: u32) -> usize {
        self.deleted_of(&key(folder, uid))
    }
}

impl ScriptedImap {
    /// A snapshot of all folders.
    pub fn folders(&self) -> Vec<Folder> {
        self.store()
    }

    /// A snapshot of one folder (by wire name).
    pub fn folder(&self, wire: &str) -> Folder {
        folder_mut(&mut self.state().store, wire).clone()
    }

    /// UIDs in a folder.
    pub fn uids(&self, wire: &str) -> Vec<u32> {
        self.folder(wire).messages.iter().map(|m| m.uid).collect()
    }

    /// UIDs in a folder flagged `\Deleted`.
    pub fn deleted_uids(&self, wire: &str) -> Vec<u32> {
        self.folder(wire)
            .messages
            .iter()
            .filter(|m| m.has_flag("\\Deleted"))
            .map(|m| m.uid)
            .collect()
    }

    /// Adds a message (new mail); returns its UID.
    pub fn append(&self, wire: &str, raw: impl Into<Vec<u8>>) -> u32 {
        folder_mut(&mut self.state().store, wire).add(raw, &[])
    }

    /// Gives the folder a new UIDVALIDITY and renumbers its messages from 1 (as after a
    /// server-side rebuild).
    pub fn renumber(&self, wire: &str, uidvalidity: u32) {
        folder_mut(&mut self.state().store, wire).renumber(uidvalidity);
    }
}
