//! A scripted in-process IMAP server for fault injection.
//!
//! [`ScriptedImap`] is a small but real IMAP4rev1 server (RFC 3501, with LITERAL+ from
//! RFC 7888, SASL-IR from RFC 4959, UIDPLUS from RFC 4315 and the response codes of RFC 5530)
//! listening on `127.0.0.1:0`, one thread per connection. Its folders persist across
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
//! [`Stats::violations`]; tests assert there are none. An optional [`StoreCheck`] runs for
//! every message a STORE flags `\Deleted`, so a test can verify that the message is already
//! delivered when the client asks for its deletion.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::scripted::base64_decode;
pub use super::scripted::Close;
use super::server::drain;

/// The only user the server knows.
pub const USER: &str = "alice";
/// Her password.
pub const PASSWORD: &str = "secret";
/// The line sent by [`Fault::GarbageAt`].
pub const GARBAGE: &str = "HELLO WORLD";
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

/// A point in one IMAP session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The connection was accepted; nothing has been sent yet.
    Connect,
    /// The greeting.
    Greeting,
    /// The LOGIN or AUTHENTICATE command (for "after" faults: its successful completion).
    Login,
    /// The n-th (1-based) command with this name in the connection, e.g. `("UID FETCH", 2)`,
    /// `("SELECT", 1)`, `("UID EXPUNGE", 1)`, `("LOGOUT", 1)`. Case-insensitive; UID commands
    /// are named with their `UID ` prefix.
    Reply(&'static str, usize),
}

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
        }
    }

    fn is_inbox(&self) -> bool {
        self.wire.eq_ignore_ascii_case(INBOX)
    }
}

/// A message's identity: folder (wire name) and UID.
pub type Key = (String, u32);

pub fn key(folder: &str, uid: u32) -> Key {
    (folder.to_string(), uid)
}

/// Called for every message a STORE flags `\Deleted`, with the folder's wire name; an `Err`
/// becomes a violation.
pub type StoreCheck = Arc<dyn Fn(&str, &Message) -> Result<(), String> + Send + Sync>;

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
    /// Run for every message flagged `\Deleted` (see [`StoreCheck`]).
    pub store_check: Option<StoreCheck>,
    /// Unless the client sent `ENABLE UTF8=ACCEPT` (RFC 6855), present every message whose
    /// header holds 8-bit bytes as a generated notice with the original attached (as servers
    /// that downgrade for old clients do, RFC 6858), in FETCH and RFC822.SIZE alike.
    pub downgrade: bool,
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
            store_check: None,
            downgrade: false,
        }
    }

    pub fn has_cap(&self, name: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// A command the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The connection number (1-based).
    pub conn: usize,
    pub tag: String,
    /// The upper-case command name (`UID FETCH`, `SELECT`, …); empty if unparseable.
    pub name: String,
    /// The command without its final CRLF (credentials redacted).
    pub line: String,
}

/// What the server saw. All counters are cumulative over connections.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: usize,
    /// Successful logins.
    pub logins: usize,
    /// Refused logins (wrong credentials or [`Fault::LoginReply`]).
    pub failed_logins: usize,
    /// `BODY[]` literals begun (complete or cut), per message.
    pub bodies: BTreeMap<Key, usize>,
    /// Every `BODY[]` literal begun, in order (the n-th entry of a connection is the target of
    /// `nth` in the body faults).
    pub body_log: Vec<Key>,
    /// FETCH responses with a `BODY[]` literal sent completely, per message.
    pub bodies_complete: BTreeMap<Key, usize>,
    /// `BODY[HEADER.FIELDS ...]` (and other header sections) sent, per message.
    pub headers: BTreeMap<Key, usize>,
    /// Times a STORE flagged the message `\Deleted`, per message.
    pub stored_deleted: BTreeMap<Key, usize>,
    /// Messages removed (EXPUNGE, UID EXPUNGE, CLOSE), in order.
    pub expunged: Vec<Key>,
    /// Every command, in order (AUTHENTICATE continuation lines are not included).
    pub commands: Vec<Received>,
    /// Client misbehaviour.
    pub violations: Vec<String>,
    /// The most commands seen queued at once (1 = no pipelining).
    pub max_pipeline_depth: usize,
    /// Bytes received from the client (commands with their literals, IDLE's DONE).
    pub bytes_in: usize,
    /// Bytes sent to the client.
    pub bytes_out: usize,
    /// Protocol lines sent on connections with a [`Fault::Mutate`] (literal data excluded).
    pub lines_out: usize,
}

fn count_of(map: &BTreeMap<Key, usize>, folder: &str, uid: u32) -> usize {
    map.get(&key(folder, uid)).copied().unwrap_or(0)
}

impl Stats {
    /// `BODY[]` literals begun for a message.
    pub fn bodies_of(&self, folder: &str, uid: u32) -> usize {
        count_of(&self.bodies, folder, uid)
    }

    /// Complete `BODY[]` responses for a message.
    pub fn complete_of(&self, folder: &str, uid: u32) -> usize {
        count_of(&self.bodies_complete, folder, uid)
    }

    /// STOREs of `\Deleted` for a message.
    pub fn stored_of(&self, folder: &str, uid: u32) -> usize {
        count_of(&self.stored_deleted, folder, uid)
    }

    /// Commands with this name (upper case, e.g. `UID STORE`).
    pub fn commands_with(&self, name: &str) -> Vec<&Received> {
        self.commands.iter().filter(|c| c.name == name).collect()
    }

    /// What happened between an earlier snapshot and this one.
    pub fn since(&self, before: &Stats) -> Stats {
        let diff = |a: &BTreeMap<Key, usize>, b: &BTreeMap<Key, usize>| {
            a.iter()
                .filter_map(|(k, v)| {
                    let d = v - b.get(k).copied().unwrap_or(0);
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        };
        Stats {
            connections: self.connections - before.connections,
            logins: self.logins - before.logins,
            failed_logins: self.failed_logins - before.failed_logins,
            bodies: diff(&self.bodies, &before.bodies),
            body_log: self.body_log[before.body_log.len()..].to_vec(),
            bodies_complete: diff(&self.bodies_complete, &before.bodies_complete),
            headers: diff(&self.headers, &before.headers),
            stored_deleted: diff(&self.stored_deleted, &before.stored_deleted),
            expunged: self.expunged[before.expunged.len()..].to_vec(),
            commands: self.commands[before.commands.len()..].to_vec(),
            violations: self.violations[before.violations.len()..].to_vec(),
            max_pipeline_depth: self.max_pipeline_depth,
            bytes_in: self.bytes_in - before.bytes_in,
            bytes_out: self.bytes_out - before.bytes_out,
            lines_out: self.lines_out - before.lines_out,
        }
    }
}

struct State {
    config: Config,
    folders: Vec<Folder>,
    faults: BTreeMap<usize, Vec<Fault>>,
    active: usize,
    stats: Stats,
}

impl State {
    fn folder_mut(&mut self, wire: &str) -> &mut Folder {
        self.folders
            .iter_mut()
            .find(|f| f.wire == wire)
            .unwrap_or_else(|| panic!("no folder {wire:?}"))
    }
}

struct Shared {
    state: Mutex<State>,
    idle: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The server. Dropping it stops accepting connections.
pub struct ScriptedImap {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl ScriptedImap {
    /// Starts a server with [`Config::default`].
    pub fn start(folders: Vec<Folder>) -> ScriptedImap {
        ScriptedImap::with_config(Config::default(), folders)
    }

    /// Starts a server. The folders' parents (e.g. `Lists` for `Lists.a`) are listed as
    /// `\Noselect` when they are not folders themselves.
    pub fn with_config(config: Config, folders: Vec<Folder>) -> ScriptedImap {
        let mut seen = BTreeSet::new();
        for f in &folders {
            let name = if f.is_inbox() {
                INBOX.to_string()
            } else {
                f.wire.clone()
            };
            assert!(seen.insert(name), "duplicate folder {}", f.wire);
            assert!(
                !f.wire.is_empty() && f.wire.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "folder names must be 7-bit (modified UTF-7): {:?}",
                f.wire
            );
        }
        let folders = folders
            .into_iter()
            .map(|mut f| {
                if f.is_inbox() {
                    f.wire = INBOX.to_string();
                }
                f
            })
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind scripted IMAP server");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                config,
                folders,
                faults: BTreeMap::new(),
                active: 0,
                stats: Stats::default(),
            }),
            idle: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        thread::spawn(move || accept_loop(listener, sh));
        ScriptedImap { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `imap://alice@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("imap://{USER}@127.0.0.1:{}", self.port())
    }

    /// Schedules a fault for the next connection.
    pub fn fault_next(&self, fault: Fault) {
        let mut st = self.shared.lock();
        let next = st.stats.connections + 1;
        st.faults.entry(next).or_default().push(fault);
    }

    /// Schedules a fault for connection number `conn` (1-based, counting all connections).
    pub fn fault_on(&self, conn: usize, fault: Fault) {
        self.shared
            .lock()
            .faults
            .entry(conn)
            .or_default()
            .push(fault);
    }

    /// Changes the settings for future connections.
    pub fn set_config(&self, config: Config) {
        self.shared.lock().config = config;
    }

    /// Installs a check run for every message flagged `\Deleted`.
    pub fn set_store_check(&self, check: StoreCheck) {
        self.shared.lock().config.store_check = Some(check);
    }

    /// A snapshot of all folders.
    pub fn folders(&self) -> Vec<Folder> {
        self.shared.lock().folders.clone()
    }

    /// A snapshot of one folder (by wire name).
    pub fn folder(&self, wire: &str) -> Folder {
        self.shared.lock().folder_mut(wire).clone()
    }

    /// UIDs in a folder.
    pub fn uids(&self, wire: &str) -> Vec<u32> {
        self.folder(wire).messages.iter().map(|m| m.uid).collect()
    }

    /// Every message of every folder.
    pub fn keys(&self) -> BTreeSet<Key> {
        self.folders()
            .iter()
            .flat_map(|f| f.messages.iter().map(|m| key(&f.wire, m.uid)))
            .collect()
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
        let mut st = self.shared.lock();
        let f = st.folder_mut(wire);
        let uid = f.uidnext;
        f.uidnext += 1;
        f.messages.push(Message::new(uid, raw));
        uid
    }

    /// Gives the folder a new UIDVALIDITY and renumbers its messages from 1 (as after a
    /// server-side rebuild).
    pub fn renumber(&self, wire: &str, uidvalidity: u32) {
        let mut st = self.shared.lock();
        let f = st.folder_mut(wire);
        f.uidvalidity = uidvalidity;
        for (i, m) in f.messages.iter_mut().enumerate() {
            m.uid = i as u32 + 1;
        }
        f.uidnext = f.messages.len() as u32 + 1;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Waits until no connection is being served. Panics after `limit`.
    pub fn wait_idle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.lock();
        while st.active > 0 {
            let now = Instant::now();
            assert!(
                now < deadline,
                "scripted IMAP server still busy after {limit:?}"
            );
            st = self
                .shared
                .idle
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for ScriptedImap {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let (conn, faults) = {
            let mut st = shared.lock();
            st.stats.connections += 1;
            st.active += 1;
            let conn = st.stats.connections;
            (conn, st.faults.remove(&conn).unwrap_or_default())
        };
        let sh = shared.clone();
        thread::spawn(move || {
            let _ = serve(&sh, stream, conn, faults);
            let mut st = sh.lock();
            st.active -= 1;
            sh.idle.notify_all();
        });
    }
}

/// How a session ends.
#[derive(Debug)]
enum End {
    /// The client left or LOGOUT was answered: close normally.
    Done,
    Cut(Close),
    Silent,
}

type Flow = Result<(), End>;

impl From<io::Error> for End {
    fn from(_: io::Error) -> End {
        End::Done
    }
}

fn serve(shared: &Shared, stream: TcpStream, conn: usize, faults: Vec<Fault>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let reader = BufReader::new(stream.try_clone()?);
    let config = shared.lock().config.clone();
    let mutation = faults.iter().find_map(|f| match f {
        Fault::Mutate(m) => Some(Mutator::new(m.clone())),
        _ => None,
    });
    let mut s = Session {
        shared,
        conn,
        faults,
        config,
        out: stream,
        reader,
        counts: BTreeMap::new(),
        state: SessionState::NotAuthenticated,
        bodies: 0,
        mute: false,
        hold_tagged: None,
        announce_exists: false,
        inject: None,
        announced: 0,
        utf8: false,
        mutation,
    };
    let end = match s.run() {
        Ok(()) => End::Done,
        Err(e) => e,
    };
    let Session {
        out, mut reader, ..
    } = s;
    match end {
        End::Done | End::Cut(Close::Fin) => {
            let _ = out.shutdown(Shutdown::Write);
            drain(&mut reader);
        }
        End::Cut(Close::Rst) => {
            socket2::SockRef::from(&out).set_linger(Some(Duration::ZERO))?;
        }
        End::Silent => drain(&mut reader),
    }
    Ok(())
}

/// Where in a session a fault can strike.
enum Point<'a> {
    Connect,
    Greeting,
    /// A command; `login_ok` tells whether a LOGIN / AUTHENTICATE succeeded.
    Command {
        name: &'a str,
        nth: usize,
        login_ok: bool,
    },
}

fn hits(step: &Step, p: &Point<'_>) -> bool {
    match (step, p) {
        (Step::Connect, Point::Connect) | (Step::Greeting, Point::Greeting) => true,
        (Step::Login, Point::Command { name, login_ok, .. }) => {
            *login_ok && matches!(*name, "LOGIN" | "AUTHENTICATE")
        }
        (Step::Reply(k, n), Point::Command { name, nth, .. }) => {
            k.eq_ignore_ascii_case(name) && n == nth
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Command parsing

/// A token of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// An atom (also a sequence set, `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]`, `\Deleted`).
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    List(Vec<Tok>),
}

impl Tok {
    /// An astring's bytes.
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Tok::Atom(a) => Some(a.as_bytes()),
            Tok::Str(s) => Some(s),
            Tok::List(_) => None,
        }
    }

    fn atom(&self) -> Option<&str> {
        match self {
            Tok::Atom(a) => Some(a),
            _ => None,
        }
    }
}

struct Parser<'b> {
    b: &'b [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn tokens(&mut self, in_list: bool) -> Result<Vec<Tok>, String> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b')') if in_list => {
                    self.i += 1;
                    return Ok(out);
                }
                None if in_list => return Err("unclosed parenthesis".into()),
                None => return Ok(out),
                _ => {}
            }
            out.push(self.token()?);
            match self.peek() {
                Some(b' ') => {
                    self.i += 1;
                    if matches!(self.peek(), None | Some(b' ') | Some(b')')) {
                        return Err("bad spacing".into());
                    }
                }
                Some(b')') if in_list => {}
                None => {}
                Some(c) => return Err(format!("unexpected {:?} after a token", c as char)),
            }
        }
    }

    fn token(&mut self) -> Result<Tok, String> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                let mut s = Vec::new();
                loop {
                    match self.peek() {
                        None | Some(b'\r') | Some(b'\n') => {
                            return Err("unterminated quoted string".into())
                        }
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(Tok::Str(s));
                        }
                        Some(b'\\') => {
                            let c = self.b.get(self.i + 1).copied();
                            if !matches!(c, Some(b'"') | Some(b'\\')) {
                                return Err("bad escape in quoted string".into());
                            }
                            s.push(c.unwrap());
                            self.i += 2;
                        }
                        Some(c) if c >= 0x80 || c == 0 => {
                            return Err("8-bit or NUL byte in a quoted string".into())
                        }
                        Some(c) => {
                            s.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some(b'{') => {
                let rest = &self.b[self.i..];
                let close = rest
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("unterminated literal marker")?;
                let inner = std::str::from_utf8(&rest[1..close]).map_err(|_| "bad literal")?;
                let digits = inner.strip_suffix('+').unwrap_or(inner);
                let n: usize = digits
                    .parse()
                    .map_err(|_| format!("bad literal marker {{{inner}}}"))?;
                if rest.get(close + 1..close + 3) != Some(b"\r\n") {
                    return Err("literal marker not at the end of a line".into());
                }
                let start = self.i + close + 3;
                let data = self.b.get(start..start + n).ok_or("short literal")?;
                self.i = start + n;
                Ok(Tok::Str(data.to_vec()))
            }
            Some(b'(') => {
                self.i += 1;
                Ok(Tok::List(self.tokens(true)?))
            }
            Some(_) => {
                let start = self.i;
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'[' => depth += 1,
                        b']' if depth > 0 => depth -= 1,
                        b' ' | b'(' | b')' if depth == 0 => break,
                        b'"' | b'{' if depth == 0 => break,
                        _ => {}
                    }
                    if !(0x20..0x7f).contains(&c) {
                        return Err("non-printable byte in an atom".into());
                    }
                    self.i += 1;
                }
                if depth != 0 {
                    return Err("unclosed [".into());
                }
                if self.i == start {
                    return Err("empty atom".into());
                }
                Ok(Tok::Atom(
                    String::from_utf8_lossy(&self.b[start..self.i]).into_owned(),
                ))
            }
            None => Err("missing token".into()),
        }
    }
}

/// The `{n}` / `{n+}` marker at the end of a line (with its CRLF), if any.
fn literal_marker(line: &[u8]) -> Option<(usize, bool)> {
    let l = line.strip_suffix(b"\r\n")?;
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&c| c == b'{')?;
    let inner = std::str::from_utf8(&l[open + 1..]).ok()?;
    let (digits, plus) = match inner.strip_suffix('+') {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, plus))
}

/// A UID set: ranges, with `u32::MAX` for `*`.
fn parse_set(s: &str) -> Option<Vec<(u32, u32)>> {
    let num = |x: &str| -> Option<u32> {
        if x == "*" {
            Some(u32::MAX)
        } else if !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()) && !x.starts_with('0') {
            x.parse().ok()
        } else {
            None
        }
    };
    s.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => Some((num(a)?, num(b)?)),
            None => {
                let n = num(part)?;
                Some((n, n))
            }
        })
        .collect()
}

fn in_set(set: &[(u32, u32)], uid: u32, max_uid: u32) -> bool {
    set.iter().any(|&(a, b)| {
        let a = if a == u32::MAX { max_uid } else { a };
        let b = if b == u32::MAX { max_uid } else { b };
        (a.min(b)..=a.max(b)).contains(&uid)
    })
}

/// Glob matching of LIST patterns: `*` matches anything, `%` anything but the delimiter.
fn list_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| list_match(rest, &name[i..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != DELIMITER as u8)
            .any(|i| list_match(rest, &name[i..])),
        Some((&c, rest)) => name.first() == Some(&c) && list_match(rest, &name[1..]),
    }
}

/// The header fields named in `fields` (or all others, with `not`), followed by CRLF.
fn header_fields(raw: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 2);
    let header = &raw[..end];
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if !matches!(line.first(), Some(b' ') | Some(b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            let named = fields
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name));
            keep = named != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Decodes a modified UTF-7 name (RFC 3501 §5.1.3); a name that is not valid modified
/// UTF-7 is returned as it is.
pub fn utf7_decode(wire: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::new();
    let mut rest = wire;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let Some(dash) = rest[amp..].find('-') else {
            return wire.to_string();
        };
        let b64 = &rest[amp + 1..amp + dash];
        rest = &rest[amp + dash + 1..];
        if b64.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits = 0u32;
        let mut n = 0;
        let mut units = Vec::new();
        for c in b64.bytes() {
            let Some(v) = B64.iter().position(|&x| x == c) else {
                return wire.to_string();
            };
            bits = (bits << 6) | v as u32;
            n += 6;
            if n >= 16 {
                n -= 16;
                units.push((bits >> n) as u16);
            }
        }
        match String::from_utf16(&units) {
            Ok(s) => out.push_str(&s),
            Err(_) => return wire.to_string(),
        }
    }
    out.push_str(rest);
    out
}

/// What a downgrading server presents instead of a message with 8-bit header fields: a
/// notice, with the original attached as `message/global` (RFC 6532 §3.7).
pub fn downgraded(raw: &[u8]) -> Vec<u8> {
    let mut out = b"From: Mail System <postmaster@scripted.test>\r\n\
        Subject: Cannot display Unicode content\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"downgraded\"\r\n\r\n\
        --downgraded\r\nContent-Type: text/plain\r\n\r\n\
        This message holds Unicode content that your client cannot display.\r\n\
        --downgraded\r\nContent-Type: message/global\r\n\r\n"
        .to_vec();
    out.extend_from_slice(raw);
    out.extend_from_slice(b"\r\n--downgraded--\r\n");
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------------------------
// The session

#[derive(Clone, Debug, PartialEq, Eq)]
enum SessionState {
    NotAuthenticated,
    Authenticated,
    Selected { folder: String, read_only: bool },
}

/// A FETCH item.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Uid,
    Size,
    Flags,
    InternalDate,
    /// `BODY[]` / `BODY.PEEK[]` / `RFC822`.
    Body {
        peek: bool,
        name: &'static str,
    },
    /// `BODY[HEADER]`, `BODY[HEADER.FIELDS (..)]`, `BODY[HEADER.FIELDS.NOT (..)]`.
    Header {
        peek: bool,
        section: String,
        fields: Option<Vec<String>>,
        not: bool,
    },
}

fn parse_item(s: &str) -> Option<Item> {
    let u = s.to_ascii_uppercase();
    Some(match u.as_str() {
        "UID" => Item::Uid,
        "RFC822.SIZE" => Item::Size,
        "FLAGS" => Item::Flags,
        "INTERNALDATE" => Item::InternalDate,
        "BODY[]" => Item::Body {
            peek: false,
            name: "BODY[]",
        },
        "BODY.PEEK[]" => Item::Body {
            peek: true,
            name: "BODY[]",
        },
        "RFC822" => Item::Body {
            peek: false,
            name: "RFC822",
        },
        _ => {
            let (peek, section) = if let Some(r) = u.strip_prefix("BODY.PEEK[") {
                (true, r.strip_suffix(']')?)
            } else {
                (false, u.strip_prefix("BODY[")?.strip_suffix(']')?)
            };
            let (fields, not) = if section == "HEADER" {
                (None, false)
            } else {
                let (list, not) = if let Some(r) = section.strip_prefix("HEADER.FIELDS.NOT ") {
                    (r, true)
                } else {
                    (section.strip_prefix("HEADER.FIELDS ")?, false)
                };
                let inner = list.strip_prefix('(')?.strip_suffix(')')?;
                let names: Vec<String> = inner.split(' ').map(str::to_string).collect();
                if names.iter().any(|n| n.is_empty()) {
                    return None;
                }
                (Some(names), not)
            };
            Item::Header {
                peek,
                section: section.to_string(),
                fields,
                not,
            }
        }
    })
}

struct Session<'a> {
    shared: &'a Shared,
    conn: usize,
    faults: Vec<Fault>,
    config: Config,
    out: TcpStream,
    reader: BufReader<TcpStream>,
    /// Commands received so far in this connection, per name.
    counts: BTreeMap<String, usize>,
    state: SessionState,
    /// `BODY[]` literals begun in this connection.
    bodies: usize,
    /// Discard everything written (for [`Fault::CutUnanswered`]).
    mute: bool,
    /// Close instead of sending the tagged completion (for [`Fault::CutBeforeTagged`]).
    hold_tagged: Option<Close>,
    /// Send `* N EXISTS` before the next tagged reply (see [`Fault::AppendAfter`]).
    announce_exists: bool,
    /// Bytes to send before the next tagged reply (see [`Fault::InjectBeforeTagged`]).
    inject: Option<Vec<u8>>,
    /// The number of messages the client was last told the selected mailbox holds.
    announced: usize,
    /// `ENABLE UTF8=ACCEPT` was accepted.
    utf8: bool,
    /// The output mutation of this connection, if any.
    mutation: Option<Mutator>,
}

/// Applies a [`Mutation`] to a connection's output as it is written.
struct Mutator {
    mutation: Mutation,
    /// The protocol line being assembled (original bytes).
    line: Vec<u8>,
    /// Protocol lines seen so far.
    lines: usize,
    /// Literal data still to pass through unchanged.
    literal: usize,
    /// Lines with a literal marker seen so far.
    literals: usize,
    /// Bytes still to send before a cut (once the cut's line has begun).
    cut_left: Option<usize>,
}

impl Mutator {
    fn new(mutation: Mutation) -> Mutator {
        Mutator {
            mutation,
            line: Vec::new(),
            lines: 0,
            literal: 0,
            literals: 0,
            cut_left: None,
        }
    }

    /// What to send for `bytes`, and whether to close the connection after it.
    fn apply(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut i = 0;
        while i < bytes.len() {
            if self.literal > 0 {
                let n = self.literal.min(bytes.len() - i);
                if self.emit(&mut out, &bytes[i..i + n]) {
                    return (out, true);
                }
                self.literal -= n;
                i += n;
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.line.push(b);
            if b != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let k = self.lines;
            self.lines += 1;
            let mut target = self.mutation.line() == Some(k);
            if let Some((n, _)) = literal_marker(&line) {
                self.literal = n;
                if let Mutation::LiteralLength { literal, .. } = self.mutation {
                    target = literal == self.literals;
                }
                self.literals += 1;
            }
            let mutated = if target { self.mutate(&line) } else { line };
            if self.emit(&mut out, &mutated) {
                return (out, true);
            }
        }
        (out, false)
    }

    /// Appends `bytes` to `out`, honouring a running cut; true when the cut strikes.
    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) -> bool {
        match &mut self.cut_left {
            None => {
                out.extend_from_slice(bytes);
                false
            }
            Some(left) => {
                let n = (*left).min(bytes.len());
                out.extend_from_slice(&bytes[..n]);
                *left -= n;
                n < bytes.len() || *left == 0
            }
        }
    }

    fn mutate(&mut self, line: &[u8]) -> Vec<u8> {
        match &self.mutation {
            Mutation::None => line.to_vec(),
            Mutation::Flip { at, mask, .. } => {
                let mut l = line.to_vec();
                let at = at % l.len();
                l[at] ^= mask.max(&1);
                l
            }
            Mutation::Delete { .. } => Vec::new(),
            Mutation::Duplicate { .. } => [line, line].concat(),
            Mutation::Insert { bytes, .. } => [bytes.as_slice(), line].concat(),
            Mutation::Number { nth, value, .. } => {
                let mut runs = Vec::new();
                let mut j = 0;
                while j < line.len() {
                    if line[j].is_ascii_digit() {
                        let start = j;
                        while j < line.len() && line[j].is_ascii_digit() {
                            j += 1;
                        }
                        runs.push((start, j));
                    } else {
                        j += 1;
                    }
                }
                if runs.is_empty() {
                    return line.to_vec();
                }
                let (a, b) = runs[nth % runs.len()];
                [&line[..a], value.as_bytes(), &line[b..]].concat()
            }
            Mutation::LiteralLength { by, .. } => match literal_marker(line) {
                Some((n, plus)) => {
                    let open = line.iter().rposition(|&c| c == b'{').unwrap();
                    let m = (n as i64 + by).max(0);
                    let marker = if plus {
                        format!("{{{m}+}}\r\n")
                    } else {
                        format!("{{{m}}}\r\n")
                    };
                    [&line[..open], marker.as_bytes()].concat()
                }
                None => line.to_vec(),
            },
            Mutation::Cut { at, .. } => {
                self.cut_left = Some(*at);
                line.to_vec()
            }
        }
    }
}

/// A parsed command.
struct Command {
    tag: String,
    name: String,
    args: Vec<Tok>,
}

impl Session<'_> {
    fn run(&mut self) -> Flow {
        self.after(&Point::Connect)?;
        let bye = self.faults.iter().find_map(|f| match f {
            Fault::GreetingBye(t) => Some(t.clone()),
            _ => None,
        });
        if let Some(text) = bye {
            self.send(&format!("* BYE {text}"))?;
            return Err(End::Done);
        }
        if self.has(|f| *f == Fault::GarbageAt(Step::Greeting)) {
            self.send(GARBAGE)?;
            return Err(End::Done);
        }
        let greeting = if self.config.caps_in_greeting {
            format!(
                "* OK [CAPABILITY {}] scripted IMAP ready",
                self.config.caps.join(" ")
            )
        } else {
            "* OK scripted IMAP ready".to_string()
        };
        self.send(&greeting)?;
        let inject = self.faults.iter().find_map(|f| match f {
            Fault::InjectBeforeTagged(Step::Greeting, b) => Some(b.clone()),
            _ => None,
        });
        if let Some(b) = inject {
            self.write(&b)?;
        }
        self.after(&Point::Greeting)?;
        loop {
            let Some(raw) = self.read_raw_command()? else {
                return Ok(());
            };
            self.count_in(raw.len());
            self.command(&raw)?;
        }
    }

    fn has(&self, pred: impl Fn(&Fault) -> bool) -> bool {
        self.faults.iter().any(pred)
    }

    /// Applies the faults that strike after `p`.
    fn after(&mut self, p: &Point<'_>) -> Flow {
        let mut bye = false;
        let mut appends = Vec::new();
        for f in &self.faults {
            match f {
                Fault::AppendAfter {
                    step,
                    folder,
                    raw,
                    flags,
                } if hits(step, p) => appends.push((folder.clone(), raw.clone(), flags.clone())),
                _ => {}
            }
        }
        for (folder, raw, flags) in appends {
            let mut st = self.shared.lock();
            let f = st.folder_mut(&folder);
            let uid = f.uidnext;
            f.uidnext += 1;
            let mut m = Message::new(uid, raw);
            for fl in &flags {
                add_flag(&mut m.flags, fl);
            }
            f.messages.push(m);
            self.announce_exists = true;
        }
        for f in &self.faults {
            match f {
                Fault::CutAfter(s, c) if hits(s, p) => return Err(End::Cut(*c)),
                Fault::SilentAfter(s) if hits(s, p) => return Err(End::Silent),
                Fault::ByeAfter(s) if hits(s, p) => bye = true,
                _ => {}
            }
        }
        if bye {
            self.send("* BYE scripted server shutting down")?;
            return Err(End::Cut(Close::Fin));
        }
        Ok(())
    }

    fn violation(&self, what: String) {
        self.shared
            .lock()
            .stats
            .violations
            .push(format!("conn {}: {what}", self.conn));
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.mute {
            return Ok(());
        }
        let Some(m) = self.mutation.as_mut() else {
            self.shared.lock().stats.bytes_out += bytes.len();
            return self.out.write_all(bytes);
        };
        let lines_before = m.lines;
        let (out, cut) = m.apply(bytes);
        let lines = m.lines - lines_before;
        {
            let mut st = self.shared.lock();
            st.stats.bytes_out += out.len();
            st.stats.lines_out += lines;
        }
        self.out.write_all(&out)?;
        if cut {
            return Err(io::Error::other("mutation: cut"));
        }
        Ok(())
    }

    /// Sends a line (CRLF added).
    fn send(&mut self, line: &str) -> io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        self.write(&buf)
    }

    /// Sends the tagged completion of a command (unless [`Fault::CutBeforeTagged`] holds it).
    fn tagged(&mut self, tag: &str, status: &str) -> Flow {
        if let Some(c) = self.hold_tagged {
            return Err(End::Cut(c));
        }
        if self.announce_exists {
            if let SessionState::Selected { folder, .. } = &self.state {
                let n = self.shared.lock().folder_mut(folder).messages.len();
                self.announce_exists = false;
                self.announced = n;
                self.send(&format!("* {n} EXISTS"))?;
            }
        }
        if let Some(bytes) = self.inject.take() {
            self.write(&bytes)?;
        }
        self.send(&format!("{tag} {status}"))?;
        Ok(())
    }

    /// Answers BAD and records a violation.
    fn bad(&mut self, tag: &str, what: String) -> Flow {
        self.violation(what.clone());
        self.tagged(tag, &format!("BAD {what}"))
    }

    /// Reads one command with its literals (answering `+` to synchronizing ones); `None` at
    /// EOF.
    fn read_raw_command(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut all = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = (&mut self.reader)
                .take(64 * 1024)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                return Ok(None);
            }
            if !line.ends_with(b"\r\n") {
                self.violation(format!(
                    "command line not terminated by CRLF: {:?}",
                    String::from_utf8_lossy(&line)
                ));
                line.pop();
                line.extend_from_slice(b"\r\n");
            }
            all.extend_from_slice(&line);
            let Some((n, plus)) = literal_marker(&line) else {
                return Ok(Some(all));
            };
            if plus && !self.config.has_cap("LITERAL+") {
                self.violation("non-synchronizing literal without LITERAL+".into());
            }
            if !plus {
                self.out.write_all(b"+ Ready for literal data\r\n")?;
            }
            let mut data = vec![0; n];
            self.reader.read_exact(&mut data)?;
            all.extend_from_slice(&data);
        }
    }

    fn count_in(&self, n: usize) {
        self.shared.lock().stats.bytes_in += n;
    }

    /// Records a command; `None` (after a BAD) if it cannot be parsed.
    fn parse(&mut self, raw: &[u8]) -> io::Result<Option<Command>> {
        let queued = self.reader.buffer().iter().filter(|&&b| b == b'\n').count();
        let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        let mut p = Parser { b: body, i: 0 };
        let parsed = p.tokens(false);
        let mut problems = Vec::new();
        let (tag, name, args) = match parsed {
            Ok(toks) => {
                let mut it = toks.into_iter();
                let tag = it.next().and_then(|t| t.atom().map(str::to_string));
                let mut name = it
                    .next()
                    .and_then(|t| t.atom().map(str::to_ascii_uppercase))
                    .unwrap_or_default();
                let mut rest: Vec<Tok> = it.collect();
                if name == "UID" && !rest.is_empty() {
                    if let Some(sub) = rest[0].atom() {
                        name = format!("UID {}", sub.to_ascii_uppercase());
                        rest.remove(0);
                    }
                }
                match tag {
                    Some(t) if !t.contains(['+', '*', '%', '\\', '[', ']']) => (t, name, rest),
                    t => {
                        problems.push(format!("bad tag {t:?}"));
                        (t.unwrap_or_else(|| "*".into()), name, rest)
                    }
                }
            }
            Err(e) => {
                problems.push(e);
                let tag = String::from_utf8_lossy(body.split(|&b| b == b' ').next().unwrap_or(b""))
                    .into_owned();
                (tag, String::new(), Vec::new())
            }
        };
        if name.is_empty() && problems.is_empty() {
            problems.push("no command name".into());
        }
        let line = match name.as_str() {
            "LOGIN" | "AUTHENTICATE" => format!("{tag} {name} <redacted>"),
            _ => String::from_utf8_lossy(body).into_owned(),
        };
        {
            let mut st = self.shared.lock();
            st.stats.max_pipeline_depth = st.stats.max_pipeline_depth.max(queued + 1);
            st.stats.commands.push(Received {
                conn: self.conn,
                tag: tag.clone(),
                name: name.clone(),
                line: line.clone(),
            });
        }
        if !problems.is_empty() {
            let what = format!("malformed command {line:?}: {}", problems.join("; "));
            self.violation(what);
            self.send(&format!("{tag} BAD syntax error"))?;
            return Ok(None);
        }
        Ok(Some(Command { tag, name, args }))
    }

    fn command(&mut self, raw: &[u8]) -> Flow {
        let Some(cmd) = self.parse(raw)? else {
            return Ok(());
        };
        let nth = {
            let n = self.counts.entry(cmd.name.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let name = cmd.name.clone();
        let point = Point::Command {
            name: &name,
            nth,
            login_ok: true,
        };
        let mut instead: Option<String> = None;
        let mut garbage = false;
        for f in &self.faults {
            match f {
                Fault::CutBefore(s, c) if hits(s, &point) => return Err(End::Cut(*c)),
                Fault::SilentBefore(s) if hits(s, &point) => return Err(End::Silent),
                Fault::ByeInstead(s) if hits(s, &point) => {
                    self.out
                        .write_all(b"* BYE scripted server shutting down\r\n")?;
                    return Err(End::Cut(Close::Fin));
                }
                Fault::CutUnanswered(s, c) if hits(s, &point) => {
                    self.mute = true;
                    self.hold_tagged = Some(*c);
                }
                Fault::CutBeforeTagged(s, c) if hits(s, &point) => self.hold_tagged = Some(*c),
                Fault::GarbageAt(s) if hits(s, &point) => garbage = true,
                Fault::InjectBeforeTagged(s, b) if hits(s, &point) => self.inject = Some(b.clone()),
                Fault::ReplyInstead(s, r) if hits(s, &point) => instead = Some(r.clone()),
                Fault::LoginReply(r) if matches!(name.as_str(), "LOGIN" | "AUTHENTICATE") => {
                    instead = Some(r.clone())
                }
                _ => {}
            }
        }
        if garbage {
            self.send(GARBAGE)?;
            return Ok(());
        }
        if let Some(r) = instead {
            if matches!(name.as_str(), "LOGIN" | "AUTHENTICATE") {
                self.shared.lock().stats.failed_logins += 1;
                if name == "AUTHENTICATE" && !self.config.has_cap("SASL-IR") {
                    // The client response still has to be read.
                    self.send("+ ")?;
                    let mut line = Vec::new();
                    self.reader.read_until(b'\n', &mut line)?;
                }
            }
            return self.tagged(&cmd.tag, &r);
        }
        let login_ok = self.execute(&cmd)?;
        self.after(&Point::Command {
            name: &name,
            nth,
            login_ok,
        })
    }

    /// Runs a command; returns whether it was a successful login.
    fn execute(&mut self, cmd: &Command) -> Result<bool, End> {
        let tag = cmd.tag.as_str();
        let args = cmd.args.as_slice();
        let authenticated = self.state != SessionState::NotAuthenticated;
        let selected = matches!(self.state, SessionState::Selected { .. });
        match (cmd.name.as_str(), authenticated, selected) {
            ("CAPABILITY", ..) => {
                self.no_args(cmd)?;
                let caps = self.config.caps.join(" ");
                self.send(&format!("* CAPABILITY {caps}"))?;
                self.tagged(tag, "OK CAPABILITY completed")?;
            }
            ("NOOP", ..) | ("CHECK", _, true) => {
                self.no_args(cmd)?;
                self.tagged(tag, &format!("OK {} completed", cmd.name))?;
            }
            ("LOGOUT", ..) => {
                self.no_args(cmd)?;
                self.send("* BYE scripted IMAP server logging out")?;
                self.tagged(tag, "OK LOGOUT completed")?;
                self.after(&Point::Command {
                    name: "LOGOUT",
                    nth: self.counts["LOGOUT"],
                    login_ok: false,
                })?;
                return Err(End::Done);
            }
            ("LOGIN", false, _) => return self.login(cmd),
            ("AUTHENTICATE", false, _) => return self.authenticate(cmd),
            ("STARTTLS", false, _) => {
                self.violation("STARTTLS on an --insecure-no-tls connection".into());
                self.tagged(tag, "NO STARTTLS is not available here")?;
            }
            ("ENABLE", true, _) => self.enable(cmd)?,
            ("IDLE", _, true) if self.config.has_cap("IDLE") => self.idle(cmd)?,
            ("LIST", true, _) => self.list(cmd)?,
            ("SELECT", true, _) => self.select(cmd, false)?,
            ("EXAMINE", true, _) => self.select(cmd, true)?,
            ("UID FETCH", _, true) => self.uid_fetch(cmd)?,
            ("UID STORE", _, true) => self.uid_store(cmd)?,
            ("UID SEARCH", _, true) => self.uid_search(cmd)?,
            ("UID EXPUNGE", _, true) => {
                if !self.config.has_cap("UIDPLUS") {
                    self.bad(
                        tag,
                        "UID EXPUNGE although UIDPLUS was not advertised".into(),
                    )?;
                } else {
                    let set = args.first().and_then(Tok::atom).and_then(parse_set);
                    match (set, args.len()) {
                        (Some(set), 1) => self.expunge(tag, Some(&set), true)?,
                        _ => self.bad(tag, format!("UID EXPUNGE with bad arguments {args:?}"))?,
                    }
                }
            }
            ("EXPUNGE", _, true) => {
                self.no_args(cmd)?;
                self.expunge(tag, None, true)?;
            }
            ("CLOSE", _, true) => {
                self.no_args(cmd)?;
                self.expunge(tag, None, false)?;
                self.state = SessionState::Authenticated;
            }
            ("UNSELECT", _, true) if self.config.has_cap("UNSELECT") => {
                self.no_args(cmd)?;
                self.state = SessionState::Authenticated;
                self.tagged(tag, "OK UNSELECT completed")?;
            }
            (name, ..) => {
                let known = [
                    "ENABLE",
                    "IDLE",
                    "LOGIN",
                    "AUTHENTICATE",
                    "STARTTLS",
                    "LIST",
                    "SELECT",
                    "EXAMINE",
                    "UID FETCH",
                    "UID STORE",
                    "UID SEARCH",
                    "UID EXPUNGE",
                    "EXPUNGE",
                    "CLOSE",
                    "CHECK",
                ];
                let what = if known.contains(&name) {
                    format!("{name} is not valid in state {:?}", self.state)
                } else {
                    format!("unknown or unsupported command {name:?}")
                };
                self.bad(tag, what)?;
            }
        }
        Ok(false)
    }

    fn no_args(&mut self, cmd: &Command) -> io::Result<()> {
        if !cmd.args.is_empty() {
            self.violation(format!("{} with arguments {:?}", cmd.name, cmd.args));
        }
        Ok(())
    }

    fn login(&mut self, cmd: &Command) -> Result<bool, End> {
        let (user, pass) = match cmd.args.as_slice() {
            [u, p] if u.bytes().is_some() && p.bytes().is_some() => (
                String::from_utf8_lossy(u.bytes().unwrap()).into_owned(),
                String::from_utf8_lossy(p.bytes().unwrap()).into_owned(),
            ),
            _ => {
                self.bad(&cmd.tag, "LOGIN with bad arguments".into())?;
                return Ok(false);
            }
        };
        self.finish_login(&cmd.tag, &user, &pass)
    }

    fn authenticate(&mut self, cmd: &Command) -> Result<bool, End> {
        let tag = cmd.tag.as_str();
        let mech = cmd.args.first().and_then(Tok::atom).unwrap_or("");
        if !mech.eq_ignore_ascii_case("PLAIN") || !self.config.has_cap("AUTH=PLAIN") {
            self.violation(format!("AUTHENTICATE {mech} although not advertised"));
            self.tagged(tag, "NO unsupported mechanism")?;
            return Ok(false);
        }
        let response = match cmd.args.get(1) {
            Some(ir) => {
                if !self.config.has_cap("SASL-IR") {
                    self.violation("initial response although SASL-IR was not advertised".into());
                }
                ir.atom().unwrap_or("").to_string()
            }
            None => {
                self.send("+ ")?;
                let mut raw = Vec::new();
                (&mut self.reader)
                    .take(64 * 1024)
                    .read_until(b'\n', &mut raw)?;
                if !raw.ends_with(b"\r\n") {
                    self.violation("AUTHENTICATE response not terminated by CRLF".into());
                }
                String::from_utf8_lossy(&raw)
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            }
        };
        if response == "*" {
            self.tagged(tag, "BAD authentication cancelled")?;
            return Ok(false);
        }
        let decoded = if response == "=" {
            Some(Vec::new())
        } else {
            base64_decode(&response)
        };
        let parts: Option<Vec<Vec<u8>>> =
            decoded.map(|d| d.split(|&b| b == 0).map(<[u8]>::to_vec).collect());
        let Some(parts) = parts.filter(|p| p.len() == 3) else {
            self.violation(
                "AUTHENTICATE PLAIN response is not base64(authzid NUL user NUL pass)".into(),
            );
            self.tagged(tag, "BAD malformed PLAIN response")?;
            return Ok(false);
        };
        let authzid = String::from_utf8_lossy(&parts[0]).into_owned();
        let user = String::from_utf8_lossy(&parts[1]).into_owned();
        let pass = String::from_utf8_lossy(&parts[2]).into_owned();
        if !authzid.is_empty() && authzid != user {
            self.shared.lock().stats.failed_logins += 1;
            self.tagged(tag, "NO [AUTHORIZATIONFAILED] not authorized")?;
            return Ok(false);
        }
        self.finish_login(tag, &user, &pass)
    }

    fn finish_login(&mut self, tag: &str, user: &str, pass: &str) -> Result<bool, End> {
        if user != USER || pass != PASSWORD {
            self.shared.lock().stats.failed_logins += 1;
            self.tagged(tag, "NO [AUTHENTICATIONFAILED] Authentication failed.")?;
            return Ok(false);
        }
        self.shared.lock().stats.logins += 1;
        self.state = SessionState::Authenticated;
        if self.config.caps_in_greeting {
            let caps = self.config.caps.join(" ");
            self.tagged(tag, &format!("OK [CAPABILITY {caps}] Logged in"))?;
        } else {
            self.tagged(tag, "OK Logged in")?;
        }
        Ok(true)
    }

    /// Resolves a mailbox argument to a folder's wire name.
    fn mailbox_arg(&mut self, arg: Option<&Tok>) -> Option<String> {
        let name = arg?.bytes()?;
        if name.iter().any(|&b| b >= 0x80) && !self.utf8 {
            self.violation(format!(
                "mailbox name {:?} not encoded in modified UTF-7",
                String::from_utf8_lossy(name)
            ));
            return None;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let utf8 = self.utf8;
        let found = {
            let st = self.shared.lock();
            st.folders
                .iter()
                .find(|f| {
                    if f.is_inbox() {
                        name.eq_ignore_ascii_case(INBOX)
                    } else if utf8 {
                        utf7_decode(&f.wire) == name
                    } else {
                        f.wire == name
                    }
                })
                .map(|f| f.wire.clone())
        };
        if found.is_none()
            && utf8
            && self
                .shared
                .lock()
                .folders
                .iter()
                .any(|f| f.wire == name && utf7_decode(&f.wire) != name)
        {
            self.violation(format!(
                "mailbox name {name:?} sent in modified UTF-7 after ENABLE UTF8=ACCEPT"
            ));
        }
        found
    }

    /// A folder's name as this session shows it: modified UTF-7, or UTF-8 after `ENABLE
    /// UTF8=ACCEPT`.
    fn shown_name(&self, wire: &str) -> String {
        if self.utf8 {
            utf7_decode(wire)
        } else {
            wire.to_string()
        }
    }

    fn enable(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        if !self.config.has_cap("ENABLE") {
            return self.bad(tag, "ENABLE although it was not advertised".into());
        }
        if matches!(self.state, SessionState::Selected { .. }) {
            // RFC 5161 §3.1: ENABLE is only valid in the authenticated state.
            self.violation("ENABLE with a mailbox selected".into());
        }
        let mut enabled = Vec::new();
        for a in &cmd.args {
            let Some(a) = a.atom() else {
                return self.bad(tag, "ENABLE with a non-atom argument".into());
            };
            if a.eq_ignore_ascii_case("UTF8=ACCEPT") && self.config.has_cap("UTF8=ACCEPT") {
                self.utf8 = true;
                enabled.push("UTF8=ACCEPT");
            }
        }
        if enabled.is_empty() {
            self.send("* ENABLED")?;
        } else {
            self.send(&format!("* ENABLED {}", enabled.join(" ")))?;
        }
        self.tagged(tag, "OK ENABLE completed")
    }

    /// IDLE (RFC 2177): announces new messages (`* N EXISTS`) as other clients add them,
    /// until the client sends DONE.
    fn idle(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.clone();
        self.no_args(cmd)?;
        let (folder, _) = self.selected();
        self.send("+ idling")?;
        let stream = self.reader.get_ref().try_clone()?;
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        let mut line = Vec::new();
        let result = loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                break Err(End::Done);
            }
            let n = self.shared.lock().folder_mut(&folder).messages.len();
            if n > self.announced {
                self.announced = n;
                self.send(&format!("* {n} EXISTS"))?;
            }
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => break Err(End::Done),
                Ok(_) if line.ends_with(b"\n") => break Ok(()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break Err(End::Done),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        result?;
        self.count_in(line.len());
        let text = String::from_utf8_lossy(&line).into_owned();
        self.shared.lock().stats.commands.push(Received {
            conn: self.conn,
            tag: String::new(),
            name: "DONE".into(),
            line: text.trim_end().to_string(),
        });
        if line != b"DONE\r\n" {
            return self.bad(&tag, format!("IDLE ended with {text:?} instead of DONE"));
        }
        self.tagged(&tag, "OK IDLE terminated")
    }

    /// A message as this session presents it: downgraded (see [`Config::downgrade`]) or as
    /// stored.
    fn presented<'m>(&self, m: &'m Message) -> std::borrow::Cow<'m, [u8]> {
        let header_end = m
            .raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(m.raw.len());
        if !self.config.downgrade || self.utf8 || m.raw[..header_end].is_ascii() {
            return std::borrow::Cow::Borrowed(&m.raw);
        }
        std::borrow::Cow::Owned(downgraded(&m.raw))
    }

    fn list(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (Some(reference), Some(pattern)) = (
            cmd.args.first().and_then(Tok::bytes),
            cmd.args.get(1).and_then(Tok::bytes),
        ) else {
            return self.bad(tag, "LIST with bad arguments".into());
        };
        if cmd.args.len() != 2 {
            self.violation(format!("LIST with {} arguments", cmd.args.len()));
        }
        if !reference.is_empty() {
            self.violation("LIST with a non-empty reference".into());
        }
        let pattern = pattern.to_vec();
        if pattern.is_empty() {
            self.send(&format!("* LIST (\\Noselect) \"{DELIMITER}\" \"\""))?;
            return self.tagged(tag, "OK LIST completed");
        }
        let names: Vec<String> = self
            .shared
            .lock()
            .folders
            .iter()
            .map(|f| self.shown_name(&f.wire))
            .collect();
        let mut parents = BTreeSet::new();
        for n in &names {
            let mut prefix = String::new();
            for part in n
                .split(DELIMITER)
                .collect::<Vec<_>>()
                .split_last()
                .unwrap()
                .1
            {
                if !prefix.is_empty() {
                    prefix.push(DELIMITER);
                }
                prefix.push_str(part);
                if !names.contains(&prefix) {
                    parents.insert(prefix.clone());
                }
            }
        }
        let has_children = |n: &str| {
            names
                .iter()
                .any(|m| m.starts_with(&format!("{n}{DELIMITER}")))
        };
        let mut lines = Vec::new();
        for n in &names {
            let matched = if n == INBOX {
                list_match(&pattern.to_ascii_uppercase(), n.as_bytes())
                    || list_match(&pattern, n.as_bytes())
            } else {
                list_match(&pattern, n.as_bytes())
            };
            if matched {
                let attr = if has_children(n) {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                };
                let shown = if n == INBOX { n.clone() } else { quote(n) };
                lines.push(format!("* LIST ({attr}) \"{DELIMITER}\" {shown}"));
            }
        }
        for p in &parents {
            if list_match(&pattern, p.as_bytes()) {
                lines.push(format!(
                    "* LIST (\\Noselect \\HasChildren) \"{DELIMITER}\" {}",
                    quote(p)
                ));
            }
        }
        for l in lines {
            self.send(&l)?;
        }
        self.tagged(tag, "OK LIST completed")
    }

    fn select(&mut self, cmd: &Command, read_only: bool) -> Flow {
        let tag = cmd.tag.as_str();
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        if cmd.args.len() != 1 {
            self.violation(format!("{verb} with {} arguments", cmd.args.len()));
        }
        // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
        self.state = SessionState::Authenticated;
        let Some(wire) = self.mailbox_arg(cmd.args.first()) else {
            return self.tagged(tag, "NO [NONEXISTENT] Mailbox doesn't exist");
        };
        let f = self.shared.lock().folder_mut(&wire).clone();
        self.send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")?;
        if read_only {
            self.send("* OK [PERMANENTFLAGS ()] Read-only mailbox.")?;
        } else {
            self.send(
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
            )?;
        }
        self.send(&format!("* {} EXISTS", f.messages.len()))?;
        self.announced = f.messages.len();
        self.send("* 0 RECENT")?;
        self.send(&format!("* OK [UIDVALIDITY {}] UIDs valid", f.uidvalidity))?;
        self.send(&format!("* OK [UIDNEXT {}] Predicted next UID", f.uidnext))?;
        self.state = SessionState::Selected {
            folder: wire,
            read_only,
        };
        let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        self.tagged(tag, &format!("OK [{code}] {verb} completed"))
    }

    fn selected(&self) -> (String, bool) {
        match &self.state {
            SessionState::Selected { folder, read_only } => (folder.clone(), *read_only),
            _ => unreachable!("checked by the caller"),
        }
    }

    fn uid_fetch(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (folder, read_only) = self.selected();
        let set = cmd.args.first().and_then(Tok::atom).and_then(parse_set);
        let items: Option<Vec<Item>> = match cmd.args.get(1) {
            Some(Tok::Atom(a)) => parse_item(a).map(|i| vec![i]),
            Some(Tok::List(l)) if !l.is_empty() => {
                l.iter().map(|t| t.atom().and_then(parse_item)).collect()
            }
            _ => None,
        };
        let (Some(set), Some(mut items), 2) = (set, items, cmd.args.len()) else {
            return self.bad(tag, format!("UID FETCH with bad arguments {:?}", cmd.args));
        };
        if !items.contains(&Item::Uid) {
            items.insert(0, Item::Uid);
        }
        if self.config.uid_last {
            items.retain(|i| *i != Item::Uid);
            items.push(Item::Uid);
        }
        for i in &items {
            let peek = match i {
                Item::Body { peek, .. } | Item::Header { peek, .. } => *peek,
                _ => true,
            };
            if !peek {
                self.violation(format!("{:?} without .PEEK would set \\Seen", cmd.args[1]));
            }
        }
        let msgs: Vec<(usize, Message)> = {
            let mut st = self.shared.lock();
            let f = st.folder_mut(&folder);
            let max = f.messages.last().map_or(0, |m| m.uid);
            for m in f.messages.iter_mut() {
                if in_set(&set, m.uid, max) && !read_only {
                    for it in &items {
                        if matches!(
                            it,
                            Item::Body { peek: false, .. } | Item::Header { peek: false, .. }
                        ) {
                            add_flag(&mut m.flags, "\\Seen");
                        }
                    }
                }
            }
            f.messages
                .iter()
                .enumerate()
                .filter(|(_, m)| in_set(&set, m.uid, max))
                .map(|(i, m)| (i + 1, m.clone()))
                .collect()
        };
        for (seq, m) in msgs {
            self.fetch_one(&folder, seq, &m, &items)?;
        }
        self.tagged(tag, "OK UID FETCH completed")
    }

    /// Sends one FETCH response, applying the body faults.
    fn fetch_one(&mut self, folder: &str, seq: usize, m: &Message, items: &[Item]) -> Flow {
        let raw = self.presented(m).into_owned();
        let mut resp = format!("* {seq} FETCH (").into_bytes();
        // (start of the literal data in `resp`, its length)
        let mut body_at: Option<(usize, usize)> = None;
        let mut nth = 0;
        let mut header_sent = false;
        for (k, item) in items.iter().enumerate() {
            if k > 0 {
                resp.push(b' ');
            }
            match item {
                Item::Uid => resp.extend_from_slice(format!("UID {}", m.uid).as_bytes()),
                Item::Size => {
                    resp.extend_from_slice(format!("RFC822.SIZE {}", raw.len()).as_bytes())
                }
                Item::Flags => {
                    resp.extend_from_slice(format!("FLAGS ({})", m.flags.join(" ")).as_bytes())
                }
                Item::InternalDate => {
                    resp.extend_from_slice(b"INTERNALDATE \"17-Jul-1996 02:44:25 -0700\"")
                }
                Item::Header {
                    section,
                    fields,
                    not,
                    ..
                } => {
                    let data = match fields {
                        Some(f) => header_fields(&raw, f, *not),
                        None => header_fields(&raw, &[], true),
                    };
                    resp.extend_from_slice(
                        format!("BODY[{section}] {{{}}}\r\n", data.len()).as_bytes(),
                    );
                    resp.extend_from_slice(&data);
                    header_sent = true;
                }
                Item::Body { name, .. } => {
                    self.bodies += 1;
                    nth = self.bodies;
                    let short = self.faults.iter().find_map(|f| match f {
                        Fault::LiteralShort { nth: n, by } if *n == nth => Some(*by),
                        _ => None,
                    });
                    let announced = raw.len().saturating_sub(short.unwrap_or(0));
                    resp.extend_from_slice(format!("{name} {{{announced}}}\r\n").as_bytes());
                    body_at = Some((resp.len(), raw.len()));
                    resp.extend_from_slice(&raw);
                }
            }
        }
        resp.extend_from_slice(b")\r\n");
        let k = key(folder, m.uid);
        if header_sent && !self.mute {
            *self
                .shared
                .lock()
                .stats
                .headers
                .entry(k.clone())
                .or_insert(0) += 1;
        }
        let Some((start, _len)) = body_at else {
            self.write(&resp)?;
            return Ok(());
        };
        if !self.mute {
            let mut st = self.shared.lock();
            *st.stats.bodies.entry(k.clone()).or_insert(0) += 1;
            st.stats.body_log.push(k.clone());
        }
        let cut = self.faults.iter().find_map(|f| match f {
            Fault::CutInBody {
                nth: n,
                after_bytes,
                close,
            } if *n == nth => Some((*after_bytes, End::Cut(*close))),
            Fault::StallInBody {
                nth: n,
                after_bytes,
            } if *n == nth => Some((*after_bytes, End::Silent)),
            _ => None,
        });
        if let Some((after, end)) = cut {
            let upto = start.saturating_add(after).min(resp.len() - 1);
            self.write(&resp[..upto])?;
            return Err(end);
        }
        self.write(&resp)?;
        if !self.mute {
            *self
                .shared
                .lock()
                .stats
                .bodies_complete
                .entry(k)
                .or_insert(0) += 1;
        }
        for f in &self.faults {
            if let Fault::CutAfterBody { nth: n, close } = f {
                if *n == nth {
                    return Err(End::Cut(*close));
                }
            }
        }
        Ok(())
    }

    fn uid_store(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (folder, read_only) = self.selected();
        let set = cmd.args.first().and_then(Tok::atom).and_then(parse_set);
        let op = cmd
            .args
            .get(1)
            .and_then(Tok::atom)
            .map(str::to_ascii_uppercase);
        let flags: Option<Vec<String>> = match &cmd.args[2.min(cmd.args.len())..] {
            [Tok::List(l)] => l.iter().map(|t| t.atom().map(str::to_string)).collect(),
            atoms if !atoms.is_empty() => {
                atoms.iter().map(|t| t.atom().map(str::to_string)).collect()
            }
            _ => None,
        };
        let (Some(set), Some(op), Some(flags)) = (set, op, flags) else {
            return self.bad(tag, format!("UID STORE with bad arguments {:?}", cmd.args));
        };
        let (mode, silent) = match op.strip_suffix(".SILENT") {
            Some(m) => (m.to_string(), true),
            None => (op.clone(), false),
        };
        if !matches!(mode.as_str(), "+FLAGS" | "-FLAGS" | "FLAGS") {
            return self.bad(tag, format!("UID STORE with bad data item {op}"));
        }
        if read_only {
            self.violation(format!(
                "UID STORE on the read-only (EXAMINEd) mailbox {folder}"
            ));
            return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let sets_deleted =
            mode != "-FLAGS" && flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted"));
        let check = self.config.store_check.clone();
        let mut updates = Vec::new();
        let mut problems = Vec::new();
        {
            let mut st = self.shared.lock();
            let f = st.folder_mut(&folder);
            let max = f.messages.last().map_or(0, |m| m.uid);
            let mut newly_deleted = Vec::new();
            for (i, m) in f.messages.iter_mut().enumerate() {
                if !in_set(&set, m.uid, max) {
                    continue;
                }
                if sets_deleted {
                    if let Some(check) = &check {
                        if let Err(e) = check(&folder, m) {
                            problems.push(format!(
                                "UID STORE \\Deleted of {folder} UID {}: {e}",
                                m.uid
                            ));
                        }
                    }
                    newly_deleted.push(m.uid);
                }
                match mode.as_str() {
                    "+FLAGS" => flags.iter().for_each(|fl| add_flag(&mut m.flags, fl)),
                    "-FLAGS" => flags.iter().for_each(|fl| remove_flag(&mut m.flags, fl)),
                    _ => {
                        m.flags.clear();
                        flags.iter().for_each(|fl| add_flag(&mut m.flags, fl));
                    }
                }
                updates.push(format!(
                    "* {} FETCH (UID {} FLAGS ({}))",
                    i + 1,
                    m.uid,
                    m.flags.join(" ")
                ));
            }
            for uid in newly_deleted {
                *st.stats
                    .stored_deleted
                    .entry(key(&folder, uid))
                    .or_insert(0) += 1;
            }
        }
        for p in problems {
            self.violation(p);
        }
        if !silent {
            for u in updates {
                self.send(&u)?;
            }
        }
        self.tagged(tag, "OK UID STORE completed")
    }

    fn uid_search(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (folder, _) = self.selected();
        let mut keys = Vec::new();
        for t in &cmd.args {
            match t.atom().map(str::to_ascii_uppercase).as_deref() {
                Some(k @ ("ALL" | "DELETED" | "UNDELETED" | "SEEN" | "UNSEEN")) => {
                    keys.push(k.to_string())
                }
                _ => return self.bad(tag, format!("UID SEARCH with unsupported key {t:?}")),
            }
        }
        if keys.is_empty() {
            return self.bad(tag, "UID SEARCH without a key".into());
        }
        let uids: Vec<String> = self
            .shared
            .lock()
            .folder_mut(&folder)
            .messages
            .iter()
            .filter(|m| {
                keys.iter().all(|k| match k.as_str() {
                    "DELETED" => m.has_flag("\\Deleted"),
                    "UNDELETED" => !m.has_flag("\\Deleted"),
                    "SEEN" => m.has_flag("\\Seen"),
                    "UNSEEN" => !m.has_flag("\\Seen"),
                    _ => true,
                })
            })
            .map(|m| m.uid.to_string())
            .collect();
        if uids.is_empty() {
            self.send("* SEARCH")?;
        } else {
            self.send(&format!("* SEARCH {}", uids.join(" ")))?;
        }
        self.tagged(tag, "OK UID SEARCH completed")
    }

    /// EXPUNGE (`set` None), UID EXPUNGE, or CLOSE (`report` false: no untagged responses).
    fn expunge(&mut self, tag: &str, set: Option<&[(u32, u32)]>, report: bool) -> Flow {
        let (folder, read_only) = self.selected();
        if read_only {
            if report {
                self.violation(format!(
                    "expunge in the read-only (EXAMINEd) mailbox {folder}"
                ));
                return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only");
            }
            return self.tagged(tag, "OK CLOSE completed");
        }
        let mut lines = Vec::new();
        {
            let mut st = self.shared.lock();
            let f = st.folder_mut(&folder);
            let max = f.messages.last().map_or(0, |m| m.uid);
            let mut kept = Vec::new();
            let mut gone = Vec::new();
            for (i, m) in std::mem::take(&mut f.messages).into_iter().enumerate() {
                let doomed = m.has_flag("\\Deleted") && set.is_none_or(|s| in_set(s, m.uid, max));
                if doomed {
                    lines.push(format!("* {} EXPUNGE", i + 1 - gone.len()));
                    gone.push(m.uid);
                } else {
                    kept.push(m);
                }
            }
            f.messages = kept;
            for uid in gone {
                st.stats.expunged.push(key(&folder, uid));
            }
        }
        if report {
            self.announced = self.announced.saturating_sub(lines.len());
            for l in lines {
                self.send(&l)?;
            }
        }
        let what = match (set, report) {
            (Some(_), _) => "UID EXPUNGE",
            (None, true) => "EXPUNGE",
            (None, false) => "CLOSE",
        };
        self.tagged(tag, &format!("OK {what} completed"))
    }
}
