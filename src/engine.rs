//! The fetch engine: list → consult ledger → retrieve → deliver → record → delete → commit.
//!
//! It is the one place that keeps mailpull's promises, for every protocol (through
//! [`Source`]) and every delivery target (through [`Deliver`]). The order of operations, and
//! why each promise holds even if the process is killed at any instant:
//!
//! 1. **Recover** ([`recover`], before connecting). Rows left in state `fetching` by an
//!    interrupted run are resolved by asking the target whether their reserved location holds
//!    a complete message: yes → `delivered` (it will not be downloaded again), no → the row is
//!    dropped (the message was not delivered; it is still on the server, since a message is
//!    never deleted before it is `delivered`). Partial leftovers are removed by the target.
//! 2. **List** the server's messages and load the account's ledger rows in one query.
//! 3. **Plan.** A listed message with a `delivered` row is never downloaded again; in delete
//!    mode it is deleted straight away (this finishes a session that died before QUIT took
//!    effect, without a second download). Every other message is new.
//! 4. **Reserve.** One transaction writes a `fetching` row with a reserved location for every
//!    new message, before any download starts. From here on, a kill leaves either nothing at
//!    the location (→ fetched again next time; nothing was deleted) or a complete message
//!    (→ recorded at recovery; never fetched twice).
//! 5. **Retrieve and deliver**, streamed: the target writes the whole message (Maildir:
//!    into `tmp/`). A broken stream leaves nothing behind and nothing recorded.
//! 6. **Record** in batches: [`Deliver::sync`] makes the batch durable and visible (Maildir:
//!    fsync each file, rename into `new/`, fsync `new/`), then one transaction marks the batch
//!    `delivered`. A batch is closed every [`BATCH_MESSAGES`] messages or
//!    [`BATCH_INTERVAL`], and at the end.
//! 7. **Delete.** Only messages of a recorded batch are handed back to the protocol for
//!    deletion, in the same session that retrieved them, pipelined with further retrievals.
//! 8. **Commit.** The protocol ends the session (POP3 QUIT); only its confirmation makes the
//!    deletions real, and only then are they noted (`deleted_at`) and the rows of messages the
//!    server no longer lists pruned. If the session dies before that, the rows are still
//!    `delivered`, so step 3 of the next run deletes them again without downloading them.
//!
//! Targets whose deliveries cannot be verified after a crash (an MDA, stdout) are recorded one
//! message at a time, so that a kill can at worst repeat the one message in flight.
//!
//! Killing the process therefore costs at most a repeated delete: never a lost message (no
//! delete before durable delivery and record) and never a second copy (every delivered
//! message is either recorded or found by recovery before anything is fetched).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::deliver::{Deliver, DeliverError, MessageInfo, Recovered};
use crate::exit::{Classify, Exit};
use crate::ledger::{Ledger, LedgerError, MessageKey, NewEntry, State};
use crate::source::{RemoteMessage, Sink, SinkError, Source, SourceError};

/// Close a batch after this many delivered messages…
pub const BATCH_MESSAGES: usize = 256;
/// …or when the oldest unrecorded delivery is this old.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(250);

/// What can stop a fetch.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Another run holds the account's lock.
    #[error("{0}")]
    Busy(String),
    /// The delivery target refused some messages (e.g. the MDA failed); they stay on the
    /// server and are tried again next run.
    #[error("{count} message(s) could not be delivered and stay on the server (first: {first})")]
    NotDelivered { count: usize, first: String },
    /// The server refused to hand out some messages; they stay on the server.
    #[error("the server refused to send {count} message(s); they were left on the server (first: message {first}: {reply})")]
    Refused {
        count: usize,
        first: String,
        reply: String,
    },
}

impl Classify for EngineError {
    fn exit(&self) -> Exit {
        match self {
            EngineError::Source(e) => e.exit(),
            EngineError::Deliver(e) => e.exit(),
            EngineError::Ledger(e) => e.exit(),
            EngineError::Busy(_) => Exit::TempFail,
            EngineError::NotDelivered { .. } => Exit::IoErr,
            EngineError::Refused { .. } => Exit::Protocol,
        }
    }
}

/// Progress reporting hooks (a progress bar, or nothing).
pub trait Progress {
    /// The transfer is about to start: `messages` new messages of `bytes` bytes in all.
    fn start(&mut self, messages: u64, bytes: u64);
    /// `n` more bytes of the current message arrived.
    fn bytes(&mut self, n: u64);
    /// One message was delivered.
    fn message_done(&mut self);
    /// The transfer is over.
    fn finish(&mut self);
}

/// A progress reporter that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: u64, _: u64) {}
    fn bytes(&mut self, _: u64) {}
    fn message_done(&mut self) {}
    fn finish(&mut self) {}
}

/// What a fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages on the server.
    pub listed: usize,
    /// Messages delivered in this run.
    pub new: usize,
    /// Bytes delivered in this run.
    pub bytes: u64,
    /// Deletions the server confirmed (at the end of the session), all reasons together.
    pub deleted: usize,
    /// Of those, messages deleted without being downloaded (`delete_larger_than`).
    pub deleted_unread: usize,
    /// New messages left on the server because they are larger than `skip_larger_than`.
    pub skipped: usize,
    /// New messages left for a later run by `max_messages`.
    pub deferred: usize,
    /// Messages delivered before an interruption and found again at recovery.
    pub recovered: usize,
}

/// The result of a fetch: what was done, and what went wrong, if anything. Even a failed
/// fetch may have delivered messages.
#[derive(Debug)]
pub struct Outcome {
    pub summary: Summary,
    pub error: Option<EngineError>,
}

/// Settings of one fetch.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchSettings {
    /// Leave messages on the server.
    pub keep: bool,
    /// Keep mode: delete messages delivered at least this long ago.
    pub delete_after: Option<Duration>,
    /// Leave new messages larger than this on the server.
    pub skip_larger_than: Option<u64>,
    /// Delete new messages larger than this without downloading them.
    pub delete_larger_than: Option<u64>,
    /// Download at most this many new messages.
    pub max_messages: Option<usize>,
}

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// Messages on the server.
    pub listed: usize,
    /// Messages not yet delivered.
    pub new: usize,
    /// Their size in bytes.
    pub bytes: u64,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn pop3_key(uid: &str) -> MessageKey {
    MessageKey {
        mailbox: String::new(),
        uidvalidity: 0,
        uid: uid.to_string(),
    }
}

/// Step 1: resolves the rows an interrupted run left in state `fetching`. Returns how many
/// turned out to be delivered.
pub fn recover(
    ledger: &mut Ledger,
    account: i64,
    target: &mut dyn Deliver,
) -> Result<usize, EngineError> {
    let rows = ledger.unresolved(account)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut delivered = Vec::new();
    let mut missing = Vec::new();
    for row in rows {
        match target.recover(&row.location)? {
            Recovered::Delivered => delivered.push(row.key),
            Recovered::Missing => missing.push(row.key),
        }
    }
    log::info!(
        "recovered from an interrupted run: {} message(s) had been delivered, {} had not",
        delivered.len(),
        missing.len()
    );
    if !delivered.is_empty() {
        target.sync()?;
        ledger.mark_delivered(account, &delivered, now())?;
    }
    ledger.forget(account, &missing)?;
    Ok(delivered.len())
}

/// Counts the messages on the server that the ledger does not know as delivered, without
/// downloading or changing anything, and ends the session.
pub fn check(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
) -> Result<CheckSummary, EngineError> {
    let listing = source.list()?;
    let known = ledger.entries(account, "")?;
    let mut summary = CheckSummary {
        listed: listing.len(),
        ..Default::default()
    };
    for m in &listing {
        if !known
            .get(&m.uid)
            .is_some_and(|e| e.state == State::Delivered)
        {
            summary.new += 1;
            summary.bytes += m.size;
        }
    }
    source.finish()?;
    Ok(summary)
}

/// Steps 2–8 over a logged-in `source`. Call [`recover`] first.
pub fn fetch(
    source: &mut dyn Source,
    ledger: &mut Ledger,
    account: i64,
    target: &mut dyn Deliver,
    settings: FetchSettings,
    progress: &mut dyn Progress,
) -> Outcome {
    let mut summary = Summary::default();
    let error = run(
        source,
        ledger,
        account,
        target,
        settings,
        progress,
        &mut summary,
    )
    .err();
    Outcome { summary, error }
}

fn run(
    source: &mut dyn Source,
    ledger: &mut Ledger,
    account: i64,
    target: &mut dyn Deliver,
    settings: FetchSettings,
    progress: &mut dyn Progress,
    summary: &mut Summary,
) -> Result<(), EngineError> {
    // 2. List.
    let listing = source.list()?;
    summary.listed = listing.len();
    let known = ledger.entries(account, "")?;

    // 3. Plan.
    let mut delete_now = Vec::new();
    let mut retrieve = Vec::new();
    let mut unread: HashSet<String> = HashSet::new();
    let now_secs = now();
    for m in listing.iter() {
        match known.get(&m.uid) {
            Some(e) if e.state == State::Delivered => {
                let aged = settings.delete_after.is_some_and(|age| {
                    now_secs.saturating_sub(e.delivered_at) >= age.as_secs() as i64
                });
                if !settings.keep || aged {
                    delete_now.push(m.clone());
                }
            }
            _ if settings.delete_larger_than.is_some_and(|l| m.size > l) => {
                unread.insert(m.uid.clone());
                delete_now.push(m.clone());
            }
            _ if settings.skip_larger_than.is_some_and(|l| m.size > l) => summary.skipped += 1,
            _ if settings.max_messages.is_some_and(|n| retrieve.len() >= n) => {
                summary.deferred += 1
            }
            _ => retrieve.push(m.clone()),
        }
    }
    log::debug!(
        "{} message(s) on the server, {} new, {} already delivered to delete",
        listing.len(),
        retrieve.len(),
        delete_now.len()
    );

    // 4. Reserve.
    let mut reserved = Vec::with_capacity(retrieve.len());
    for m in &retrieve {
        let location = target.reserve().map_err(|e| DeliverError::Local {
            target: target.describe(),
            source: e,
        })?;
        reserved.push(NewEntry {
            key: pop3_key(&m.uid),
            size: m.size,
            location,
            message_id: None,
        });
    }
    if !reserved.is_empty() {
        ledger.begin_fetch(account, &reserved)?;
    }
    let locations: HashMap<String, String> = reserved
        .iter()
        .map(|r| (r.key.uid.clone(), r.location.clone()))
        .collect();

    // 5–7. Retrieve, deliver, record, delete.
    progress.start(retrieve.len() as u64, retrieve.iter().map(|m| m.size).sum());
    let batch_limit = if target.verifiable() {
        BATCH_MESSAGES
    } else {
        1
    };
    let mut sink = EngineSink {
        ledger: &mut *ledger,
        account,
        target: &mut *target,
        locations,
        keep: settings.keep,
        batch_limit,
        progress: &mut *progress,
        unrecorded: Vec::new(),
        oldest_unrecorded: None,
        releasable: Vec::new(),
        delivered: HashSet::new(),
        rejected: Vec::new(),
        failure: None,
        summary: &mut *summary,
    };
    let transfer = source.transfer(&delete_now, &retrieve, &mut sink);
    // Record whatever was delivered, whatever happened to the connection.
    sink.record();
    let sink_failure = sink.failure.take();
    let delivered = std::mem::take(&mut sink.delivered);
    let rejected = std::mem::take(&mut sink.rejected);
    drop(sink);
    progress.finish();

    // Reservations that were not delivered go back to "unknown" (no file exists for them:
    // a target removes partial deliveries itself). A delivered message whose record failed
    // keeps its `fetching` row, so that recovery finds it.
    let undelivered: Vec<MessageKey> = reserved
        .iter()
        .filter(|r| !delivered.contains(&r.key.uid))
        .map(|r| r.key.clone())
        .collect();
    if !undelivered.is_empty() {
        ledger.forget(account, &undelivered)?;
    }

    let report = transfer?;

    // 8. Commit: end the session so that the deletions take effect.
    source.finish()?;
    if !report.deleted.is_empty() {
        let keys: Vec<MessageKey> = report.deleted.iter().map(|m| pop3_key(&m.uid)).collect();
        ledger.mark_deleted(account, &keys, now())?;
        summary.deleted = keys.len();
        summary.deleted_unread = report
            .deleted
            .iter()
            .filter(|m| unread.contains(&m.uid))
            .count();
    }
    let present: HashSet<String> = listing.iter().map(|m| m.uid.clone()).collect();
    let pruned = ledger.prune(account, "", &present)?;
    if pruned > 0 {
        log::debug!("pruned {pruned} ledger entries the server no longer lists");
    }
    if let Some(e) = sink_failure {
        return Err(e);
    }
    if let Some(first) = rejected.first() {
        return Err(EngineError::NotDelivered {
            count: rejected.len(),
            first: first.clone(),
        });
    }
    if let Some((m, reply)) = report.refused.first() {
        return Err(EngineError::Refused {
            count: report.refused.len(),
            first: format!("{} ({})", m.number, m.uid),
            reply: reply.clone(),
        });
    }
    Ok(())
}

/// The engine's side of a transfer: delivers, records in batches, releases deletions.
struct EngineSink<'a> {
    ledger: &'a mut Ledger,
    account: i64,
    target: &'a mut dyn Deliver,
    locations: HashMap<String, String>,
    keep: bool,
    /// Record after this many deliveries.
    batch_limit: usize,
    progress: &'a mut dyn Progress,
    /// Written to the target, not yet synced and recorded (with their sizes).
    unrecorded: Vec<(RemoteMessage, u64)>,
    oldest_unrecorded: Option<Instant>,
    /// Recorded, may be deleted.
    releasable: Vec<RemoteMessage>,
    /// Uids delivered in this run (recorded or not).
    delivered: HashSet<String>,
    /// Messages the target refused (not fatal for the others).
    rejected: Vec<String>,
    /// The first fatal failure (delivery target or ledger).
    failure: Option<EngineError>,
    summary: &'a mut Summary,
}

impl EngineSink<'_> {
    /// Step 6: makes the deliveries so far durable and records them; on success they become
    /// releasable for deletion.
    fn record(&mut self) {
        if self.unrecorded.is_empty() || self.failure.is_some() {
            return;
        }
        let keys: Vec<MessageKey> = self
            .unrecorded
            .iter()
            .map(|(m, _)| pop3_key(&m.uid))
            .collect();
        let result = self.target.sync().map_err(EngineError::from).and_then(|_| {
            self.ledger
                .mark_delivered(self.account, &keys, now())
                .map_err(EngineError::from)
        });
        match result {
            Ok(()) => {
                let batch = std::mem::take(&mut self.unrecorded);
                self.summary.new += batch.len();
                self.summary.bytes += batch.iter().map(|(_, b)| b).sum::<u64>();
                if !self.keep {
                    self.releasable.extend(batch.into_iter().map(|(m, _)| m));
                }
                self.oldest_unrecorded = None;
            }
            // The messages stay `fetching` in the ledger; recovery will find them.
            Err(e) => self.failure = Some(e),
        }
    }
}

/// Counts bytes for the progress bar.
struct Counted<'a> {
    inner: &'a mut dyn Read,
    progress: &'a mut dyn Progress,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

impl Sink for EngineSink<'_> {
    fn message(&mut self, msg: &RemoteMessage, body: &mut dyn Read) -> Result<(), SinkError> {
        if self.failure.is_some() {
            return Err(SinkError { fatal: true });
        }
        let Some(location) = self.locations.get(&msg.uid) else {
            // Not something we asked for: never deliver unplanned data.
            return Err(SinkError { fatal: false });
        };
        let info = MessageInfo {
            uid: msg.uid.clone(),
            size: msg.size,
        };
        let mut counted = Counted {
            inner: body,
            progress: &mut *self.progress,
        };
        match self.target.deliver(location, &info, &mut counted) {
            Ok(bytes) => {
                self.progress.message_done();
                self.delivered.insert(msg.uid.clone());
                self.unrecorded.push((msg.clone(), bytes));
                let oldest = *self.oldest_unrecorded.get_or_insert_with(Instant::now);
                if self.unrecorded.len() >= self.batch_limit || oldest.elapsed() >= BATCH_INTERVAL {
                    self.record();
                }
                if self.failure.is_some() {
                    return Err(SinkError { fatal: true });
                }
                Ok(())
            }
            // The source knows its stream broke and reports it.
            Err(DeliverError::Body(_)) => Err(SinkError { fatal: false }),
            // This message was refused (an MDA failed): it stays on the server; go on.
            Err(e) if !e.is_fatal() => {
                log::error!("message {}: {e}; it stays on the server", msg.uid);
                self.rejected.push(format!("message {}: {e}", msg.uid));
                Err(SinkError { fatal: false })
            }
            Err(e) => {
                // Record what was delivered before, then stop.
                self.record();
                if self.failure.is_none() {
                    self.failure = Some(e.into());
                }
                Err(SinkError { fatal: true })
            }
        }
    }

    fn take_deletes(&mut self, all: bool) -> Vec<RemoteMessage> {
        if all {
            self.record();
        }
        std::mem::take(&mut self.releasable)
    }
}
