//! mbox delivery, in the mboxrd flavour (appending to one file shared with mail readers and
//! other delivery agents).
//!
//! # Format
//!
//! Each message is preceded by `From SENDER DATE\n`, where SENDER is the envelope sender taken
//! from the message's `Return-Path:` header (angle brackets stripped; `MAILER-DAEMON` when the
//! header is absent or `<>`) and DATE is the delivery time in UTC in `asctime` form
//! (`Mon Jan  1 00:00:00 2024`). Every line matching `^>*From ` gets one more `>` (mboxrd
//! quoting, which a reader reverses exactly). The message ends with its own final newline (one
//! is added if it has none) followed by one empty line. Only the header block, at most 64 KiB,
//! is buffered to find `Return-Path:`; the rest is streamed and quoted by a small state machine
//! that carries at most five bytes across buffer boundaries. The same encoder (`write_mboxrd`)
//! serves the stdout target.
//!
//! # Delivery, durability and locking
//!
//! [`Deliver::deliver`] does not touch the mbox: it encodes the message into a private
//! *staging file* next to it (`.NAME.mailpull-stage.TOKEN` for an mbox named NAME, mode 0600),
//! remembering the message's offset, length and SHA-256 there. [`Deliver::sync`] then appends
//! the whole batch:
//!
//! 1. take the dotlock `PATH.lock` (created with `O_EXCL`) and then an fcntl write lock on the
//!    freshly opened mbox (so mutt, procmail and Dovecot, which use both, are excluded);
//! 2. note the mbox length `START` (and whether a `\n` must be added because the file does not
//!    end with one);
//! 3. append an *intent* to the journal `.NAME.mailpull-journal` — one `B` line for the batch
//!    and one `M` line per message: its location, absolute offset, length and SHA-256 — and
//!    fsync the journal;
//! 4. append the staged bytes to the mbox and fsync it (on any error the mbox is truncated
//!    back to `START` and fsynced, so it never keeps a partial message);
//! 5. append a `C` (commit) line to the journal and fsync it;
//! 6. release both locks.
//!
//! The locks are therefore held only while one batch is copied and fsynced — never while a
//! message is being downloaded, so a slow server does not keep a mail reader waiting. A dotlock
//! older than five minutes, or naming a process of this host that no longer exists, is stale
//! and removed. If the fcntl lock is busy, the dotlock is released before retrying, so a program
//! taking the two locks in the other order cannot deadlock with us. Both are retried with
//! backoff until a timeout (one minute by default), then a clear error is returned.
//!
//! # Recovery: why a kill at any instant neither loses nor doubles a message
//!
//! Locations are `TOKENQn` (TOKEN is unique per [`Mbox`] value: time, pid and a counter).
//! [`Deliver::recover`] reads the journal:
//!
//! - The location has no `M` line: the batch never reached step 3, and nothing of it was
//!   written to the mbox (the mbox is written only after the intent is durable) → `Missing`.
//! - Its batch has a `C` line: the data was fsynced before the commit line was written →
//!   `Delivered`, whatever the user has done with the mailbox since.
//! - Its batch has no `C` line (killed during steps 3–5): under the locks, each message of the
//!   batch is looked up at its recorded offset; if the bytes there have the recorded length and
//!   SHA-256, the message is completely in the mbox → `Delivered` (after an fsync); otherwise →
//!   `Missing`. Bytes left after the last complete message are removed (truncated) only if they
//!   are, byte for byte, a prefix of what the staging file says we were writing; anything else
//!   (another program appended after the crash) is left alone with a warning, because removing
//!   another program's mail would be a loss.
//!
//! So a message is `Delivered` only if it is completely in the mbox, and when it is complete it
//! is found (it was either committed or is at its recorded offset), so it is not fetched twice.
//! The one residual case: killed during steps 4–5 *and* the mailbox rewritten by a mail reader
//! before the next run (so offsets moved): the message is fetched again (a duplicate, never a
//! loss).
//!
//! The journal is compacted when it grows beyond 1 MiB: batches older than 14 days are dropped,
//! and then the oldest batches until it is under 512 KiB (several thousand messages). A
//! committed batch is needed only if the process was killed between the commit and the
//! ledger's own commit, and the next run of that account recovers it first thing; it could be
//! compacted away only if that run comes after 14 days or after thousands of other deliveries
//! into the same mbox (the message would then be fetched again — a duplicate, never a loss).
//!
//! Staged but unsynced messages are discarded when the [`Mbox`] is dropped (they were never in
//! the mbox, and the ledger does not consider them delivered). The journal and staging files
//! start with a dot so that mail readers listing the directory as folders do not show them;
//! recovery removes the staging file of a resolved run, and [`Mbox::open`] removes empty ones
//! left by processes that no longer exist. Files are created with mode 0600,
//! a missing parent directory with mode 0700. Flock is not taken (on Linux it is independent of
//! fcntl locks; the MTAs and readers that matter take a dotlock or fcntl lock); dotlocks are
//! created with `O_EXCL`, which is safe on local file systems and NFSv3+.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{fcntl_lock, FlockOperation};
use rustix::io::Errno;
use rustix::process::{test_kill_process, Pid};
use sha2::{Digest, Sha256};

use super::{Deliver, DeliverError, MessageInfo, Recovered};

/// The size of copy buffers.
const BUFFER_SIZE: usize = 64 * 1024;
/// At most this much of a message's head is buffered to find its `Return-Path:`.
pub(crate) const HEAD_LIMIT: usize = 64 * 1024;
/// A [`Spool`] keeps this much in memory and the rest in a temporary file.
const SPOOL_MEMORY: usize = 1024 * 1024;
/// How long [`Mbox`] waits for the locks by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// A dotlock older than this is stale.
const LOCK_STALE_AFTER: Duration = Duration::from_secs(300);
/// The journal is compacted when it grows beyond this…
const JOURNAL_COMPACT_AT: u64 = 1024 * 1024;
/// …down to at most half that size, dropping batches older than this (seconds).
const JOURNAL_KEEP_AGE: u64 = 14 * 24 * 3600;

/// The start of a line that needs quoting (after any number of `>`).
const FROM_: &[u8; 5] = b"From ";
/// Used when a message has no usable `Return-Path:`.
const NO_SENDER: &[u8] = b"MAILER-DAEMON";

/// Per-process counter making tokens and spool names unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

// ---------------------------------------------------------------------------------------------
// The mboxrd encoding, shared with the stdout target.

/// Why a copy failed: reading the message or writing it out.
#[derive(Debug)]
pub(crate) enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Reads from `body` into `head` until the header block is complete (an empty line was seen),
/// [`HEAD_LIMIT`] bytes are buffered, or the message ends. Returns whether it ended.
pub(crate) fn read_head(body: &mut dyn Read, head: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        if head.starts_with(b"\n") || memchr::memmem::find(head, b"\n\n").is_some() {
            return Ok(false);
        }
        if head.len() >= HEAD_LIMIT {
            return Ok(false);
        }
        let want = chunk.len().min(HEAD_LIMIT - head.len());
        match body.read(&mut chunk[..want]) {
            Ok(0) => return Ok(true),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The envelope sender from the first `Return-Path:` header in `head` (the start of a message):
/// `None` if there is none, `Some(empty)` for `<>`. Only the header block is looked at, and only
/// complete lines unless `whole` says `head` is the whole message.
pub(crate) fn envelope_sender(head: &[u8], whole: bool) -> Option<Vec<u8>> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = head;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None if whole => (rest, &rest[rest.len()..]),
            None => break,
        };
        if line.is_empty() || line == b"\r" {
            break;
        }
        lines.push(line);
        rest = next;
    }
    const NAME: &[u8] = b"return-path:";
    let i = lines
        .iter()
        .position(|l| l.len() >= NAME.len() && l[..NAME.len()].eq_ignore_ascii_case(NAME))?;
    let mut value = lines[i][NAME.len()..].to_vec();
    for cont in &lines[i + 1..] {
        if cont.first().is_some_and(|&c| c == b' ' || c == b'\t') {
            value.push(b' ');
            value.extend_from_slice(cont);
        } else {
            break;
        }
    }
    let value = value.trim_ascii();
    let addr = match memchr::memchr(b'<', value) {
        Some(l) => {
            let inner = &value[l + 1..];
            match memchr::memchr(b'>', inner) {
                Some(r) => &inner[..r],
                None => inner,
            }
        }
        None => value
            .split(|c| c.is_ascii_whitespace())
            .find(|w| !w.is_empty())
            .unwrap_or(b""),
    };
    Some(addr.trim_ascii().to_vec())
}

/// `asctime` form of a Unix time in UTC: `Mon Jan  1 00:00:00 2024`.
pub(crate) fn asctime(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[(days + 4).rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        year
    )
}

/// The `From ` separator line for a message with this envelope sender, delivered at `now`.
/// White space and control characters in the sender, which would break the line, become `_`.
pub(crate) fn from_line(sender: Option<&[u8]>, now: SystemTime) -> Vec<u8> {
    let sender = match sender {
        Some(s) if !s.is_empty() => s,
        _ => NO_SENDER,
    };
    let secs = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let mut line = b"From ".to_vec();
    line.extend(
        sender
            .iter()
            .map(|&c| if c <= b' ' || c == 0x7f { b'_' } else { c }),
    );
    line.push(b' ');
    line.extend_from_slice(asctime(secs).as_bytes());
    line.push(b'\n');
    line
}

/// The mboxrd quoting state machine: prepends `>` to every line matching `^>*From `. Since
/// `>>From ` quoted is `>>>From `, the extra `>` may go right before `From`, so a run of `>` is
/// passed through at once and only up to five bytes (`From `) are ever held back.
#[derive(Default)]
struct Quoter {
    /// In the middle of a line (not at its start nor in its leading `>` run).
    mid_line: bool,
    /// How many bytes of `From ` the current line start has matched (held back).
    matched: usize,
}

impl Quoter {
    fn feed(&mut self, mut data: &[u8], out: &mut dyn Write) -> io::Result<()> {
        while !data.is_empty() {
            if self.mid_line {
                match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        out.write_all(&data[..=i])?;
                        data = &data[i + 1..];
                        self.mid_line = false;
                    }
                    None => {
                        out.write_all(data)?;
                        data = &[];
                    }
                }
                continue;
            }
            if self.matched == 0 && data[0] == b'>' {
                let n = data.iter().take_while(|&&c| c == b'>').count();
                out.write_all(&data[..n])?;
                data = &data[n..];
                continue;
            }
            if data[0] == FROM_[self.matched] {
                self.matched += 1;
                data = &data[1..];
                if self.matched == FROM_.len() {
                    out.write_all(b">From ")?;
                    self.matched = 0;
                    self.mid_line = true;
                }
                continue;
            }
            // Not a `From ` line: release what was held back and go on as mid-line (which
            // also handles the byte at hand, should it be a line end).
            out.write_all(&FROM_[..self.matched])?;
            self.matched = 0;
            self.mid_line = true;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&FROM_[..self.matched])?;
        self.matched = 0;
        Ok(())
    }
}

/// Writes the message from `body` to `out` in mboxrd form: the `From ` line (sender from
/// `Return-Path:`, date `now`), the quoted message, a final newline if it lacks one, and an
/// empty line. Returns the number of message bytes read from `body`.
pub(crate) fn write_mboxrd(
    body: &mut dyn Read,
    out: &mut dyn Write,
    now: SystemTime,
) -> Result<u64, CopyError> {
    let mut head = Vec::new();
    let ended = read_head(body, &mut head).map_err(CopyError::Read)?;
    let sender = envelope_sender(&head, ended);
    out.write_all(&from_line(sender.as_deref(), now))
        .map_err(CopyError::Write)?;
    let mut quoter = Quoter::default();
    quoter.feed(&head, out).map_err(CopyError::Write)?;
    let mut total = head.len() as u64;
    let mut last = head.last().copied();
    drop(head);
    if !ended {
        let mut buf = vec![0u8; BUFFER_SIZE];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyError::Read(e)),
            };
            quoter.feed(&buf[..n], out).map_err(CopyError::Write)?;
            total += n as u64;
            last = Some(buf[n - 1]);
        }
    }
    quoter.finish(out).map_err(CopyError::Write)?;
    let tail: &[u8] = match last {
        Some(b'\n') | None => b"\n",
        Some(_) => b"\n\n",
    };
    out.write_all(tail).map_err(CopyError::Write)?;
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// A spool: a whole message, in memory up to a limit and in an unlinked temporary file beyond.

/// A complete copy of a message, so that a target can start its real work only once the
/// message has fully arrived. The first [`SPOOL_MEMORY`] bytes are kept in memory, the rest in
/// an already-unlinked temporary file (mode 0600) in the temporary directory.
pub(crate) struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
}

impl Spool {
    /// Reads the whole of `body`. `CopyError::Write` is a failure of the temporary file.
    pub(crate) fn fill(body: &mut dyn Read) -> Result<Spool, CopyError> {
        Spool::fill_in(body, &std::env::temp_dir(), SPOOL_MEMORY)
    }

    fn fill_in(body: &mut dyn Read, dir: &Path, memory: usize) -> Result<Spool, CopyError> {
        let mut spool = Spool {
            memory: Vec::new(),
            file: None,
            len: 0,
        };
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut out: Option<io::BufWriter<File>> = None;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyError::Read(e)),
            };
            let mut data = &buf[..n];
            if spool.memory.len() < memory {
                let take = data.len().min(memory - spool.memory.len());
                spool.memory.extend_from_slice(&data[..take]);
                data = &data[take..];
            }
            if !data.is_empty() {
                if out.is_none() {
                    let file = anonymous_file(dir).map_err(CopyError::Write)?;
                    out = Some(io::BufWriter::with_capacity(BUFFER_SIZE, file));
                }
                let w = out.as_mut().expect("just created");
                w.write_all(data).map_err(|e| {
                    CopyError::Write(context(e, "cannot write a spool file in", dir))
                })?;
            }
            spool.len += n as u64;
        }
        if let Some(w) = out {
            let file = w.into_inner().map_err(|e| {
                CopyError::Write(context(e.into_error(), "cannot write a spool file in", dir))
            })?;
            spool.file = Some(file);
        }
        Ok(spool)
    }

    /// The message's size.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The start of the message (at most [`HEAD_LIMIT`] bytes), and whether it is the whole.
    pub(crate) fn head(&self) -> (&[u8], bool) {
        let n = self.memory.len().min(HEAD_LIMIT);
        (&self.memory[..n], n as u64 == self.len)
    }

    /// The envelope sender, as [`envelope_sender`] finds it in the head.
    pub(crate) fn sender(&self) -> Option<Vec<u8>> {
        let (head, whole) = self.head();
        envelope_sender(head, whole)
    }

    /// A reader over the whole message, from its start.
    pub(crate) fn into_reader(self) -> io::Result<Box<dyn Read + Send>> {
        let memory = io::Cursor::new(self.memory);
        match self.file {
            Some(mut file) => {
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(
                    memory.chain(io::BufReader::with_capacity(BUFFER_SIZE, file)),
                ))
            }
            None => Ok(Box::new(memory)),
        }
    }
}

/// Creates a temporary file in `dir` and unlinks it at once.
fn anonymous_file(dir: &Path) -> io::Result<File> {
    for _ in 0..100 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let path = dir.join(format!(
            ".mailpull-spool-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => {
                fs::remove_file(&path).map_err(|e| context(e, "cannot remove", &path))?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(context(e, "cannot create a spool file in", dir)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("cannot create a unique spool file in {}", dir.display()),
    ))
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// Adds what was being done, and to which path, to an I/O error (keeping its kind).
fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `.NAME` + `suffix` next to `path` (whose file name is NAME).
fn hidden_sibling(path: &Path, suffix: &str) -> PathBuf {
    match path.file_name() {
        Some(name) => {
            let mut s = OsString::from(".");
            s.push(name);
            s.push(suffix);
            parent_dir(path).join(s)
        }
        None => with_suffix(path, suffix),
    }
}

/// The pid in a token (`<secs>P<pid>N<counter>`).
fn token_pid(token: &str) -> Option<u32> {
    token.split(['P', 'N']).nth(1).and_then(|p| p.parse().ok())
}

/// Whether `pid` certainly names no process on this host.
fn process_is_gone(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    // kill(pid, 0): sends nothing, only checks whether the process exists.
    test_kill_process(pid) == Err(Errno::SRCH)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory, making creations and renames in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context(e, "cannot fsync directory", dir))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A writer that hashes and counts what passes through.
struct Hashing<'a> {
    inner: &'a mut dyn Write,
    hash: Sha256,
    count: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads `len` bytes at `offset`.
fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// The SHA-256 of `len` bytes at `offset`, read in pieces.
fn hash_at(file: &File, offset: u64, len: u64) -> io::Result<String> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(BUFFER_SIZE as u64) as usize;
        file.read_exact_at(&mut buf[..n], offset + done)?;
        hash.update(&buf[..n]);
        done += n as u64;
    }
    Ok(hex::encode(hash.finalize()))
}

// ---------------------------------------------------------------------------------------------
// Locking.

/// A held dotlock; removed on drop.
struct Dotlock {
    path: PathBuf,
}

impl Drop for Dotlock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Both locks, and the mbox opened under them (closing it releases the fcntl lock).
struct Locked {
    file: File,
    /// Whether the mbox was created under this lock.
    created: bool,
    // Dropped after `file`: the fcntl lock goes first, then the dotlock.
    _dotlock: Dotlock,
}

/// Tries to take an fcntl write lock on the whole file. `Ok(false)` if another process holds
/// a conflicting lock.
fn try_fcntl_lock(file: &File) -> io::Result<bool> {
    loop {
        // fcntl(F_SETLK) with F_WRLCK from offset 0 to the end of the file, however it grows:
        // a POSIX record lock, the one mutt, procmail and Dovecot take (not flock).
        match fcntl_lock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN | Errno::ACCESS) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The journal.

/// One message of a journaled batch.
#[derive(Clone, Debug)]
struct JournalMsg {
    id: String,
    offset: u64,
    len: u64,
    sha: String,
}

/// One journaled batch.
#[derive(Clone, Debug)]
struct Batch {
    token: String,
    seq: u64,
    time: u64,
    start: u64,
    pad: bool,
    end: u64,
    msgs: Vec<JournalMsg>,
    committed: bool,
}

impl Batch {
    fn intent(&self) -> String {
        let mut s = format!(
            "B {} {} {} {} {} {}\n",
            self.token,
            self.seq,
            self.time,
            self.start,
            u8::from(self.pad),
            self.end
        );
        for m in &self.msgs {
            s.push_str(&format!(
                "M {} {} {} {} {} {}\n",
                self.token, self.seq, m.id, m.offset, m.len, m.sha
            ));
        }
        s
    }

    fn commit(&self) -> String {
        format!("C {} {}\n", self.token, self.seq)
    }

    fn serialize(&self) -> String {
        let mut s = self.intent();
        if self.committed {
            s.push_str(&self.commit());
        }
        s
    }
}

/// The parsed journal: batches in file order, and where each location is.
#[derive(Default)]
struct Journal {
    batches: Vec<Batch>,
    by_batch: HashMap<(String, u64), usize>,
    by_id: HashMap<String, usize>,
}

impl Journal {
    /// Parses the journal; malformed lines (a torn last line after a crash) are ignored.
    fn parse(text: &[u8]) -> Journal {
        let mut j = Journal::default();
        let mut rest = text;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let line = &rest[..i];
            rest = &rest[i + 1..];
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let f: Vec<&str> = line.split(' ').collect();
            let num = |s: &str| s.parse::<u64>().ok();
            match f.as_slice() {
                ["B", token, seq, time, start, pad, end] => {
                    let (Some(seq), Some(time), Some(start), Some(end)) =
                        (num(seq), num(time), num(start), num(end))
                    else {
                        continue;
                    };
                    let key = (token.to_string(), seq);
                    if j.by_batch.contains_key(&key) || !valid_token(token) {
                        continue;
                    }
                    // The batch's data lies in [start + pad, end]: anything else is damage.
                    let pad = *pad == "1";
                    if start.checked_add(u64::from(pad)).is_none_or(|s| s > end) {
                        continue;
                    }
                    j.by_batch.insert(key, j.batches.len());
                    j.batches.push(Batch {
                        token: token.to_string(),
                        seq,
                        time,
                        start,
                        pad,
                        end,
                        msgs: Vec::new(),
                        committed: false,
                    });
                }
                ["M", token, seq, id, offset, len, sha] => {
                    let (Some(seq), Some(offset), Some(len)) = (num(seq), num(offset), num(len))
                    else {
                        continue;
                    };
                    if sha.len() != 64 || check_location(id).is_err() {
                        continue;
                    }
                    let Some(&b) = j.by_batch.get(&(token.to_string(), seq)) else {
                        continue;
                    };
                    let batch = &j.batches[b];
                    if batch.committed || j.by_id.contains_key(*id) {
                        continue;
                    }
                    // A message lies within its batch's data.
                    let data_start = batch.start + u64::from(batch.pad);
                    if offset < data_start || offset.checked_add(len).is_none_or(|e| e > batch.end)
                    {
                        continue;
                    }
                    j.by_id.insert(id.to_string(), b);
                    j.batches[b].msgs.push(JournalMsg {
                        id: id.to_string(),
                        offset,
                        len,
                        sha: sha.to_string(),
                    });
                }
                ["C", token, seq] => {
                    if let Some(seq) = num(seq) {
                        if let Some(&b) = j.by_batch.get(&(token.to_string(), seq)) {
                            j.batches[b].committed = true;
                        }
                    }
                }
                _ => {}
            }
        }
        j
    }
}

/// The journal parser on its own, for the fuzz target `mbox_journal` (`tests/fuzz`): parses
/// `text` as recovery does and writes back what it kept, in the journal's own format, batches
/// in file order. Parsing that again must give the same text.
#[doc(hidden)]
pub fn reparse_journal(text: &[u8]) -> String {
    Journal::parse(text)
        .batches
        .iter()
        .map(Batch::serialize)
        .collect()
}

/// Reads and parses the journal; a missing journal is empty.
fn read_journal(path: &Path) -> io::Result<Journal> {
    match fs::read(path) {
        Ok(text) => Ok(Journal::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Journal::default()),
        Err(e) => Err(context(e, "cannot read", path)),
    }
}

fn valid_token(token: &str) -> bool {
    // <secs>P<pid>N<counter>
    let parts: Vec<&str> = token.split(['P', 'N']).collect();
    parts.len() == 3
        && token.find('P') < token.find('N')
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// Refuses locations that are not `TOKENQn` (they come from the ledger, which a damaged or
/// edited file could fill with anything). Returns the token.
fn check_location(location: &str) -> io::Result<&str> {
    if let Some((token, n)) = location.split_once('Q') {
        if valid_token(token) && !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
            return Ok(token);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid mbox location {location:?}"),
    ))
}

// ---------------------------------------------------------------------------------------------
// The target.

/// A message encoded into the staging file, waiting for [`Deliver::sync`].
struct Staged {
    id: String,
    /// Offset in the staging file.
    offset: u64,
    len: u64,
    sha: String,
}

/// The staging file of one [`Mbox`].
struct Stage {
    path: PathBuf,
    file: File,
    len: u64,
}

/// Test-only fault injection in [`Deliver::sync`].
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Appending fails (like a full disk) after this many bytes of the batch.
    FailAppendAfter(u64),
    /// The process "dies" (no cleanup at all) after the intent is journaled…
    CrashAfterIntent,
    /// …after this many bytes of the batch were appended…
    CrashAfterAppend(u64),
    /// …after the mbox was fsynced, before the commit line…
    CrashBeforeCommit,
}

/// An mbox file (mboxrd) on the local file system.
pub struct Mbox {
    path: PathBuf,
    lock_path: PathBuf,
    journal_path: PathBuf,
    /// Unique per value: `<secs>P<pid>N<counter>`.
    token: String,
    next_location: u64,
    next_batch: u64,
    stage: Option<Stage>,
    staged: Vec<Staged>,
    lock_timeout: Duration,
    /// The host name written into dotlocks (`pid:host`).
    hostname: String,
    /// The journal, read once for recovery.
    journal: Option<Journal>,
    /// Locations of uncommitted batches already resolved by recovery.
    resolved: HashMap<String, Recovered>,
    /// A failed sync could not take its partial data back out of the mbox: the staging file
    /// must stay for recovery, and no more messages are accepted.
    poisoned: bool,
    journal_compact_at: u64,
    #[cfg(test)]
    fault: Option<Fault>,
}

impl Mbox {
    /// Opens the mbox at `path`, creating it (mode 0600) and its parent directory (mode 0700)
    /// if missing.
    pub fn open(path: &Path) -> Result<Mbox, DeliverError> {
        let hostname = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mbox = Mbox {
            path: path.to_path_buf(),
            lock_path: with_suffix(path, ".lock"),
            journal_path: hidden_sibling(path, ".mailpull-journal"),
            token: format!(
                "{}P{}N{}",
                now_secs(),
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            next_location: 0,
            next_batch: 0,
            stage: None,
            staged: Vec::new(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            hostname: hostname.replace([':', '\n', ' '], "_"),
            journal: None,
            resolved: HashMap::new(),
            poisoned: false,
            journal_compact_at: JOURNAL_COMPACT_AT,
            #[cfg(test)]
            fault: None,
        };
        mbox.create().map_err(|e| mbox.local(e))?;
        mbox.remove_orphan_stages();
        Ok(mbox)
    }

    /// How long to wait for the locks before giving up (default [`DEFAULT_LOCK_TIMEOUT`]).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Mbox {
        self.lock_timeout = timeout;
        self
    }

    /// The mbox file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn create(&self) -> io::Result<()> {
        let dir = parent_dir(&self.path);
        let mut created_dir = false;
        if !dir.is_dir() {
            match fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
            {
                Ok(()) => created_dir = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(context(e, "cannot create directory", dir)),
            }
        }
        let created = match fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.path)
        {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(context(e, "cannot create", &self.path)),
        };
        let meta =
            fs::metadata(&self.path).map_err(|e| context(e, "cannot examine", &self.path))?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", self.path.display()),
            ));
        }
        if created || created_dir {
            sync_dir(dir)?;
            if created_dir {
                if let Some(up) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    let _ = sync_dir(up);
                }
            }
        }
        Ok(())
    }

    fn local(&self, source: io::Error) -> DeliverError {
        DeliverError::Local {
            target: self.describe(),
            source,
        }
    }

    fn stage_path(&self, token: &str) -> PathBuf {
        hidden_sibling(&self.path, &format!(".mailpull-stage.{token}"))
    }

    /// Best effort: removes empty staging files of processes that no longer exist (left by a
    /// kill after their last batch; a non-empty one may still be needed by recovery).
    fn remove_orphan_stages(&self) {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let prefix = format!(".{name}.mailpull-stage.");
        let Ok(entries) = fs::read_dir(parent_dir(&self.path)) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(token) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            let Some(pid) = token_pid(token).filter(|_| valid_token(token)) else {
                continue;
            };
            let empty = entry.metadata().is_ok_and(|m| m.is_file() && m.len() == 0);
            if empty && pid != std::process::id() && process_is_gone(pid) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    // --- locking ---------------------------------------------------------------------------

    /// Takes the dotlock and the fcntl lock, waiting with backoff up to the timeout.
    fn lock(&self) -> io::Result<Locked> {
        let deadline = crate::time::later(Instant::now(), self.lock_timeout);
        let mut backoff = Duration::from_millis(5);
        loop {
            let why = match self.try_dotlock()? {
                None => format!("{} is held by another program", self.lock_path.display()),
                Some(dotlock) => {
                    let (file, created) = self.open_for_append()?;
                    if try_fcntl_lock(&file)
                        .map_err(|e| context(e, "cannot lock (fcntl)", &self.path))?
                    {
                        // The file may have been replaced (renamed over) while we waited.
                        let same = match fs::metadata(&self.path) {
                            Ok(m) => {
                                let f = file.metadata()?;
                                m.dev() == f.dev() && m.ino() == f.ino()
                            }
                            Err(_) => false,
                        };
                        if same {
                            return Ok(Locked {
                                file,
                                created,
                                _dotlock: dotlock,
                            });
                        }
                        continue;
                    }
                    // Release the dotlock while waiting, so that a program taking the locks
                    // in the other order is not deadlocked.
                    drop(file);
                    drop(dotlock);
                    format!(
                        "{} is locked (fcntl) by another program",
                        self.path.display()
                    )
                }
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "gave up waiting for the lock after {} s: {why}",
                        self.lock_timeout.as_secs_f64()
                    ),
                ));
            }
            std::thread::sleep(backoff.min(deadline - now));
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    fn open_for_append(&self) -> io::Result<(File, bool)> {
        match fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.path)
        {
            Ok(f) => return Ok((f, true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(context(e, "cannot create", &self.path)),
        }
        let f = fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| context(e, "cannot open", &self.path))?;
        Ok((f, false))
    }

    /// Creates the dotlock; `None` if another holds it (a stale one is removed first).
    fn try_dotlock(&self) -> io::Result<Option<Dotlock>> {
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.lock_path)
            {
                Ok(mut f) => {
                    let lock = Dotlock {
                        path: self.lock_path.clone(),
                    };
                    // Dovecot's format; the content is informational.
                    let _ = writeln!(f, "{}:{}", std::process::id(), self.hostname);
                    return Ok(Some(lock));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !self.remove_stale_dotlock()? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(context(e, "cannot create lock file", &self.lock_path)),
            }
        }
        Ok(None)
    }

    /// Removes the dotlock if it is stale: older than [`LOCK_STALE_AFTER`], or naming a
    /// process of this host that does not exist. Returns whether it was removed.
    fn remove_stale_dotlock(&self) -> io::Result<bool> {
        let meta = match fs::symlink_metadata(&self.lock_path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(context(e, "cannot examine", &self.lock_path)),
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        let mut stale = age > LOCK_STALE_AFTER;
        if !stale && meta.len() < 256 {
            let content = fs::read_to_string(&self.lock_path).unwrap_or_default();
            if let Some((pid, host)) = content.trim_end().split_once(':') {
                if host == self.hostname && !self.hostname.is_empty() {
                    if let Ok(pid) = pid.parse::<u32>() {
                        stale = process_is_gone(pid);
                    }
                }
            }
        }
        if !stale {
            return Ok(false);
        }
        // Remove it only if it is still the file we judged (narrowing the race with another
        // process that removed it and took a fresh lock meanwhile).
        match fs::symlink_metadata(&self.lock_path) {
            Ok(now) if now.ino() == meta.ino() && now.mtime() == meta.mtime() => {
                log::warn!("removing stale lock file {}", self.lock_path.display());
                match fs::remove_file(&self.lock_path) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
                    Err(e) => Err(context(e, "cannot remove stale lock file", &self.lock_path)),
                }
            }
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(context(e, "cannot examine", &self.lock_path)),
        }
    }

    // --- delivery ----------------------------------------------------------------------------

    /// Encodes `body` into the staging file. Returns the staged entry and the message size.
    fn stage(&mut self, location: &str, body: &mut dyn Read) -> Result<(Staged, u64), CopyError> {
        if self.stage.is_none() {
            let path = self.stage_path(&self.token);
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| CopyError::Write(context(e, "cannot create", &path)))?;
            self.stage = Some(Stage { path, file, len: 0 });
        }
        let stage = self.stage.as_mut().expect("just created");
        let offset = stage.len;
        let result = (|| {
            (&stage.file)
                .seek(SeekFrom::Start(offset))
                .map_err(CopyError::Write)?;
            let mut out = io::BufWriter::with_capacity(BUFFER_SIZE, &stage.file);
            let mut hashing = Hashing {
                inner: &mut out,
                hash: Sha256::new(),
                count: 0,
            };
            let size = write_mboxrd(body, &mut hashing, SystemTime::now())?;
            hashing.flush().map_err(CopyError::Write)?;
            let (len, sha) = (hashing.count, hex::encode(hashing.hash.finalize()));
            out.flush().map_err(CopyError::Write)?;
            Ok((len, sha, size))
        })();
        match result {
            Ok((len, sha, size)) => {
                stage.len += len;
                Ok((
                    Staged {
                        id: location.to_string(),
                        offset,
                        len,
                        sha,
                    },
                    size,
                ))
            }
            Err(e) => {
                let _ = stage.file.set_len(offset);
                let path = stage.path.clone();
                Err(match e {
                    CopyError::Write(e) => CopyError::Write(context(e, "cannot write", &path)),
                    read => read,
                })
            }
        }
    }

    /// Steps 1–6 of the module documentation for the staged batch.
    fn append_batch(&mut self) -> io::Result<()> {
        let stage = self.stage.as_ref().expect("messages are staged");
        let (stage_file, stage_len) = (stage.file.try_clone()?, stage.len);
        let locked = self.lock()?;
        let file = &locked.file;
        let start = file.metadata()?.len();
        let pad = start > 0 && read_at(file, start - 1, 1)?[0] != b'\n';
        let data_start = start + u64::from(pad);
        let batch = Batch {
            token: self.token.clone(),
            seq: self.next_batch,
            time: now_secs(),
            start,
            pad,
            end: data_start + stage_len,
            msgs: self
                .staged
                .iter()
                .map(|s| JournalMsg {
                    id: s.id.clone(),
                    offset: data_start + s.offset,
                    len: s.len,
                    sha: s.sha.clone(),
                })
                .collect(),
            committed: false,
        };
        self.next_batch += 1;

        // 3. The intent, durable before the mbox is touched.
        let (mut journal, journal_created) = self.open_journal()?;
        journal
            .write_all(batch.intent().as_bytes())
            .and_then(|_| journal.sync_data())
            .map_err(|e| context(e, "cannot write", &self.journal_path))?;
        if journal_created || locked.created {
            sync_dir(parent_dir(&self.path))?;
        }
        #[cfg(test)]
        if let Some(Fault::CrashAfterIntent) = self.fault {
            return Err(io::Error::other("simulated crash"));
        }

        // 4. The data.
        let appended = self.append_data(file, &stage_file, pad, stage_len);
        #[cfg(test)]
        if let (Err(e), Some(Fault::CrashAfterAppend(_))) = (&appended, self.fault) {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        if let Err(e) = appended.and_then(|_| file.sync_data()) {
            let e = context(e, "cannot append to", &self.path);
            let restored = file.set_len(start).and_then(|_| file.sync_data());
            if let Err(r) = restored {
                // Recovery will find and remove our bytes, using the staging file.
                self.poisoned = true;
                log::error!(
                    "cannot remove a partial batch from {}: {r}",
                    self.path.display()
                );
            }
            return Err(e);
        }
        let len = file.metadata()?.len();
        if len != batch.end {
            log::warn!(
                "{} changed while it was locked (a program not honouring the locks?): \
                 expected {} bytes, found {len}",
                self.path.display(),
                batch.end
            );
        }
        #[cfg(test)]
        if let Some(Fault::CrashBeforeCommit) = self.fault {
            return Err(io::Error::other("simulated crash"));
        }

        // 5. The commit.
        journal
            .write_all(batch.commit().as_bytes())
            .and_then(|_| journal.sync_data())
            .map_err(|e| context(e, "cannot write", &self.journal_path))?;
        if let Err(e) = self.maybe_compact(&journal) {
            log::warn!("cannot compact {}: {e}", self.journal_path.display());
        }
        // 6. Release: the mbox is closed (fcntl lock) before the dotlock is removed.
        drop(locked);
        Ok(())
    }

    /// Appends the optional padding newline and the staged bytes.
    fn append_data(&self, file: &File, stage: &File, pad: bool, len: u64) -> io::Result<()> {
        let mut out = file;
        if pad {
            out.write_all(b"\n")?;
        }
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(BUFFER_SIZE as u64) as usize;
            stage.read_exact_at(&mut buf[..n], done)?;
            #[cfg(test)]
            match self.fault {
                Some(Fault::FailAppendAfter(limit)) | Some(Fault::CrashAfterAppend(limit))
                    if done + n as u64 > limit =>
                {
                    let part = (limit.saturating_sub(done)) as usize;
                    out.write_all(&buf[..part])?;
                    return Err(io::Error::from_raw_os_error(libc::ENOSPC));
                }
                _ => {}
            }
            out.write_all(&buf[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    fn open_journal(&self) -> io::Result<(File, bool)> {
        let open = |create_new: bool| {
            fs::OpenOptions::new()
                .append(true)
                .create_new(create_new)
                .mode(0o600)
                .open(&self.journal_path)
        };
        match open(true) {
            Ok(f) => Ok((f, true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open(false)
                .map(|f| (f, false))
                .map_err(|e| context(e, "cannot open", &self.journal_path)),
            Err(e) => Err(context(e, "cannot create", &self.journal_path)),
        }
    }

    /// Rewrites the journal when it is too large (under the locks).
    fn maybe_compact(&self, journal: &File) -> io::Result<()> {
        if journal.metadata()?.len() <= self.journal_compact_at {
            return Ok(());
        }
        let parsed = read_journal(&self.journal_path)?;
        let cutoff = now_secs().saturating_sub(JOURNAL_KEEP_AGE);
        let keep_bytes = (self.journal_compact_at / 2) as usize;
        let mut kept: Vec<String> = Vec::new();
        let mut size = 0;
        for batch in parsed.batches.iter().rev() {
            if batch.time < cutoff {
                continue;
            }
            let text = batch.serialize();
            if size + text.len() > keep_bytes && !kept.is_empty() {
                break;
            }
            size += text.len();
            kept.push(text);
        }
        let tmp = with_suffix(&self.journal_path, ".tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| context(e, "cannot create", &tmp))?;
        for text in kept.iter().rev() {
            f.write_all(text.as_bytes())?;
        }
        f.sync_data()?;
        fs::rename(&tmp, &self.journal_path)
            .map_err(|e| context(e, "cannot replace", &self.journal_path))?;
        sync_dir(parent_dir(&self.path))?;
        log::debug!(
            "compacted {} to {} batches",
            self.journal_path.display(),
            kept.len()
        );
        Ok(())
    }

    /// Empties the staging file after a batch (it is reused for the next one).
    fn reset_stage(&mut self) {
        self.staged.clear();
        if let Some(stage) = self.stage.as_mut() {
            if stage.file.set_len(0).is_ok() {
                stage.len = 0;
            } else if let Some(stage) = self.stage.take() {
                let _ = fs::remove_file(&stage.path);
            }
        }
    }

    // --- recovery ----------------------------------------------------------------------------

    /// Resolves an uncommitted batch under the locks: which of its messages are completely in
    /// the mbox, and removal of our own partial leftovers.
    fn resolve_batch(&mut self, index: usize) -> io::Result<()> {
        let batch = self.journal.as_ref().expect("journal loaded").batches[index].clone();
        let locked = self.lock()?;
        let file = &locked.file;
        let len = file.metadata()?.len();
        let mut msgs = batch.msgs.clone();
        msgs.sort_by_key(|m| m.offset);
        let mut complete = Vec::with_capacity(msgs.len());
        for m in &msgs {
            let ok = m.offset.checked_add(m.len).is_some_and(|end| end <= len)
                && hash_at(file, m.offset, m.len)? == m.sha;
            complete.push(ok);
        }
        if complete.iter().any(|&c| c) {
            // Written before the crash, perhaps not yet on disk: make it durable before the
            // ledger records it.
            file.sync_data()
                .map_err(|e| context(e, "cannot fsync", &self.path))?;
        }
        // Our leftover starts at the first incomplete message (the whole batch, padding
        // included, if that is the first), provided nothing after it is complete.
        let first_missing = complete.iter().position(|&c| !c);
        let cut = match first_missing {
            Some(0) => Some(batch.start),
            Some(i) if !complete[i..].iter().any(|&c| c) => Some(msgs[i].offset),
            _ => None,
        };
        if let Some(cut) = cut.filter(|&c| c < len) {
            if len <= batch.end && self.is_our_leftover(file, &batch, cut, len)? {
                file.set_len(cut)
                    .and_then(|_| file.sync_data())
                    .map_err(|e| context(e, "cannot truncate", &self.path))?;
                log::info!(
                    "removed {} bytes of an interrupted delivery from {}",
                    len - cut,
                    self.path.display()
                );
            } else {
                log::warn!(
                    "{}: {} bytes after offset {cut} may be a partial message from an \
                     interrupted delivery, but could not be verified as mailpull's own; \
                     left in place",
                    self.path.display(),
                    len - cut
                );
            }
        }
        drop(locked);
        for (m, ok) in msgs.iter().zip(complete) {
            let r = if ok {
                Recovered::Delivered
            } else {
                Recovered::Missing
            };
            self.resolved.insert(m.id.clone(), r);
        }
        self.remove_foreign_stage(&batch.token);
        Ok(())
    }

    /// Removes the staging file a dead run left behind. Never our own, nor one of another
    /// value in this process (the pid is part of the token).
    fn remove_foreign_stage(&self, token: &str) {
        if token != self.token && token_pid(token) != Some(std::process::id()) {
            let _ = fs::remove_file(self.stage_path(token));
        }
    }

    /// Whether the mbox bytes `[cut, len)` are exactly what the batch was writing there,
    /// according to its staging file.
    fn is_our_leftover(&self, file: &File, batch: &Batch, cut: u64, len: u64) -> io::Result<bool> {
        let stage_path = self.stage_path(&batch.token);
        let stage = match File::open(&stage_path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(context(e, "cannot open", &stage_path)),
        };
        let data_start = batch.start + u64::from(batch.pad);
        let stage_len = stage.metadata()?.len();
        if len > data_start && len - data_start > stage_len {
            return Ok(false);
        }
        let mut pos = cut;
        if batch.pad && pos < data_start {
            if read_at(file, pos, 1)? != b"\n" {
                return Ok(false);
            }
            pos = data_start;
        }
        let mut a = vec![0u8; BUFFER_SIZE];
        let mut b = vec![0u8; BUFFER_SIZE];
        while pos < len {
            let n = (len - pos).min(BUFFER_SIZE as u64) as usize;
            file.read_exact_at(&mut a[..n], pos)?;
            stage.read_exact_at(&mut b[..n], pos - data_start)?;
            if a[..n] != b[..n] {
                return Ok(false);
            }
            pos += n as u64;
        }
        Ok(true)
    }
}

impl Drop for Mbox {
    fn drop(&mut self) {
        // Staged messages were never in the mbox; the ledger does not count them.
        if let Some(stage) = self.stage.take() {
            if !self.poisoned {
                let _ = fs::remove_file(&stage.path);
            }
        }
    }
}

impl Deliver for Mbox {
    fn reserve(&mut self) -> io::Result<String> {
        let location = format!("{}Q{}", self.token, self.next_location);
        self.next_location += 1;
        Ok(location)
    }

    /// Encodes the message into the staging file; the mbox itself is written by
    /// [`Deliver::sync`]. Returns the size of the message (not of its mbox encoding).
    fn deliver(
        &mut self,
        location: &str,
        info: &MessageInfo,
        body: &mut dyn Read,
    ) -> Result<u64, DeliverError> {
        check_location(location).map_err(|e| self.local(e))?;
        if self.poisoned {
            return Err(self.local(io::Error::other(
                "an earlier failure left a partial batch in the mbox; run again to recover it",
            )));
        }
        match self.stage(location, body) {
            Ok((staged, size)) => {
                self.staged.push(staged);
                Ok(size)
            }
            Err(CopyError::Read(e)) => Err(DeliverError::Body(e)),
            Err(CopyError::Write(e)) => {
                let e = if info.uid.is_empty() {
                    e
                } else {
                    io::Error::new(e.kind(), format!("message {}: {e}", info.uid))
                };
                Err(self.local(e))
            }
        }
    }

    fn sync(&mut self) -> Result<(), DeliverError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        self.journal = None;
        let result = self.append_batch();
        #[cfg(test)]
        if result.is_err()
            && matches!(
                self.fault,
                Some(Fault::CrashAfterIntent)
                    | Some(Fault::CrashAfterAppend(_))
                    | Some(Fault::CrashBeforeCommit)
            )
        {
            // A simulated kill: nothing is cleaned up (the caller forgets the value).
            return result.map_err(|e| self.local(e));
        }
        if self.poisoned {
            // Keep the staging file as it is, for recovery.
            self.staged.clear();
        } else {
            self.reset_stage();
        }
        result.map_err(|e| self.local(e))
    }

    fn recover(&mut self, location: &str) -> Result<Recovered, DeliverError> {
        let token = check_location(location)
            .map_err(|e| self.local(e))?
            .to_string();
        if let Some(&r) = self.resolved.get(location) {
            return Ok(r);
        }
        if self.journal.is_none() {
            self.journal = Some(read_journal(&self.journal_path).map_err(|e| self.local(e))?);
        }
        let journal = self.journal.as_ref().expect("just loaded");
        // A staging file left by that run is of no use once none of its batches is pending.
        let pending = journal
            .batches
            .iter()
            .any(|b| b.token == token && !b.committed);
        let Some(&index) = journal.by_id.get(location) else {
            // Never journaled, so never written to the mbox.
            if !pending {
                self.remove_foreign_stage(&token);
            }
            return Ok(Recovered::Missing);
        };
        if journal.batches[index].committed {
            if !pending {
                self.remove_foreign_stage(&token);
            }
            return Ok(Recovered::Delivered);
        }
        self.resolve_batch(index).map_err(|e| self.local(e))?;
        Ok(self
            .resolved
            .get(location)
            .copied()
            .unwrap_or(Recovered::Missing))
    }

    fn describe(&self) -> String {
        format!("mbox {}", self.path.display())
    }
}

#[cfg(test)]
/// A test reader for mboxrd: splits on `From ` lines that follow an empty line (or start
/// the file), drops the separator's empty line, and reverses one level of quoting.
/// Returns (sender, message) pairs.
pub(crate) fn parse_mboxrd(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut lines: Vec<&[u8]> = data.split_inclusive(|&c| c == b'\n').collect();
    if lines.is_empty() {
        return out;
    }
    assert!(lines[0].starts_with(b"From "), "mbox must start with From");
    let mut prev_empty = true;
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in lines.drain(..) {
        if prev_empty && line.starts_with(b"From ") {
            if let Some((s, mut m)) = current.take() {
                assert_eq!(m.pop(), Some(b'\n'), "separator line missing");
                out.push((s, m));
            }
            let text = String::from_utf8_lossy(line);
            let sender = text.split(' ').nth(1).unwrap().to_string();
            current = Some((sender, Vec::new()));
            prev_empty = false;
            continue;
        }
        let msg = &mut current.as_mut().unwrap().1;
        let gt = line.iter().take_while(|&&c| c == b'>').count();
        if gt > 0 && line[gt..].starts_with(b"From ") {
            msg.extend_from_slice(&line[1..]);
        } else {
            msg.extend_from_slice(line);
        }
        prev_empty = line == b"\n";
    }
    if let Some((s, mut m)) = current.take() {
        assert_eq!(m.pop(), Some(b'\n'), "final separator line missing");
        out.push((s, m));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    fn info() -> MessageInfo {
        MessageInfo {
            uid: "uidl-1".into(),
            size: 0,
        }
    }

    fn open_temp() -> (tempfile::TempDir, Mbox) {
        let dir = tempfile::tempdir().unwrap();
        let mbox = Mbox::open(&dir.path().join("mail/inbox")).unwrap();
        (dir, mbox)
    }

    fn deliver(mbox: &mut Mbox, body: &[u8]) -> String {
        let loc = mbox.reserve().unwrap();
        let n = mbox.deliver(&loc, &info(), &mut &body[..]).unwrap();
        assert_eq!(n, body.len() as u64);
        loc
    }

    fn with_newline(m: &[u8]) -> Vec<u8> {
        let mut m = m.to_vec();
        if !m.is_empty() && !m.ends_with(b"\n") {
            m.push(b'\n');
        }
        m
    }

    fn python3() -> bool {
        Command::new("python3")
            .arg("-c")
            .arg("import mailbox")
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Tricky messages: quoting at every depth, at the very start, split across reads, no
    /// final newline, Return-Path variants.
    fn samples() -> Vec<(Vec<u8>, &'static str)> {
        vec![
            (
                b"Return-Path: <alice@example.org>\nSubject: one\n\nFrom here\n>From there\n>>From everywhere\n>>>From x\nFrom\nFromage\n>From\n> From x\n".to_vec(),
                "alice@example.org",
            ),
            (b"Subject: no return path\n\nbody without final newline".to_vec(), "MAILER-DAEMON"),
            (b"Return-Path: <>\nSubject: bounce\n\nFrom the daemon\n\n\n".to_vec(), "MAILER-DAEMON"),
            (b"From someone@else Mon Jan  1 00:00:00 2024\nreturn-path:\n  <folded@example.org>\n\n>From \nFrom ".to_vec(), "folded@example.org"),
            (b"Return-Path: bare@example.org (comment)\n\n".to_vec(), "bare@example.org"),
            (b"Return-Path: <we ird@example.org>\n\nx\n".to_vec(), "we_ird@example.org"),
            (b"".to_vec(), "MAILER-DAEMON"),
            (b"\n".to_vec(), "MAILER-DAEMON"),
        ]
    }

    #[test]
    fn asctime_matches_known_dates() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(1_704_067_200), "Mon Jan  1 00:00:00 2024");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(asctime(1_735_689_599), "Tue Dec 31 23:59:59 2024");
        assert_eq!(asctime(4_107_542_400), "Mon Mar  1 00:00:00 2100");
        assert_eq!(asctime(-1), "Wed Dec 31 23:59:59 1969");
    }

    #[test]
    fn from_line_formats_sender_and_date() {
        let t = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        assert_eq!(
            from_line(Some(b"a@b"), t),
            b"From a@b Mon Jan  1 00:00:00 2024\n"
        );
        assert_eq!(
            from_line(Some(b""), t),
            b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
        );
        assert_eq!(
            from_line(None, t),
            b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
        );
        assert_eq!(
            from_line(Some(b"a b\tc\x01"), t),
            b"From a_b_c_ Mon Jan  1 00:00:00 2024\n"
        );
    }

    #[test]
    fn envelope_sender_parsing() {
        let s = |h: &[u8]| envelope_sender(h, true).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(s(b"Return-Path: <a@b>\n\n"), Some("a@b".into()));
        assert_eq!(s(b"RETURN-PATH:<a@b>\n"), Some("a@b".into()));
        assert_eq!(s(b"Return-Path: <>\n\n"), Some("".into()));
        assert_eq!(s(b"Subject: x\n\nReturn-Path: <a@b>\n"), None);
        assert_eq!(s(b"\nReturn-Path: <a@b>\n"), None);
        assert_eq!(
            s(b"Return-Path: <first@x>\nReturn-Path: <second@x>\n"),
            Some("first@x".into())
        );
        assert_eq!(s(b"Return-Path: <a@b"), Some("a@b".into()));
        assert_eq!(s(b"Return-Path:\n\t<c@d>\nX: y\n"), Some("c@d".into()));
        assert_eq!(s(b"X-Return-Path: <a@b>\n"), None);
        // A line cut off by the head limit is not trusted.
        assert_eq!(envelope_sender(b"Return-Path: <a@b", false), None);
        assert_eq!(
            envelope_sender(b"Return-Path: <a@b>\nSubj", false),
            Some(b"a@b".to_vec())
        );
    }

    /// Returns at most `step` bytes per read, to exercise state across buffer boundaries.
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn quoting_is_independent_of_read_sizes() {
        let msg = b"Subject: x\n\nFrom a\n>From b\n>>From c\nFro\nFrom\n>>>>\n>F\nxFrom d\n>From";
        let mut reference = Vec::new();
        write_mboxrd(&mut &msg[..], &mut reference, UNIX_EPOCH).unwrap();
        let expected_body =
            b"Subject: x\n\n>From a\n>>From b\n>>>From c\nFro\nFrom\n>>>>\n>F\nxFrom d\n>From\n\n";
        assert!(
            reference.ends_with(expected_body),
            "{}",
            String::from_utf8_lossy(&reference)
        );
        for step in 1..12 {
            let mut out = Vec::new();
            let n = write_mboxrd(&mut Dribble { data: msg, step }, &mut out, UNIX_EPOCH).unwrap();
            assert_eq!(n, msg.len() as u64);
            assert_eq!(out, reference, "step {step}");
        }
        // Beyond the head buffer too.
        let mut big = b"Subject: big\n\n".to_vec();
        for i in 0..20_000 {
            big.extend_from_slice(if i % 3 == 0 {
                b"From x\n"
            } else {
                b">From y\n"
            });
        }
        let mut out = Vec::new();
        write_mboxrd(
            &mut Dribble {
                data: &big,
                step: 4093,
            },
            &mut out,
            UNIX_EPOCH,
        )
        .unwrap();
        let parsed = parse_mboxrd(&out);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].1, big);
    }

    #[test]
    fn open_creates_private_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/er/inbox");
        let mbox = Mbox::open(&path).unwrap();
        assert_eq!(mbox.path(), path);
        assert_eq!(mbox.describe(), format!("mbox {}", path.display()));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        // Existing content and permissions are left alone.
        fs::write(&path, b"From x Thu Jan  1 00:00:00 1970\n\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        Mbox::open(&path).unwrap();
        assert_eq!(mode(&path), 0o640);
        assert_eq!(fs::metadata(&path).unwrap().len(), 33);
        // A directory is not an mbox.
        let err = Mbox::open(dir.path()).err().unwrap();
        assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
    }

    #[test]
    fn round_trip_through_our_reader() {
        let (_dir, mut mbox) = open_temp();
        let samples = samples();
        for (body, _) in &samples {
            deliver(&mut mbox, body);
        }
        // Nothing reaches the mbox before sync.
        assert_eq!(fs::metadata(mbox.path()).unwrap().len(), 0);
        mbox.sync().unwrap();
        let data = fs::read(mbox.path()).unwrap();
        let parsed = parse_mboxrd(&data);
        assert_eq!(parsed.len(), samples.len());
        for ((sender, msg), (body, expected_sender)) in parsed.iter().zip(&samples) {
            assert_eq!(sender, expected_sender);
            assert_eq!(
                *msg,
                with_newline(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // A second batch appends.
        deliver(&mut mbox, b"Subject: later\n\nFrom again\n");
        mbox.sync().unwrap();
        let parsed = parse_mboxrd(&fs::read(mbox.path()).unwrap());
        assert_eq!(parsed.len(), samples.len() + 1);
        assert_eq!(parsed.last().unwrap().1, b"Subject: later\n\nFrom again\n");
        // The staging file is emptied, not kept growing; the lock is gone.
        assert_eq!(fs::metadata(mbox.stage_path(&mbox.token)).unwrap().len(), 0);
        assert!(!mbox.lock_path.exists());
    }

    #[test]
    fn python_mailbox_reads_the_file() {
        if !python3() {
            eprintln!("python3 not available; skipped");
            return;
        }
        let (dir, mut mbox) = open_temp();
        // Something another program wrote, without a final newline: we must start on a new
        // line.
        fs::write(
            mbox.path(),
            b"From old@x Thu Jan  1 00:00:00 1970\nSubject: old\n\nold body",
        )
        .unwrap();
        let samples = samples();
        for (body, _) in &samples {
            deliver(&mut mbox, body);
        }
        mbox.sync().unwrap();
        // Python's mailbox.mbox splits at every line starting with "From " and drops the empty
        // line before it; it does not unquote. We compare its raw message bytes (without the
        // From line) after removing one ">" from lines matching ^>+From , and its From line.
        let out_dir = dir.path().join("py");
        fs::create_dir(&out_dir).unwrap();
        let script = r#"
import mailbox, sys, os
box = mailbox.mbox(sys.argv[1], create=False)
for i, key in enumerate(box.keys()):
    with open(os.path.join(sys.argv[2], "%d.msg" % i), "wb") as f:
        f.write(box.get_bytes(key))
    with open(os.path.join(sys.argv[2], "%d.from" % i), "wb") as f:
        f.write(box.get_message(key).get_from().encode())
"#;
        let status = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(mbox.path())
            .arg(&out_dir)
            .status()
            .unwrap();
        assert!(status.success());
        let unquote = |m: &[u8]| -> Vec<u8> {
            let mut out = Vec::new();
            for line in m.split_inclusive(|&c| c == b'\n') {
                let gt = line.iter().take_while(|&&c| c == b'>').count();
                if gt > 0 && line[gt..].starts_with(b"From ") {
                    out.extend_from_slice(&line[1..]);
                } else {
                    out.extend_from_slice(line);
                }
            }
            out
        };
        let read = |name: String| fs::read(out_dir.join(name)).unwrap();
        assert_eq!(read("0.msg".into()), b"Subject: old\n\nold body\n");
        for (i, (body, sender)) in samples.iter().enumerate() {
            let raw = read(format!("{}.msg", i + 1));
            assert_eq!(unquote(&raw), with_newline(body), "message {i}");
            let from = String::from_utf8(read(format!("{}.from", i + 1))).unwrap();
            assert!(from.starts_with(&format!("{sender} ")), "{from}");
        }
        assert!(!out_dir.join(format!("{}.msg", samples.len() + 1)).exists());
    }

    /// Yields `ok` bytes of a message with From lines, then fails.
    struct Broken {
        ok: usize,
    }

    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
            }
            let line = b"From the server\n";
            let n = buf.len().min(self.ok).min(line.len());
            buf[..n].copy_from_slice(&line[..n]);
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn body_error_leaves_nothing() {
        let (_dir, mut mbox) = open_temp();
        let first = deliver(&mut mbox, b"Subject: first\n\nok\n");
        let loc = mbox.reserve().unwrap();
        let err = mbox
            .deliver(&loc, &info(), &mut Broken { ok: 200_000 })
            .unwrap_err();
        assert!(matches!(err, DeliverError::Body(_)), "{err:?}");
        assert!(!err.is_fatal());
        deliver(&mut mbox, b"Subject: third\n\nok\n");
        mbox.sync().unwrap();
        let parsed = parse_mboxrd(&fs::read(mbox.path()).unwrap());
        let bodies: Vec<&[u8]> = parsed.iter().map(|(_, m)| &m[..]).collect();
        assert_eq!(
            bodies,
            [&b"Subject: first\n\nok\n"[..], b"Subject: third\n\nok\n"]
        );
        assert_eq!(mbox.recover(&first).unwrap(), Recovered::Delivered);
        assert_eq!(mbox.recover(&loc).unwrap(), Recovered::Missing);
    }

    #[test]
    fn append_failure_truncates_back() {
        let (_dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: before\n\n");
        mbox.sync().unwrap();
        let before = fs::read(mbox.path()).unwrap();
        let a = deliver(&mut mbox, b"Subject: a\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
        let b = deliver(&mut mbox, &vec![b'y'; 300_000]);
        mbox.fault = Some(Fault::FailAppendAfter(100_000));
        let err = mbox.sync().unwrap_err();
        assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
        assert!(err.to_string().contains("inbox"), "{err}");
        assert_eq!(fs::read(mbox.path()).unwrap(), before);
        assert!(!mbox.lock_path.exists());
        // Both are reported missing (fetched again), nothing is left behind.
        mbox.fault = None;
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        assert_eq!(fresh.recover(&a).unwrap(), Recovered::Missing);
        assert_eq!(fresh.recover(&b).unwrap(), Recovered::Missing);
        assert_eq!(fs::read(mbox.path()).unwrap(), before);
        // The target keeps working.
        deliver(&mut mbox, b"Subject: after\n\n");
        mbox.sync().unwrap();
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 2);
    }

    #[test]
    fn staged_messages_vanish_on_drop() {
        let (_dir, mut mbox) = open_temp();
        let path = mbox.path().to_path_buf();
        let loc = deliver(&mut mbox, b"Subject: never synced\n\n");
        let stage = mbox.stage_path(&mbox.token);
        assert!(stage.exists());
        drop(mbox);
        assert!(!stage.exists());
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        let mut again = Mbox::open(&path).unwrap();
        assert_eq!(again.recover(&loc).unwrap(), Recovered::Missing);
    }

    /// Delivers three messages, then "kills" the process at `fault`, and recovers with a new
    /// value. Returns (before, locations, results, mbox bytes after recovery).
    fn crash_and_recover(
        fault: Fault,
        between: Option<&[u8]>,
    ) -> (Vec<u8>, Vec<u8>, Vec<Recovered>, tempfile::TempDir) {
        let (dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: earlier\n\nkept\n");
        mbox.sync().unwrap();
        let before = fs::read(mbox.path()).unwrap();
        let locs: Vec<String> = (0..3)
            .map(|i| {
                let body = format!("Subject: {i}\n\nFrom body {i}\n{}\n", "z".repeat(1000 * i));
                deliver(&mut mbox, body.as_bytes())
            })
            .collect();
        mbox.fault = Some(fault);
        assert!(mbox.sync().is_err());
        let path = mbox.path().to_path_buf();
        // kill -9: no destructor runs. (The simulated crash released the locks, as the
        // kernel and the stale-lock check would.)
        std::mem::forget(mbox);
        let crashed = fs::read(&path).unwrap();
        if let Some(extra) = between {
            let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(extra).unwrap();
        }
        let mut fresh = Mbox::open(&path).unwrap();
        let results: Vec<Recovered> = locs.iter().map(|l| fresh.recover(l).unwrap()).collect();
        // Asking again gives the same answers.
        let again: Vec<Recovered> = locs.iter().map(|l| fresh.recover(l).unwrap()).collect();
        assert_eq!(results, again);
        let mut third = Mbox::open(&path).unwrap();
        let again: Vec<Recovered> = locs.iter().map(|l| third.recover(l).unwrap()).collect();
        assert_eq!(results, again);
        let _ = before;
        (crashed, fs::read(&path).unwrap(), results, dir)
    }

    /// Checks the promise: every message is either Delivered and completely in the mbox
    /// exactly once, or Missing and not in it at all.
    fn check_promise(after: &[u8], results: &[Recovered], extra: usize) {
        let parsed = parse_mboxrd(after);
        assert_eq!(parsed[0].1, b"Subject: earlier\n\nkept\n");
        let delivered = results
            .iter()
            .filter(|&&r| r == Recovered::Delivered)
            .count();
        assert_eq!(parsed.len(), 1 + delivered + extra, "{parsed:?}");
        for (i, r) in results.iter().enumerate() {
            let body = format!("Subject: {i}\n\nFrom body {i}\n{}\n", "z".repeat(1000 * i));
            let n = parsed.iter().filter(|(_, m)| *m == body.as_bytes()).count();
            match r {
                Recovered::Delivered => assert_eq!(n, 1, "message {i}"),
                Recovered::Missing => {
                    assert_eq!(n, 0, "message {i}");
                    let head = format!("Subject: {i}\n");
                    assert!(
                        !parsed.iter().any(|(_, m)| m.starts_with(head.as_bytes())),
                        "partial message {i} left"
                    );
                }
            }
        }
    }

    #[test]
    fn crash_after_intent_recovers_missing() {
        let (crashed, after, results, _d) = crash_and_recover(Fault::CrashAfterIntent, None);
        assert_eq!(crashed, after);
        assert_eq!(results, [Recovered::Missing; 3]);
        check_promise(&after, &results, 0);
    }

    #[test]
    fn crash_mid_append_keeps_complete_and_removes_partial() {
        // The From line and first message are about 80 bytes; the second ends near 1150.
        for cut in [0u64, 1, 30, 79, 80, 81, 500, 1200, 2000, 3180] {
            let (crashed, after, results, _d) =
                crash_and_recover(Fault::CrashAfterAppend(cut), None);
            check_promise(&after, &results, 0);
            assert!(after.len() <= crashed.len(), "cut {cut}");
            let delivered = results
                .iter()
                .filter(|&&r| r == Recovered::Delivered)
                .count();
            assert!(delivered < 3 || cut >= 3180, "cut {cut}: {results:?}");
            // The complete ones are a prefix of the batch.
            let first_missing = results.iter().position(|&r| r == Recovered::Missing);
            if let Some(i) = first_missing {
                assert!(results[i..].iter().all(|&r| r == Recovered::Missing));
            }
        }
    }

    #[test]
    fn crash_before_commit_finds_all_delivered() {
        let (crashed, after, results, _d) = crash_and_recover(Fault::CrashBeforeCommit, None);
        assert_eq!(crashed, after);
        assert_eq!(results, [Recovered::Delivered; 3]);
        check_promise(&after, &results, 0);
    }

    #[test]
    fn crash_then_foreign_append_is_never_removed() {
        let foreign = b"From other@x Thu Jan  1 00:00:00 1970\nSubject: foreign\n\nhi\n\n";
        let (_crashed, after, results, _d) =
            crash_and_recover(Fault::CrashAfterAppend(1500), Some(foreign));
        // The first two messages (about 1150 bytes) are complete; the partial third is
        // followed by foreign mail, so it cannot be proven ours and stays (a garbage fragment,
        // but no loss).
        assert_eq!(
            results,
            [
                Recovered::Delivered,
                Recovered::Delivered,
                Recovered::Missing
            ]
        );
        assert!(after.windows(10).any(|w| w == b"Subject: 2"));
        assert!(after.ends_with(foreign));
        // With everything complete, foreign mail after it does not matter either.
        let (_c, after, results, _d) = crash_and_recover(Fault::CrashBeforeCommit, Some(foreign));
        assert_eq!(results, [Recovered::Delivered; 3]);
        assert!(after.ends_with(foreign));
        check_promise(&after, &results, 1);
    }

    /// The child side of [`kill9_never_loses_or_doubles`]: delivers batches forever, writing
    /// each location to a ledger file (fsynced) before delivering it, and `D location` after
    /// the batch is synced — as the engine does with the real ledger.
    #[test]
    #[ignore = "run by kill9_never_loses_or_doubles as a child process"]
    fn kill9_child() {
        let Some(dir) = std::env::var_os("MAILPULL_KILL9_DIR") else {
            return;
        };
        let dir = PathBuf::from(dir);
        let mut ledger = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join("ledger"))
            .unwrap();
        let mut mbox = Mbox::open(&dir.join("inbox")).unwrap();
        let mut rng = fastrand::Rng::new();
        loop {
            let n = rng.usize(1..5);
            let locs: Vec<String> = (0..n).map(|_| mbox.reserve().unwrap()).collect();
            let text: String = locs.iter().map(|l| format!("R {l}\n")).collect();
            ledger.write_all(text.as_bytes()).unwrap();
            ledger.sync_data().unwrap();
            for loc in &locs {
                mbox.deliver(loc, &info(), &mut &kill9_body(loc)[..])
                    .unwrap();
            }
            mbox.sync().unwrap();
            let text: String = locs.iter().map(|l| format!("D {l}\n")).collect();
            ledger.write_all(text.as_bytes()).unwrap();
        }
    }

    /// A message naming its location, of a size derived from it (up to ~300 KB).
    fn kill9_body(loc: &str) -> Vec<u8> {
        let n: usize = loc.bytes().map(|b| b as usize).sum::<usize>() * 7919 % 300_000;
        let mut body =
            format!("Return-Path: <k@x>\nSubject: {loc}\n\nFrom the start\n").into_bytes();
        body.extend(std::iter::repeat_n(b'k', n));
        body.push(b'\n');
        body
    }

    #[test]
    fn kill9_never_loses_or_doubles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut rng = fastrand::Rng::new();
        // Location → whether it is in the mbox (delivered) or not (missing).
        let mut resolved: HashMap<String, bool> = HashMap::new();
        // Recovered missing, recovered delivered, partial leftovers removed.
        let mut stats = [0usize; 3];
        for round in 0..12 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "deliver::mbox::tests::kill9_child", "--ignored"])
                .env("MAILPULL_KILL9_DIR", dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.u64(30..250)));
            child.kill().unwrap();
            child.wait().unwrap();
            // Recover what the ledger left "fetching", as the engine does.
            let ledger = fs::read_to_string(dir.path().join("ledger")).unwrap_or_default();
            let mut pending: Vec<String> = Vec::new();
            for line in ledger.lines() {
                match line.split_once(' ') {
                    Some(("R", l)) if !resolved.contains_key(l) => pending.push(l.to_string()),
                    Some(("D", l)) => {
                        pending.retain(|p| p != l);
                        resolved.insert(l.to_string(), true);
                    }
                    _ => {}
                }
            }
            let len_before = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let mut mbox = Mbox::open(&path).unwrap();
            for loc in pending {
                let r = mbox.recover(&loc).unwrap();
                stats[usize::from(r == Recovered::Delivered)] += 1;
                resolved.insert(loc, r == Recovered::Delivered);
            }
            if fs::metadata(&path).unwrap().len() < len_before {
                stats[2] += 1;
            }
            drop(mbox);
            // Every message is there exactly once, or not at all; nothing partial.
            let data = fs::read(&path).unwrap();
            let parsed = parse_mboxrd(&data);
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (sender, msg) in &parsed {
                assert_eq!(sender, "k@x");
                let subject = String::from_utf8_lossy(&msg[..msg.len().min(200)])
                    .lines()
                    .nth(1)
                    .and_then(|l| l.strip_prefix("Subject: "))
                    .unwrap()
                    .to_string();
                assert!(
                    *msg == kill9_body(&subject),
                    "round {round}: {subject} damaged ({} bytes)",
                    msg.len()
                );
                *seen.entry(subject).or_default() += 1;
            }
            for (loc, &delivered) in &resolved {
                let count = seen.get(loc).copied().unwrap_or(0);
                assert_eq!(count, usize::from(delivered), "round {round}: {loc}");
            }
            assert!(
                seen.keys().all(|l| resolved.contains_key(l)),
                "round {round}"
            );
        }
        let delivered = resolved.values().filter(|&&d| d).count();
        assert!(delivered > 0, "the child never delivered anything");
        eprintln!(
            "kill9: {delivered} delivered; at recovery {} missing, {} delivered; \
             {} partial leftovers removed",
            stats[0], stats[1], stats[2]
        );
    }

    #[test]
    fn committed_batches_survive_mailbox_rewrites() {
        let (_dir, mut mbox) = open_temp();
        let loc = deliver(&mut mbox, b"Subject: x\n\n");
        mbox.sync().unwrap();
        // The user deletes everything with their mail reader before the ledger was updated.
        fs::write(mbox.path(), b"").unwrap();
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        assert_eq!(fresh.recover(&loc).unwrap(), Recovered::Delivered);
        let unknown = format!("{}Q99", fresh.token);
        assert_eq!(fresh.recover(&unknown).unwrap(), Recovered::Missing);
    }

    #[test]
    fn orphan_staging_files_are_cleaned_up() {
        let (_dir, mbox) = open_temp();
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let empty_dead = mbox.stage_path(&format!("1P{dead}N1"));
        let full_dead = mbox.stage_path(&format!("1P{dead}N2"));
        let empty_live = mbox.stage_path(&format!("1P{}N3", std::process::id()));
        fs::write(&empty_dead, b"").unwrap();
        fs::write(&full_dead, b"needed by recovery").unwrap();
        fs::write(&empty_live, b"").unwrap();
        let name = empty_dead
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(".inbox.mailpull-stage."), "{name}");
        Mbox::open(mbox.path()).unwrap();
        assert!(!empty_dead.exists());
        assert!(full_dead.exists());
        assert!(empty_live.exists());
        // Recovery of a committed batch of a dead run removes its staging file.
        let (dir2, mut other) = open_temp();
        let loc = deliver(&mut other, b"Subject: x\n\n");
        other.sync().unwrap();
        let token = other.token.clone();
        let path = other.path().to_path_buf();
        std::mem::forget(other);
        // Pretend it was another process: rename its journal entries to a dead pid.
        let dead_token = format!("1P{dead}N9");
        let journal = hidden_sibling(&path, ".mailpull-journal");
        let text = fs::read_to_string(&journal)
            .unwrap()
            .replace(&token, &dead_token);
        fs::write(&journal, text).unwrap();
        let stage = hidden_sibling(&path, &format!(".mailpull-stage.{dead_token}"));
        fs::write(&stage, b"leftover").unwrap();
        let dead_loc = loc.replace(&token, &dead_token);
        let mut fresh = Mbox::open(&path).unwrap();
        assert_eq!(fresh.recover(&dead_loc).unwrap(), Recovered::Delivered);
        assert!(!stage.exists());
        drop(dir2);
    }

    #[test]
    fn torn_journal_lines_are_ignored() {
        let (_dir, mut mbox) = open_temp();
        let loc = deliver(&mut mbox, b"Subject: x\n\n");
        mbox.sync().unwrap();
        let mut j = fs::OpenOptions::new()
            .append(true)
            .open(&mbox.journal_path)
            .unwrap();
        j.write_all(b"garbage line\nM 1P2N3 0 1P2N3Q0 0 10 abc\nB 1P2N3 0 5 0 0")
            .unwrap();
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        assert_eq!(fresh.recover(&loc).unwrap(), Recovered::Delivered);
        assert_eq!(fresh.recover("1P2N3Q0").unwrap(), Recovered::Missing);
    }

    #[test]
    fn invalid_locations_are_refused() {
        let (_dir, mut mbox) = open_temp();
        for bad in [
            "",
            "x",
            "1P2N3",
            "1P2N3Q",
            "1P2N3Qx",
            "../1P2N3Q1",
            "1P2N3Q1 2",
            "1N2P3Q4",
        ] {
            let err = mbox.deliver(bad, &info(), &mut &b"x"[..]).unwrap_err();
            assert!(matches!(err, DeliverError::Local { .. }), "{bad:?}");
            assert!(mbox.recover(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserve_is_unique_across_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10 {
            let mut mbox = Mbox::open(&path).unwrap();
            for _ in 0..100 {
                let loc = mbox.reserve().unwrap();
                check_location(&loc).unwrap();
                assert!(seen.insert(loc));
            }
        }
    }

    #[test]
    fn journal_is_compacted() {
        let (_dir, mut mbox) = open_temp();
        mbox.journal_compact_at = 4096;
        let mut locs = Vec::new();
        for i in 0..200 {
            locs.push(deliver(&mut mbox, format!("Subject: {i}\n\n").as_bytes()));
            mbox.sync().unwrap();
            assert!(fs::metadata(&mbox.journal_path).unwrap().len() < 4096 + 1024);
        }
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        // The newest are still known; the oldest were compacted away.
        assert_eq!(fresh.recover(&locs[199]).unwrap(), Recovered::Delivered);
        assert_eq!(fresh.recover(&locs[195]).unwrap(), Recovered::Delivered);
        assert_eq!(fresh.recover(&locs[0]).unwrap(), Recovered::Missing);
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 200);
        // Old batches are dropped by age as well.
        let mut old = Journal::parse(&fs::read(&mbox.journal_path).unwrap());
        assert!(!old.batches.is_empty());
        let text: String = old
            .batches
            .iter_mut()
            .map(|b| {
                b.time = 1000;
                b.serialize()
            })
            .collect::<String>()
            + &"x".repeat(5000)
            + "\n";
        fs::write(&mbox.journal_path, text).unwrap();
        let last = deliver(&mut mbox, b"Subject: newest\n\n");
        mbox.sync().unwrap();
        let kept = Journal::parse(&fs::read(&mbox.journal_path).unwrap());
        assert_eq!(kept.batches.len(), 1);
        assert!(kept.by_id.contains_key(&last));
    }

    #[test]
    fn sync_waits_for_a_dotlock() {
        let (_dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: x\n\n");
        let lock = mbox.lock_path.clone();
        fs::write(&lock, b"").unwrap();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            fs::remove_file(&lock).unwrap();
        });
        let start = Instant::now();
        mbox.sync().unwrap();
        let waited = start.elapsed();
        holder.join().unwrap();
        assert!(waited >= Duration::from_millis(290), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 1);
        assert!(!mbox.lock_path.exists());
    }

    #[test]
    fn lock_timeout_is_a_clear_error() {
        let (_dir, mbox) = open_temp();
        let mut mbox = mbox.with_lock_timeout(Duration::from_millis(200));
        let loc = deliver(&mut mbox, b"Subject: x\n\n");
        fs::write(&mbox.lock_path, b"").unwrap();
        let err = mbox.sync().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("lock") && text.contains("inbox.lock"),
            "{text}"
        );
        match &err {
            DeliverError::Local { source, .. } => {
                assert_eq!(source.kind(), io::ErrorKind::TimedOut)
            }
            other => panic!("{other:?}"),
        }
        // The lock file is not ours: it stays. Nothing was written.
        assert!(mbox.lock_path.exists());
        assert_eq!(fs::metadata(mbox.path()).unwrap().len(), 0);
        fs::remove_file(&mbox.lock_path).unwrap();
        assert_eq!(mbox.recover(&loc).unwrap(), Recovered::Missing);
    }

    #[test]
    fn stale_dotlocks_are_removed() {
        let (_dir, mbox) = open_temp();
        let mut mbox = mbox.with_lock_timeout(Duration::from_secs(2));
        // Old.
        deliver(&mut mbox, b"Subject: 1\n\n");
        fs::write(&mbox.lock_path, b"").unwrap();
        let old = SystemTime::now() - Duration::from_secs(600);
        File::options()
            .write(true)
            .open(&mbox.lock_path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let start = Instant::now();
        mbox.sync().unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
        // Naming a dead process of this host.
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        deliver(&mut mbox, b"Subject: 2\n\n");
        fs::write(&mbox.lock_path, format!("{dead}:{}\n", mbox.hostname)).unwrap();
        let start = Instant::now();
        mbox.sync().unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
        // Naming a live process (ours): honoured.
        deliver(&mut mbox, b"Subject: 3\n\n");
        fs::write(
            &mbox.lock_path,
            format!("{}:{}\n", std::process::id(), mbox.hostname),
        )
        .unwrap();
        let mut mbox = mbox.with_lock_timeout(Duration::from_millis(100));
        assert!(mbox.sync().is_err());
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 2);
    }

    #[test]
    fn sync_waits_for_an_fcntl_lock() {
        if !python3() {
            eprintln!("python3 not available; skipped");
            return;
        }
        let (dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: x\n\n");
        let ready = dir.path().join("ready");
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(
                "import fcntl, sys, time\n\
                 f = open(sys.argv[1], 'a')\n\
                 fcntl.lockf(f, fcntl.LOCK_EX)\n\
                 open(sys.argv[2], 'w').close()\n\
                 time.sleep(0.5)\n",
            )
            .arg(mbox.path())
            .arg(&ready)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "python did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        let start = Instant::now();
        mbox.sync().unwrap();
        let waited = start.elapsed();
        child.wait().unwrap();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 1);
    }

    #[test]
    fn concurrent_writers_do_not_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        Mbox::open(&path).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut mbox = Mbox::open(&path).unwrap();
                    for i in 0..20 {
                        let body = format!("Subject: {t}-{i}\n\n{}\n", "From x\n".repeat(500));
                        deliver(&mut mbox, body.as_bytes());
                        if i % 3 == 0 {
                            mbox.sync().unwrap();
                        }
                    }
                    mbox.sync().unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let parsed = parse_mboxrd(&fs::read(&path).unwrap());
        assert_eq!(parsed.len(), 80);
        for (_, m) in &parsed {
            assert!(m.ends_with(format!("{}\n", "From x\n".repeat(500)).as_bytes()));
        }
    }

    #[test]
    fn spool_keeps_head_in_memory_and_spills() {
        let dir = tempfile::tempdir().unwrap();
        let mut msg = b"Return-Path: <s@x>\n\n".to_vec();
        msg.extend((0..5000u32).map(|i| (i % 251) as u8));
        let spool = Spool::fill_in(&mut &msg[..], dir.path(), 1000).unwrap();
        assert_eq!(spool.len(), msg.len() as u64);
        assert!(spool.file.is_some());
        assert_eq!(spool.sender(), Some(b"s@x".to_vec()));
        // The spill file is already unlinked.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut back = Vec::new();
        spool.into_reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, msg);
        let small = Spool::fill_in(&mut &b"abc"[..], dir.path(), 1000).unwrap();
        assert!(small.file.is_none());
        assert_eq!(small.head(), (&b"abc"[..], true));
        match Spool::fill_in(&mut Broken { ok: 10 }, dir.path(), 4) {
            Err(CopyError::Read(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("{:?}", other.map(|s| s.len())),
        }
        match Spool::fill_in(&mut &msg[..], &dir.path().join("missing"), 4) {
            Err(CopyError::Write(e)) => assert!(e.to_string().contains("missing"), "{e}"),
            other => panic!("{:?}", other.map(|s| s.len())),
        }
    }
}
