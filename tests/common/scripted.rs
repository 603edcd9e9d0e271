//! A scripted in-process POP3 server for fault injection.
//!
//! [`Scripted`] is a small but real POP3 server (RFC 1939 with CAPA and response codes from
//! RFC 2449, AUTH PLAIN from RFC 5034) listening on `127.0.0.1:0`, one thread per connection.
//! Its mailbox persists across connections and behaves like a real maildrop: DELE only marks a
//! message, and the marks take effect only when the server answers QUIT with `+OK`. A session
//! that ends any other way deletes nothing.
//!
//! Faults are scheduled per connection ([`Scripted::fault_next`], [`Scripted::fault_on`]) and
//! strike at a [`Step`] of that session: after the greeting, after the login, on receipt of or
//! after the reply to the n-th command of some keyword, or in the middle of a RETR reply.
//!
//! For transcript mutation tests, the reply to any step can be replaced by arbitrary bytes
//! ([`Fault::ReplaceReply`]) or extended ([`Fault::AppendToReply`]) while the command still takes
//! effect, and the replies sent can be recorded ([`Config::record_replies`]). Every reply is
//! written to the socket in one write.
//!
//! With `UTF8` among its capabilities the server implements RFC 6856's `UTF8` command (after
//! login): until it was accepted, messages that have a [`Message::wrapped`] form are sent in that
//! form, as a server that protects old clients from 8-bit headers does.
//!
//! The server also checks the client: every command line must be well formed (CRLF, at most
//! 255 octets, a known keyword with single-space separated printable arguments), valid in the
//! session state, about an existing, undeleted message, and not pipelined unless PIPELINING was
//! advertised. Violations are collected in [`Stats::violations`]; tests assert there are none.
//! An optional [`DeleCheck`] runs at every DELE so a test can verify that the message is
//! already delivered when the client asks for its deletion.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The only user the server knows.
pub const USER: &str = "alice";
/// Her password.
pub const PASSWORD: &str = "secret";
/// The line sent by [`Fault::GarbageAt`].
pub const GARBAGE: &str = "HELLO WORLD";

/// The capabilities of a modern server: USER/PASS and SASL PLAIN, UIDL, pipelining, codes.
pub const CAPA_FULL: &[&str] = &["USER", "UIDL", "PIPELINING", "SASL PLAIN", "RESP-CODES"];
/// A minimal server: USER/PASS only, no pipelining (one command at a time).
pub const CAPA_MINIMAL: &[&str] = &["USER", "UIDL", "RESP-CODES"];

/// How a cut connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// An orderly close: shutdown, then the server reads and discards until the client closes
    /// (so that unread pipelined commands do not turn the close into a reset).
    Fin,
    /// An abortive close: `SO_LINGER` 0 and drop, which sends a TCP reset.
    Rst,
}

/// A point in one POP3 session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The connection was accepted; nothing has been sent yet.
    Connect,
    /// The greeting (as the point after which, or the reply that is replaced).
    Greeting,
    /// The reply to a successful login (PASS or AUTH).
    Auth,
    /// The reply to the n-th (1-based) command with this keyword (e.g. `("DELE", 2)`) in the
    /// connection. The keyword is case-insensitive.
    Reply(&'static str, usize),
}

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
    /// Send these bytes instead of the reply of the step ([`Step::Greeting`], [`Step::Auth`]
    /// for the reply to PASS or AUTH, or a [`Step::Reply`]); the command itself still takes
    /// effect (a DELE marks, QUIT commits).
    ReplaceReply(Step, Vec<u8>),
    /// Send these bytes right after the reply of the step, in the same write.
    AppendToReply(Step, Vec<u8>),
    /// Answer `UTF8` with this line (no CRLF) instead of `+OK`; UTF-8 mode stays off unless it
    /// starts with `+OK`.
    Utf8Reply(String),
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

/// Called at every DELE with the message about to be marked; an `Err` becomes a violation.
pub type DeleCheck = Arc<dyn Fn(&Message) -> Result<(), String> + Send + Sync>;

/// Server settings.
#[derive(Clone)]
pub struct Config {
    /// The CAPA lines, e.g. [`CAPA_FULL`]. Advertising `STLS` makes STLS answer `-ERR` (it is
    /// never implemented here).
    pub capa: Vec<String>,
    /// Put an APOP timestamp in the greeting.
    pub apop_timestamp: bool,
    /// Run at every DELE (see [`DeleCheck`]).
    pub dele_check: Option<DeleCheck>,
    /// Discard whatever arrived in the same read as PASS or AUTH (some servers do), and count
    /// it as a violation.
    pub discard_after_login: bool,
    /// Record every reply sent in [`Stats::replies`].
    pub record_replies: bool,
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
            dele_check: None,
            discard_after_login: false,
            record_replies: false,
        }
    }

    fn has_capa(&self, name: &str) -> bool {
        self.capa.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// A command line the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The connection number (1-based).
    pub conn: usize,
    /// The line without its line end.
    pub line: String,
}

impl Received {
    /// The upper-cased keyword.
    pub fn keyword(&self) -> String {
        self.line
            .split(' ')
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    }
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
    /// RETR commands received, per unique id (including cut and refused ones).
    pub retr: BTreeMap<String, usize>,
    /// RETR replies sent completely (with the terminating `.`), per unique id.
    pub retr_complete: BTreeMap<String, usize>,
    /// DELE commands answered `+OK`, per unique id.
    pub dele: BTreeMap<String, usize>,
    /// Unique ids removed by a committed QUIT, in order.
    pub expunged: Vec<String>,
    /// Every command line, in order (AUTH continuation lines are not included).
    pub commands: Vec<Received>,
    /// Client misbehaviour (malformed or misplaced commands, illegal pipelining, DELE check
    /// failures).
    pub violations: Vec<String>,
    /// The most command lines seen queued at once (1 = no pipelining).
    pub max_pipeline_depth: usize,
    /// With [`Config::record_replies`]: every reply sent, with its connection and step, in
    /// order.
    pub replies: Vec<(usize, Step, Vec<u8>)>,
}

impl Stats {
    /// RETR count of a unique id.
    pub fn retr_of(&self, uidl: &str) -> usize {
        self.retr.get(uidl).copied().unwrap_or(0)
    }

    /// DELE count of a unique id.
    pub fn dele_of(&self, uidl: &str) -> usize {
        self.dele.get(uidl).copied().unwrap_or(0)
    }

    /// Commands with this keyword (upper case).
    pub fn commands_with(&self, keyword: &str) -> Vec<&Received> {
        self.commands
            .iter()
            .filter(|c| c.keyword() == keyword)
            .collect()
    }

    /// What happened between an earlier snapshot and this one.
    pub fn since(&self, before: &Stats) -> Stats {
        let diff = |a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>| {
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
            retr: diff(&self.retr, &before.retr),
            retr_complete: diff(&self.retr_complete, &before.retr_complete),
            dele: diff(&self.dele, &before.dele),
            expunged: self.expunged[before.expunged.len()..].to_vec(),
            commands: self.commands[before.commands.len()..].to_vec(),
            violations: self.violations[before.violations.len()..].to_vec(),
            max_pipeline_depth: self.max_pipeline_depth,
            replies: self.replies[before.replies.len()..].to_vec(),
        }
    }
}

struct State {
    config: Config,
    mailbox: Vec<Message>,
    faults: BTreeMap<usize, Vec<Fault>>,
    active: usize,
    stats: Stats,
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
pub struct Scripted {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Scripted {
    /// Starts a server with [`Config::default`] serving these messages.
    pub fn start(messages: Vec<Message>) -> Scripted {
        Scripted::with_config(Config::default(), messages)
    }

    /// Starts a server.
    pub fn with_config(config: Config, messages: Vec<Message>) -> Scripted {
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind scripted POP3 server");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                config,
                mailbox: messages,
                faults: BTreeMap::new(),
                active: 0,
                stats: Stats::default(),
            }),
            idle: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        thread::spawn(move || accept_loop(listener, sh));
        Scripted { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `pop3://alice@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("pop3://{USER}@127.0.0.1:{}", self.port())
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

    /// Installs a check run at every DELE.
    pub fn set_dele_check(&self, check: DeleCheck) {
        self.shared.lock().config.dele_check = Some(check);
    }

    /// The committed mailbox.
    pub fn mailbox(&self) -> Vec<Message> {
        self.shared.lock().mailbox.clone()
    }

    /// Unique ids of the committed mailbox, in order.
    pub fn uidls(&self) -> Vec<String> {
        self.mailbox().into_iter().map(|m| m.uidl).collect()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Waits until no connection is being served (e.g. after the client exited, so that the
    /// server has seen everything it sent). Panics after `limit`.
    pub fn wait_idle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.lock();
        while st.active > 0 {
            let now = Instant::now();
            assert!(now < deadline, "scripted server still busy after {limit:?}");
            st = self
                .shared
                .idle
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
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
    /// The client left or QUIT was answered: close normally.
    Done,
    Cut(Close),
    Silent,
}

type Flow = Result<(), End>;

impl From<io::Error> for End {
    /// A write or read failure ends the session; a [`FaultEnd`] carries a fault's ending.
    fn from(e: io::Error) -> End {
        match e.into_inner().map(|inner| inner.downcast::<FaultEnd>()) {
            Some(Ok(fault)) => fault.0,
            _ => End::Done,
        }
    }
}

fn serve(shared: &Shared, stream: TcpStream, conn: usize, faults: Vec<Fault>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let reader = BufReader::new(stream.try_clone()?);
    let config = shared.lock().config.clone();
    let mut s = Session {
        shared,
        conn,
        faults,
        config,
        out: stream,
        reader,
        counts: BTreeMap::new(),
        user: None,
        maildrop: None,
        pending: Vec::new(),
        step: Step::Connect,
        transformed: false,
        utf8: false,
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

/// Reads and discards until the client closes (or a generous time limit). Also used by
/// [`super::scripted_imap`].
pub fn drain(reader: &mut BufReader<TcpStream>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(_) => return,
        }
    }
}

/// The transaction state of a logged-in session.
struct Maildrop {
    /// The mailbox at login; message number n is `messages[n - 1]`.
    messages: Vec<Message>,
    deleted: Vec<bool>,
}

struct Session<'a> {
    shared: &'a Shared,
    conn: usize,
    faults: Vec<Fault>,
    config: Config,
    out: TcpStream,
    reader: BufReader<TcpStream>,
    /// Commands received so far in this connection, per upper-case keyword.
    counts: BTreeMap<String, usize>,
    /// The name given to USER.
    user: Option<String>,
    /// Set once logged in.
    maildrop: Option<Maildrop>,
    /// The reply being composed (written at [`Session::commit`], in one write).
    pending: Vec<u8>,
    /// The step whose reply is being composed.
    step: Step,
    /// Whether a [`Fault::ReplaceReply`] or [`Fault::AppendToReply`] of `step` was applied.
    transformed: bool,
    /// UTF-8 mode (RFC 6856) is on.
    utf8: bool,
}

impl Session<'_> {
    fn run(&mut self) -> Flow {
        self.after(&Step::Connect)?;
        let greeting_err = self.faults.iter().find_map(|f| match f {
            Fault::GreetingErr(line) => Some(line.clone()),
            _ => None,
        });
        self.begin(Step::Greeting);
        if let Some(line) = greeting_err {
            self.send_line(&line)?;
            self.commit()?;
            return Err(End::Done);
        }
        if self.has(|f| *f == Fault::GarbageAt(Step::Greeting)) {
            self.send_line(GARBAGE)?;
            self.commit()?;
            return Err(End::Done);
        }
        let greeting = if self.config.apop_timestamp {
            format!(
                "+OK POP3 scripted ready <{}.{}@scripted.test>",
                std::process::id(),
                self.conn
            )
        } else {
            "+OK POP3 scripted ready".to_string()
        };
        self.send_line(&greeting)?;
        self.after(&Step::Greeting)?;
        loop {
            let Some(line) = self.read_command()? else {
                return Ok(());
            };
            self.command(&line)?;
        }
    }

    fn has(&self, pred: impl Fn(&Fault) -> bool) -> bool {
        self.faults.iter().any(pred)
    }

    /// Starts composing the reply of `step`.
    fn begin(&mut self, step: Step) {
        self.step = step;
        self.transformed = false;
    }

    /// Writes the reply composed so far in one write, replaced or extended as the faults of the
    /// current step say (once per step), and records it.
    fn commit(&mut self) -> io::Result<()> {
        let mut bytes = std::mem::take(&mut self.pending);
        if !self.transformed {
            for f in &self.faults {
                match f {
                    Fault::ReplaceReply(s, b) if reply_of(s, &self.step) => {
                        bytes = b.clone();
                        self.transformed = true;
                    }
                    Fault::AppendToReply(s, b) if reply_of(s, &self.step) => {
                        bytes.extend_from_slice(b);
                        self.transformed = true;
                    }
                    _ => {}
                }
            }
        }
        if bytes.is_empty() {
            return Ok(());
        }
        if self.config.record_replies {
            let mut st = self.shared.lock();
            match st.stats.replies.last_mut() {
                Some((conn, step, b)) if *conn == self.conn && *step == self.step => {
                    b.extend_from_slice(&bytes)
                }
                _ => st
                    .stats
                    .replies
                    .push((self.conn, self.step.clone(), bytes.clone())),
            }
        }
        self.out.write_all(&bytes)
    }

    /// Applies the faults that strike after `step` (its reply is written first).
    fn after(&mut self, step: &Step) -> Flow {
        self.commit()?;
        for f in &self.faults {
            let cut = match f {
                Fault::CutAfterGreeting(c) => (*step == Step::Greeting).then_some(*c),
                Fault::CutAfterAuth(c) => (*step == Step::Auth).then_some(*c),
                Fault::CutAfterDele { k, close } => step_is(step, "DELE", *k).then_some(*close),
                Fault::CutAfterQuitReply(c) => step_is(step, "QUIT", 1).then_some(*c),
                Fault::CutAfter(s, c) => steps_match(s, step).then_some(*c),
                Fault::SilentAfter(s) if steps_match(s, step) => return Err(End::Silent),
                _ => None,
            };
            if let Some(c) = cut {
                return Err(End::Cut(c));
            }
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

    /// Adds a line to the reply being composed.
    fn send_line(&mut self, line: &str) -> io::Result<()> {
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Adds bytes to the reply being composed.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    /// Reads one raw line (with its line end); `None` at EOF.
    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let n = (&mut self.reader).take(4096).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(line))
    }

    /// Reads and checks the next command line; records it. `None` at EOF.
    fn read_command(&mut self) -> io::Result<Option<String>> {
        let Some(raw) = self.read_line()? else {
            return Ok(None);
        };
        // Lines still queued behind this one were sent before our reply to it.
        let queued = self.reader.buffer().iter().filter(|&&b| b == b'\n').count();
        let pending_bytes = !self.reader.buffer().is_empty();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let line = text.trim_end_matches(['\r', '\n']).to_string();
        let mut problems = Vec::new();
        if !raw.ends_with(b"\r\n") {
            problems.push("not terminated by CRLF".to_string());
        }
        if raw.len() > 255 {
            problems.push(format!("{} octets long (max 255)", raw.len()));
        }
        if line.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
            problems.push("contains non-printable bytes".to_string());
        }
        if line.contains("  ") || line.ends_with(' ') || line.starts_with(' ') {
            problems.push("bad spacing".to_string());
        }
        let keyword = line.split(' ').next().unwrap_or("");
        // Keywords are three or four characters (RFC 2449 §3); RFC 6856's UTF8 has a digit.
        if !(3..=4).contains(&keyword.len()) || !keyword.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            problems.push(format!("bad keyword {keyword:?}"));
        }
        if pending_bytes && !self.config.has_capa("PIPELINING") {
            problems.push("pipelined although PIPELINING was not advertised".to_string());
        }
        let mut st = self.shared.lock();
        st.stats.max_pipeline_depth = st.stats.max_pipeline_depth.max(queued + 1);
        st.stats.commands.push(Received {
            conn: self.conn,
            line: line.clone(),
        });
        for p in problems {
            st.stats.violations.push(format!(
                "conn {}: command {:?}: {p}",
                self.conn,
                redact(&line)
            ));
        }
        Ok(Some(line))
    }

    fn command(&mut self, line: &str) -> Flow {
        let mut words = line.split(' ');
        let keyword = words.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        let nth = {
            let n = self.counts.entry(keyword.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let step = Step::Reply(keyword_static(&keyword), nth);
        self.begin(step.clone());
        for f in &self.faults {
            let cut_before = match f {
                Fault::CutBeforeQuitReply(c) => step_is(&step, "QUIT", 1).then_some(*c),
                Fault::CutBefore(s, c) => steps_match(s, &step).then_some(*c),
                _ => None,
            };
            if let Some(c) = cut_before {
                return Err(End::Cut(c));
            }
        }
        let login_cmd = matches!(keyword.as_str(), "PASS" | "AUTH") && self.maildrop.is_none();
        let result = self.dispatch(line, &keyword, &args, &step, login_cmd);
        // The reply goes out whatever happened (a fault may end the session after it).
        let written = self.commit();
        result?;
        written?;
        if login_cmd && self.config.discard_after_login {
            let extra = self.reader.buffer().len();
            if extra > 0 {
                self.violation(format!(
                    "{extra} bytes arrived with {keyword} and were discarded"
                ));
                self.reader.consume(extra);
            }
        }
        self.after(&step)
    }

    fn dispatch(
        &mut self,
        line: &str,
        keyword: &str,
        args: &[&str],
        step: &Step,
        login_cmd: bool,
    ) -> Flow {
        let garbage = self.faults.iter().any(|f| match f {
            Fault::GarbageAt(Step::Auth) => login_cmd,
            Fault::GarbageAt(s) => steps_match(s, step),
            _ => false,
        });
        if garbage {
            self.send_line(GARBAGE)?;
            if keyword == "QUIT" {
                return Err(End::Done);
            }
            return Ok(());
        }
        match (keyword, self.maildrop.is_some()) {
            ("CAPA", _) => self.capa(args)?,
            ("QUIT", false) => {
                self.send_line("+OK bye")?;
                return Err(End::Done);
            }
            ("QUIT", true) => return self.quit(args),
            ("NOOP", true) => self.simple(args, "+OK")?,
            ("USER", false) => self.user(args)?,
            ("PASS", false) => self.pass(line)?,
            ("AUTH", false) => self.auth(args)?,
            ("STLS", false) if self.config.has_capa("STLS") => {
                self.send_line("-ERR STLS is not available on this scripted server")?
            }
            ("APOP", false) => self.send_line("-ERR APOP not supported")?,
            ("STAT", true) => self.stat(args)?,
            ("LIST", true) => self.listing(args, false)?,
            ("UIDL", true) => self.listing(args, true)?,
            ("RETR", true) => self.retr(args)?,
            ("DELE", true) => self.dele(args)?,
            ("RSET", true) => {
                if let Some(md) = self.maildrop.as_mut() {
                    md.deleted.iter_mut().for_each(|d| *d = false);
                }
                self.simple(args, "+OK")?
            }
            ("UTF8", true) if self.config.has_capa("UTF8") => self.utf8_command(args)?,
            (k, logged_in) => {
                let state = if logged_in {
                    "TRANSACTION"
                } else {
                    "AUTHORIZATION"
                };
                self.violation(format!("{k} is not valid in the {state} state"));
                self.send_line("-ERR unknown command or wrong state")?
            }
        }
        Ok(())
    }

    /// RFC 6856 `UTF8`.
    fn utf8_command(&mut self, args: &[&str]) -> io::Result<()> {
        if !args.is_empty() {
            self.violation(format!("UTF8 with arguments {args:?}"));
        }
        let reply = self
            .faults
            .iter()
            .find_map(|f| match f {
                Fault::Utf8Reply(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "+OK UTF-8 mode enabled".to_string());
        if reply.starts_with("+OK") {
            self.utf8 = true;
        }
        self.send_line(&reply)
    }

    fn simple(&mut self, args: &[&str], reply: &str) -> io::Result<()> {
        if !args.is_empty() {
            self.violation(format!("unexpected arguments {args:?}"));
        }
        self.send_line(reply)
    }

    fn capa(&mut self, args: &[&str]) -> io::Result<()> {
        if !args.is_empty() {
            self.violation(format!("CAPA with arguments {args:?}"));
        }
        let mut out = String::from("+OK capability list follows\r\n");
        for c in &self.config.capa {
            out.push_str(c);
            out.push_str("\r\n");
        }
        out.push_str(".\r\n");
        self.send(out.as_bytes())
    }

    fn user(&mut self, args: &[&str]) -> io::Result<()> {
        if args.len() != 1 {
            self.violation(format!("USER with {} arguments", args.len()));
        }
        self.user = args.first().map(|s| s.to_string());
        self.send_line("+OK send PASS")
    }

    fn login_fault(&self) -> Option<String> {
        self.faults.iter().find_map(|f| match f {
            Fault::LoginReply(r) => Some(r.clone()),
            _ => None,
        })
    }

    fn pass(&mut self, line: &str) -> Flow {
        // The password is everything after "PASS " (it may contain spaces).
        let password = line.get(5..).unwrap_or("");
        let Some(user) = self.user.take() else {
            self.violation("PASS without USER".to_string());
            self.send_line("-ERR USER first")?;
            return Ok(());
        };
        self.finish_login(&user, password)
    }

    fn auth(&mut self, args: &[&str]) -> Flow {
        let Some(mech) = args.first() else {
            self.send_line("+OK methods follow")?;
            self.send(b"PLAIN\r\n.\r\n")?;
            return Ok(());
        };
        if !mech.eq_ignore_ascii_case("PLAIN") || !self.config.has_capa("SASL PLAIN") {
            self.violation(format!("AUTH {mech} although not advertised"));
            self.send_line("-ERR unsupported mechanism")?;
            return Ok(());
        }
        if args.len() > 2 {
            self.violation(format!("AUTH with {} arguments", args.len()));
        }
        let response = match args.get(1) {
            Some(r) => r.to_string(),
            None => {
                self.send(b"+ \r\n")?;
                self.commit()?;
                let Some(raw) = self.read_line()? else {
                    return Err(End::Done);
                };
                if !raw.ends_with(b"\r\n") {
                    self.violation("AUTH continuation not terminated by CRLF".to_string());
                }
                String::from_utf8_lossy(&raw)
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            }
        };
        if response == "*" {
            self.send_line("-ERR authentication cancelled")?;
            return Ok(());
        }
        let decoded = if response == "=" {
            Some(Vec::new())
        } else {
            base64_decode(&response)
        };
        let Some(decoded) = decoded else {
            self.violation("AUTH PLAIN response is not valid base64".to_string());
            self.send_line("-ERR invalid base64")?;
            return Ok(());
        };
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        if parts.len() != 3 {
            self.violation("AUTH PLAIN response is not authzid NUL authcid NUL passwd".to_string());
            self.send_line("-ERR malformed PLAIN response")?;
            return Ok(());
        }
        let authzid = String::from_utf8_lossy(parts[0]).into_owned();
        let user = String::from_utf8_lossy(parts[1]).into_owned();
        let password = String::from_utf8_lossy(parts[2]).into_owned();
        if !authzid.is_empty() && authzid != user {
            self.send_line("-ERR [AUTH] not authorized")?;
            return Ok(());
        }
        self.finish_login(&user, &password)
    }

    fn finish_login(&mut self, user: &str, password: &str) -> Flow {
        if let Some(reply) = self.login_fault() {
            self.shared.lock().stats.failed_logins += 1;
            self.send_line(&reply)?;
            return Ok(());
        }
        if user != USER || password != PASSWORD {
            self.shared.lock().stats.failed_logins += 1;
            self.send_line("-ERR [AUTH] invalid user name or password")?;
            return Ok(());
        }
        let messages = {
            let mut st = self.shared.lock();
            st.stats.logins += 1;
            st.mailbox.clone()
        };
        let n = messages.len();
        self.maildrop = Some(Maildrop {
            messages,
            deleted: vec![false; n],
        });
        self.send_line(&format!("+OK {user} has {n} messages"))?;
        self.after(&Step::Auth)
    }

    /// Parses a message number argument; answers `-ERR` (and records a violation) if it is
    /// not an existing, undeleted message.
    fn message_arg(&mut self, keyword: &str, arg: Option<&str>) -> io::Result<Option<usize>> {
        let md = self.maildrop.as_ref().expect("logged in");
        let n = arg.and_then(|a| {
            (!a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                .then(|| a.parse::<usize>().ok())
                .flatten()
        });
        let problem = match n {
            None => Some(format!("{keyword} with bad message number {arg:?}")),
            Some(n) if n == 0 || n > md.messages.len() => {
                Some(format!("{keyword} {n}: no such message"))
            }
            Some(n) if md.deleted[n - 1] => Some(format!("{keyword} {n}: message is deleted")),
            Some(_) => None,
        };
        if let Some(p) = problem {
            self.violation(p);
            self.send_line("-ERR no such message")?;
            return Ok(None);
        }
        Ok(n)
    }

    fn stat(&mut self, args: &[&str]) -> io::Result<()> {
        let md = self.maildrop.as_ref().expect("logged in");
        let live: Vec<usize> = (1..=md.messages.len())
            .filter(|n| !md.deleted[n - 1])
            .collect();
        let size: u64 = live.iter().map(|&n| self.reported_size(n)).sum();
        let count = live.len();
        self.simple(args, &format!("+OK {count} {size}"))
    }

    /// The n-th message's size as reported by LIST and STAT (see [`Fault::ListSizeSkew`]).
    fn reported_size(&self, n: usize) -> u64 {
        let md = self.maildrop.as_ref().expect("logged in");
        let skew = self
            .faults
            .iter()
            .find_map(|f| match f {
                Fault::ListSizeSkew(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(0);
        let m = &md.messages[n - 1];
        let stored = m.wrapped.as_ref().unwrap_or(&m.raw);
        (stored.len() as i64 + skew).max(0) as u64
    }

    /// The n-th message's unique id as reported by UIDL (see [`Fault::DuplicateUidl`]).
    fn reported_uidl(&self, n: usize) -> String {
        let md = self.maildrop.as_ref().expect("logged in");
        if n == 2 && self.has(|f| *f == Fault::DuplicateUidl) {
            return md.messages[0].uidl.clone();
        }
        md.messages[n - 1].uidl.clone()
    }

    /// LIST or UIDL, with or without an argument.
    fn listing(&mut self, args: &[&str], uidl: bool) -> io::Result<()> {
        let keyword = if uidl { "UIDL" } else { "LIST" };
        let item = |s: &Self, n: usize| {
            if uidl {
                format!("{n} {}", s.reported_uidl(n))
            } else {
                format!("{n} {}", s.reported_size(n))
            }
        };
        if args.len() > 1 {
            self.violation(format!("{keyword} with {} arguments", args.len()));
        }
        if let Some(arg) = args.first() {
            if let Some(n) = self.message_arg(keyword, Some(arg))? {
                let line = format!("+OK {}", item(self, n));
                self.send_line(&line)?;
            }
            return Ok(());
        }
        let md = self.maildrop.as_ref().expect("logged in");
        let mut out = String::from("+OK listing follows\r\n");
        for n in 1..=md.messages.len() {
            if !md.deleted[n - 1] {
                out.push_str(&item(self, n));
                out.push_str("\r\n");
            }
        }
        if self.has(|f| *f == Fault::UnterminatedMultiline(keyword_static(keyword))) {
            self.send(out.as_bytes())?;
            return Err(io::Error::other(FaultEnd(End::Cut(Close::Fin))));
        }
        out.push_str(".\r\n");
        self.send(out.as_bytes())
    }

    fn retr(&mut self, args: &[&str]) -> io::Result<()> {
        if args.len() != 1 {
            self.violation(format!("RETR with {} arguments", args.len()));
        }
        let Some(n) = self.message_arg("RETR", args.first().copied())? else {
            return Ok(());
        };
        let msg = self.maildrop.as_ref().expect("logged in").messages[n - 1].clone();
        *self
            .shared
            .lock()
            .stats
            .retr
            .entry(msg.uidl.clone())
            .or_insert(0) += 1;
        let nth = self.counts["RETR"];
        if self.has(|f| matches!(f, Fault::RetrErr { uidl } if *uidl == msg.uidl)) {
            return self.send_line("-ERR message is unavailable");
        }
        let raw = match &msg.wrapped {
            Some(w) if !self.utf8 => w,
            _ => &msg.raw,
        };
        let data = wire_data(raw);
        let head = format!("+OK {} octets\r\n", raw.len());
        for f in &self.faults {
            let (cut_at, how) = match f {
                Fault::CutInRetr {
                    nth: k,
                    after_bytes,
                    close,
                } if *k == nth => (*after_bytes, End::Cut(*close)),
                Fault::StallInRetr {
                    nth: k,
                    after_bytes,
                } if *k == nth => (*after_bytes, End::Silent),
                Fault::UnterminatedMultiline(k) if k.eq_ignore_ascii_case("RETR") => {
                    (usize::MAX, End::Cut(Close::Fin))
                }
                _ => continue,
            };
            let mut wire = data;
            wire.extend_from_slice(b".\r\n");
            let cut_at = if cut_at == usize::MAX {
                wire.len() - 3
            } else {
                cut_at.min(wire.len() - 1)
            };
            let mut out = head.into_bytes();
            out.extend_from_slice(&wire[..cut_at]);
            self.send(&out)?;
            return Err(io::Error::other(FaultEnd(how)));
        }
        let mut out = Vec::with_capacity(head.len() + data.len() + 3);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&data);
        out.extend_from_slice(b".\r\n");
        self.send(&out)?;
        *self
            .shared
            .lock()
            .stats
            .retr_complete
            .entry(msg.uidl)
            .or_insert(0) += 1;
        Ok(())
    }

    fn dele(&mut self, args: &[&str]) -> io::Result<()> {
        if args.len() != 1 {
            self.violation(format!("DELE with {} arguments", args.len()));
        }
        let Some(n) = self.message_arg("DELE", args.first().copied())? else {
            return Ok(());
        };
        let msg = self.maildrop.as_ref().expect("logged in").messages[n - 1].clone();
        if self.has(|f| matches!(f, Fault::DeleErr { uidl } if *uidl == msg.uidl)) {
            return self.send_line("-ERR cannot delete this message now");
        }
        if let Some(check) = self.config.dele_check.clone() {
            if let Err(e) = check(&msg) {
                self.violation(format!("DELE {n} ({}): {e}", msg.uidl));
            }
        }
        self.maildrop.as_mut().expect("logged in").deleted[n - 1] = true;
        *self.shared.lock().stats.dele.entry(msg.uidl).or_insert(0) += 1;
        self.send_line("+OK marked for deletion")
    }

    fn quit(&mut self, args: &[&str]) -> Flow {
        if !args.is_empty() {
            self.violation(format!("QUIT with arguments {args:?}"));
        }
        let md = self.maildrop.take().expect("logged in");
        let quit_err = self.faults.iter().find_map(|f| match f {
            Fault::QuitErr(line) => Some(line.clone()),
            _ => None,
        });
        if let Some(line) = quit_err {
            self.send_line(&line)?;
            return Err(End::Done);
        }
        let gone: Vec<String> = md
            .messages
            .iter()
            .zip(&md.deleted)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m.uidl.clone())
            .collect();
        {
            let mut st = self.shared.lock();
            st.mailbox.retain(|m| !gone.contains(&m.uidl));
            st.stats.expunged.extend(gone.iter().cloned());
        }
        let remaining = md.messages.len() - gone.len();
        self.send_line(&format!("+OK {} deleted, {remaining} left", gone.len()))?;
        self.after(&Step::Reply("QUIT", 1))?;
        Err(End::Done)
    }
}

/// Carries a fault's ending through an `io::Error` (from the RETR/listing writers).
#[derive(Debug)]
struct FaultEnd(End);

impl std::fmt::Display for FaultEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault")
    }
}

impl std::error::Error for FaultEnd {}

fn step_is(step: &Step, keyword: &str, nth: usize) -> bool {
    matches!(step, Step::Reply(k, n) if k.eq_ignore_ascii_case(keyword) && *n == nth)
}

/// Whether the reply being composed for `actual` is the reply of `wanted` ([`Step::Auth`]: the
/// reply to PASS or AUTH).
fn reply_of(wanted: &Step, actual: &Step) -> bool {
    match (wanted, actual) {
        (Step::Auth, Step::Reply(k, _)) => {
            k.eq_ignore_ascii_case("PASS") || k.eq_ignore_ascii_case("AUTH")
        }
        _ => steps_match(wanted, actual),
    }
}

fn steps_match(wanted: &Step, actual: &Step) -> bool {
    match (wanted, actual) {
        (Step::Reply(k1, n1), Step::Reply(k2, n2)) => k1.eq_ignore_ascii_case(k2) && n1 == n2,
        (a, b) => a == b,
    }
}

/// The few keywords the server knows, as `&'static str` (for [`Step::Reply`]).
fn keyword_static(k: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "CAPA", "USER", "PASS", "AUTH", "APOP", "STLS", "STAT", "LIST", "UIDL", "RETR", "DELE",
        "NOOP", "RSET", "QUIT", "TOP",
    ];
    KNOWN
        .iter()
        .find(|x| x.eq_ignore_ascii_case(k))
        .copied()
        .unwrap_or("?")
}

/// Hides credentials in a command line for violation messages.
fn redact(line: &str) -> String {
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("PASS ") || upper.starts_with("AUTH ") {
        format!("{} <redacted>", &line[..4])
    } else {
        line.to_string()
    }
}

/// Decodes standard base64 (with padding); `None` if invalid.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * pad as u32;
        let b = acc.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

/// Encodes standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut b = [0u8; 3];
        b[..chunk.len()].copy_from_slice(chunk);
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
