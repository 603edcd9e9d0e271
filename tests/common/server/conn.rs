//! One connection of a scripted server ([`Conn`]): numbering the steps, reading and recording
//! commands, composing and writing replies, the faults every protocol shares, and the way the
//! connection ends.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use super::{
    Action, Close, DeleteCheck, End, Fault, Flow, Protocol, Received, Shared, State, Stats, Step,
    GARBAGE, PASSWORD, USER,
};

/// What a filter made of some output.
pub struct Filtered {
    /// The bytes to send instead.
    pub bytes: Vec<u8>,
    /// Protocol lines completed (counted in [`Stats::lines_out`]).
    pub lines: usize,
    /// Close the connection after sending them.
    pub cut: bool,
}

/// Changes what a connection sends (IMAP's mutations), as it is written.
pub trait Filter: Send {
    fn apply(&mut self, bytes: &[u8]) -> Filtered;
}

/// What a connection starts with, taken from the server state when it is accepted.
pub(super) struct Accepted<P: Protocol> {
    pub number: usize,
    pub faults: Vec<P::Fault>,
    pub config: P::Config,
    pub check: Option<DeleteCheck<P::Key>>,
    pub record: bool,
}

/// Serves one accepted connection with the protocol, then closes it as the session ended.
pub(super) fn serve<P: Protocol>(
    shared: &Shared<P>,
    stream: TcpStream,
    accepted: Accepted<P>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let reader = BufReader::new(stream.try_clone()?);
    let mut conn = Conn {
        shared,
        number: accepted.number,
        faults: accepted.faults,
        config: accepted.config,
        check: accepted.check,
        record: accepted.record,
        out: stream,
        reader,
        counts: BTreeMap::new(),
        step: Step::Connect,
        pending: Vec::new(),
        rewritten: false,
        mute: false,
        filter: None,
    };
    let end = P::serve(&mut conn).err().unwrap_or(End::Done);
    match end {
        End::Done | End::Cut(Close::Fin) => {
            let _ = conn.out.shutdown(Shutdown::Write);
            drain(&mut conn.reader);
        }
        End::Cut(Close::Rst) => {
            socket2::SockRef::from(&conn.out).set_linger(Some(Duration::ZERO))?;
        }
        End::Silent => drain(&mut conn.reader),
    }
    Ok(())
}

/// Reads and discards until the client closes (or a generous time limit).
fn drain(reader: &mut BufReader<TcpStream>) {
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

/// One connection, as the protocol's session drives it.
pub struct Conn<'a, P: Protocol> {
    shared: &'a Shared<P>,
    /// The connection number (1-based).
    pub number: usize,
    faults: Vec<P::Fault>,
    /// The server's settings when the connection was accepted.
    pub config: P::Config,
    check: Option<DeleteCheck<P::Key>>,
    record: bool,
    out: TcpStream,
    reader: BufReader<TcpStream>,
    /// Commands received so far, per name.
    counts: BTreeMap<String, usize>,
    /// The step whose reply is being composed.
    step: Step,
    /// The reply being composed (written at [`Conn::commit`]).
    pending: Vec<u8>,
    /// Whether the step's reply was already replaced or extended.
    rewritten: bool,
    /// Discard everything written (the command is executed unanswered).
    pub mute: bool,
    filter: Option<Box<dyn Filter>>,
}

impl<P: Protocol> Conn<'_, P> {
    /// The server state, locked.
    pub fn state(&self) -> MutexGuard<'_, State<P>> {
        self.shared.lock()
    }

    /// Updates the counters.
    pub fn tally(&self, f: impl FnOnce(&mut Stats<P::Key>)) {
        f(&mut self.state().stats);
    }

    /// Whether the server is being dropped.
    pub fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Records client misbehaviour.
    pub fn violation(&self, what: impl AsRef<str>) {
        let what = format!("conn {}: {}", self.number, what.as_ref());
        self.tally(|s| s.violations.push(what));
    }

    // -----------------------------------------------------------------------------------------
    // Faults

    /// The faults scheduled for this connection.
    pub fn faults(&self) -> &[P::Fault] {
        &self.faults
    }

    /// The first fault `f` picks something from.
    pub fn find<T>(&self, f: impl FnMut(&P::Fault) -> Option<T>) -> Option<T> {
        self.faults.iter().find_map(f)
    }

    /// Whether a fault satisfies `pred`.
    pub fn has(&self, pred: impl FnMut(&P::Fault) -> bool) -> bool {
        self.faults.iter().any(pred)
    }

    fn actions(&self) -> impl Iterator<Item = Action<'_>> {
        self.faults.iter().filter_map(Fault::action)
    }

    /// Whether `step` is a login command.
    pub fn is_login(&self, step: &Step) -> bool {
        matches!(step, Step::Reply(name, _) if P::LOGIN.iter().any(|l| l.eq_ignore_ascii_case(name)))
    }

    /// Whether `wanted`, a step a fault names, is `actual`; after a login command, only one
    /// that `succeeded` is [`Step::Login`].
    pub fn at(&self, wanted: &Step, actual: &Step, succeeded: bool) -> bool {
        wanted.hits(actual, succeeded && self.is_login(actual))
    }

    /// The faults that strike after `step` (its reply is written first); `logged_in` when the
    /// step is a login that succeeded.
    pub fn after(&mut self, step: &Step, logged_in: bool) -> Flow {
        self.commit()?;
        for a in self.actions() {
            match a {
                Action::CutAfter(s, c) if self.at(&s, step, logged_in) => return Err(End::Cut(c)),
                Action::SilentAfter(s) if self.at(&s, step, logged_in) => return Err(End::Silent),
                _ => {}
            }
        }
        Ok(())
    }

    /// The faults that strike on receipt of `step`'s command, before it is executed.
    pub fn before(&self, step: &Step) -> Flow {
        for a in self.actions() {
            match a {
                Action::CutBefore(s, c) if self.at(&s, step, true) => return Err(End::Cut(c)),
                Action::SilentBefore(s) if self.at(&s, step, true) => return Err(End::Silent),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether garbage replaces the reply of `step`.
    pub fn garbage(&self, step: &Step) -> bool {
        self.actions()
            .any(|a| matches!(a, Action::Garbage(s) if self.at(s, step, true)))
    }

    /// The reply a fault puts in place of logging in.
    pub fn login_reply(&self) -> Option<String> {
        self.actions().find_map(|a| match a {
            Action::LoginReply(r) => Some(r.to_string()),
            _ => None,
        })
    }

    /// The fault in the `nth` message data of the connection: how many bytes to send, and how
    /// the session ends then.
    pub fn data_fault(&self, nth: usize) -> Option<(usize, End)> {
        self.actions().find_map(|a| match a {
            Action::CutInData {
                nth: n,
                after_bytes,
                close,
            } if n == nth => Some((after_bytes, End::Cut(close))),
            Action::StallInData {
                nth: n,
                after_bytes,
            } if n == nth => Some((after_bytes, End::Silent)),
            _ => None,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Steps and commands

    /// The step whose reply is being composed.
    pub fn step(&self) -> &Step {
        &self.step
    }

    /// Starts composing the reply of `step`.
    pub fn begin(&mut self, step: Step) {
        self.step = step;
        self.rewritten = false;
    }

    /// Counts a command and begins its step (named as in [`Protocol::COMMANDS`], `?` if
    /// unknown).
    pub fn command(&mut self, name: &str) -> Step {
        let n = self.counts.entry(name.to_string()).or_insert(0);
        *n += 1;
        let known = P::COMMANDS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(name))
            .copied()
            .unwrap_or("?");
        let step = Step::Reply(known, *n);
        self.begin(step.clone());
        step
    }

    /// How many commands with this name were received.
    pub fn count(&self, name: &str) -> usize {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Records a command (and how many more were queued behind it).
    pub fn record(&self, tag: &str, name: &str, line: String) {
        let queued = self.queued();
        let received = Received {
            conn: self.number,
            tag: tag.to_string(),
            name: name.to_string(),
            line,
        };
        self.tally(|s| {
            s.max_pipeline_depth = s.max_pipeline_depth.max(queued + 1);
            s.commands.push(received);
        });
    }

    // -----------------------------------------------------------------------------------------
    // Reading

    /// Reads one raw line (with its line end, at most `limit` bytes); `None` at EOF.
    pub fn read_line(&mut self, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)?;
        self.count_in(n);
        Ok((n > 0).then_some(line))
    }

    /// Reads exactly `n` bytes (a literal's data).
    pub fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut data = vec![0; n];
        self.reader.read_exact(&mut data)?;
        self.count_in(n);
        Ok(data)
    }

    /// The reader, for reads the core does not offer (they count with [`Conn::count_in`]).
    pub fn reader(&mut self) -> &mut BufReader<TcpStream> {
        &mut self.reader
    }

    /// Counts bytes received.
    pub fn count_in(&self, n: usize) {
        self.tally(|s| s.bytes_in += n);
    }

    /// Complete lines already received but not read.
    pub fn queued(&self) -> usize {
        self.reader.buffer().iter().filter(|&&b| b == b'\n').count()
    }

    /// Bytes already received but not read.
    pub fn buffered(&self) -> usize {
        self.reader.buffer().len()
    }

    /// Discards what was received but not read; returns how many bytes.
    pub fn discard_buffered(&mut self) -> usize {
        let n = self.reader.buffer().len();
        self.reader.consume(n);
        n
    }

    // -----------------------------------------------------------------------------------------
    // Writing

    /// Adds bytes to the reply being composed.
    pub fn send(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Adds a line (CRLF appended) to the reply being composed.
    pub fn send_line(&mut self, line: &str) {
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.extend_from_slice(b"\r\n");
    }

    /// Writes the reply composed so far in one write, replaced or extended as the faults of
    /// the current step say (once per step), and records it.
    pub fn commit(&mut self) -> Flow {
        let mut bytes = std::mem::take(&mut self.pending);
        if !self.rewritten {
            let step = self.step.clone();
            let mut rewritten = false;
            for a in self.actions() {
                match a {
                    Action::Replace(s, b) if self.at(s, &step, true) => {
                        bytes = b.to_vec();
                        rewritten = true;
                    }
                    Action::Append(s, b) if self.at(s, &step, true) => {
                        bytes.extend_from_slice(b);
                        rewritten = true;
                    }
                    _ => {}
                }
            }
            self.rewritten = rewritten;
        }
        if bytes.is_empty() || self.mute {
            return Ok(());
        }
        if self.record {
            let (number, step) = (self.number, self.step.clone());
            self.tally(|s| match s.replies.last_mut() {
                Some((c, st, b)) if *c == number && *st == step => b.extend_from_slice(&bytes),
                _ => s.replies.push((number, step, bytes.clone())),
            });
        }
        self.write(&bytes)
    }

    fn write(&mut self, bytes: &[u8]) -> Flow {
        let Some(filter) = self.filter.as_mut() else {
            self.tally(|s| s.bytes_out += bytes.len());
            return Ok(self.out.write_all(bytes)?);
        };
        let f = filter.apply(bytes);
        self.tally(|s| {
            s.bytes_out += f.bytes.len();
            s.lines_out += f.lines;
        });
        self.out.write_all(&f.bytes)?;
        if f.cut {
            return Err(End::Done);
        }
        Ok(())
    }

    /// Writes at once, past the reply being composed, the faults and the counters (IMAP's
    /// continuation requests, an untagged BYE instead of a reply).
    pub fn write_through(&mut self, bytes: &[u8]) -> Flow {
        Ok(self.out.write_all(bytes)?)
    }

    /// Sends everything through `filter` from now on.
    pub fn set_filter(&mut self, filter: Box<dyn Filter>) {
        self.filter = Some(filter);
    }

    /// Sends [`GARBAGE`] as the reply.
    pub fn send_garbage(&mut self) {
        self.send_line(GARBAGE);
    }

    // -----------------------------------------------------------------------------------------
    // Logins and messages

    /// Checks credentials, counting the login or the failure.
    pub fn login(&self, user: &str, password: &str) -> bool {
        let ok = user == USER && password == PASSWORD;
        self.tally(|s| {
            if ok {
                s.logins += 1
            } else {
                s.failed_logins += 1
            }
        });
        ok
    }

    /// Counts a login refused without looking at the credentials.
    pub fn refused_login(&self) {
        self.tally(|s| s.failed_logins += 1);
    }

    /// Runs the deletion check, if any, for a message about to be marked.
    pub fn check_delete(&self, k: &P::Key) -> Result<(), String> {
        match &self.check {
            Some(check) => check(k),
            None => Ok(()),
        }
    }

    /// Counts a download begun (unless muted).
    pub fn fetch_begun(&self, k: &P::Key) {
        if !self.mute {
            self.tally(|s| {
                *s.fetched.entry(k.clone()).or_insert(0) += 1;
                s.fetch_log.push(k.clone());
            });
        }
    }

    /// Counts a download sent completely (unless muted).
    pub fn fetch_done(&self, k: &P::Key) {
        if !self.mute {
            self.tally(|s| *s.fetched_whole.entry(k.clone()).or_insert(0) += 1);
        }
    }
}
