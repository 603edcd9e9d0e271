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
//! 2. **List** the server's messages and compare them with the account's ledger rows in one
//!    streaming scan (`known.rs`). In keep mode, an IMAP folder with a confirmed resume point
//!    (`ledger/resume.rs`) is listed only from its old `UIDNEXT` on — not at all when nothing
//!    arrived, and a POP3 listing with the digest of the last one delivered in full is not
//!    compared at all; the run that ends with every listed message delivered writes the next
//!    point.
//! 3. **Plan.** A listed message with a `delivered` row is never downloaded again; in delete
//!    mode it is deleted straight away (this finishes a session that died before QUIT took
//!    effect, without a second download). Every other message is new. When a [`Select`]or is
//!    given (a filter command, `--pick`), the headers of the new messages are read (no body)
//!    and it decides which to download, which to leave, and which to delete unread.
//! 4. **Reserve.** One transaction writes a `fetching` row with a reserved location for every
//!    new message, before any download starts. From here on, a kill leaves either nothing at
//!    the location (→ fetched again next time; nothing was deleted) or a complete message
//!    (→ recorded at recovery; never fetched twice).
//! 5. **Retrieve and deliver**, streamed: the target writes the whole message (Maildir:
//!    into `tmp/`). A broken stream leaves nothing behind and nothing recorded.
//! 6. **Record** in batches: the target makes the batch durable and visible (Maildir: fsync
//!    each file, rename into `new/`, fsync `new/`), then one transaction marks the batch
//!    `delivered`. A batch is closed every [`BATCH_MESSAGES`] messages or
//!    [`BATCH_INTERVAL`], and at the end. The sync overlaps the download: a closed batch is
//!    handed to [`Deliver::sync_start`] (Maildir: a background thread) while the next batch
//!    is written, and is recorded only once [`Deliver::sync_finished`] says it is durable —
//!    polled after every message, waited for before the next batch is handed over and at the
//!    end. One batch is in flight at a time, so batches are recorded in order, and the order
//!    of this step does not change: durable, then recorded, then (step 7) releasable. A kill
//!    while a batch syncs leaves its rows `fetching`, and recovery (step 1) tells.
//! 7. **Delete.** Only messages of a recorded batch are handed back to the protocol for
//!    deletion, in the same session that retrieved them, pipelined with further retrievals.
//!
//!    **Read receipts** (with a [`ReceiptHook`]): a delivered message's request is recorded
//!    in the same transaction as the message (step 6), unless the server says another client
//!    answered it (IMAP `$MDNSent`, from the listing); once the mailbox's deliveries are
//!    recorded and before it is closed, the new requests go to the hook, which asks or queues;
//!    the messages it reports answered are marked on the server. A receipt is therefore only
//!    ever offered for a message that is safely delivered, and a recorded message never lacks
//!    its request. (One window remains: a message found delivered by recovery, after a kill
//!    between its sync and its record, is recorded without reading it again, so its request is
//!    not seen — no receipt is sent for it, and nobody is asked.)
//! 8. **Commit.** The protocol ends the session (POP3 QUIT); only its confirmation makes the
//!    deletions real, and only then are they noted (`deleted_at`) and the rows of messages the
//!    server no longer lists pruned. If the session dies before that, the rows are still
//!    `delivered`, so step 3 of the next run deletes them again without downloading them.
//!
//! Targets whose deliveries cannot be verified after a crash (an MDA, stdout) are recorded one
//! message at a time, so that a kill can at worst repeat the one message in flight.
//!
//! **Partial listings.** A source may list only some of a mailbox's messages
//! ([`Listing::partial`]: `mailpull watch` over IMAP lists only what arrived since its last
//! listing, and a keep-mode run only what arrived since its resume point). Steps 3–7 work on
//! the listed messages as usual — every promise concerns a message the engine handles, and
//! each of those is listed. What a partial listing cannot tell is that
//! an unlisted message is gone, so nothing that concerns the whole mailbox is done with it: no
//! ledger rows are pruned (step 8), and read-receipt marks pending for unlisted messages stay
//! pending instead of being dropped as if their messages were gone. In delete mode a delivered
//! message whose deletion did not take effect earlier is deleted at the next complete listing
//! instead of this one: later, never lost.
//!
//! Killing the process therefore costs at most a repeated delete: never a lost message (no
//! delete before durable delivery and record) and never a second copy (every delivered
//! message is either recorded or found by recovery before anything is fetched).
//!
//! Where each step lives: [`recover`] (step 1, `recover.rs`); `known.rs` (the ledger's view of
//! a listed mailbox, step 2); `plan.rs` (step 3); `fetch.rs` (steps 2–8 as named steps over
//! one fetch's context; the plan moves the new messages out of the listing and the
//! reservations are one buffer of names, so that a first fetch of 100,000 messages holds a
//! few dozen bytes per message besides the listing); `sink.rs` (steps 5–6, delivery and
//! recording in batches, the sync of one batch overlapping the download of the next);
//! `receipts.rs` (step 7's receipts). [`check`] and [`list`] (`inspect.rs`) look without
//! fetching. A fetch stops early only when its [`StopToken`] is set (`mailpull watch`, on
//! SIGINT/SIGTERM).
//!
//! [`Listing::partial`]: crate::source::Listing::partial

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::deliver::{Deliver, DeliverError};
use crate::exit::{Classify, Exit};
use crate::ledger::{Ledger, LedgerError, NewReceipt};
use crate::source::{RemoteMessage, Source, SourceError};

mod context;
mod fetch;
mod inspect;
mod known;
mod plan;
mod receipts;
mod recover;
mod sink;

pub use inspect::{check, list, Listed};
pub use recover::recover;

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
    /// The filter failed for some messages; they were left on the server untouched.
    #[error(
        "the filter failed for {count} message(s); they were left on the server (first: {first})"
    )]
    FilterFailed { count: usize, first: String },
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
            EngineError::NotDelivered { .. } | EngineError::FilterFailed { .. } => Exit::IoErr,
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

/// Read-receipt handling after delivery (`crate::receipts` implements it; `None` for runs that
/// must not touch receipts). Before the transfer, the engine asks the server which new messages
/// another client already answered ([`Source::answered`], IMAP `$MDNSent`); for every other
/// delivered message whose header block names `Disposition-Notification-To`, the hook turns the
/// header into a request ([`ReceiptHook::request`]), which the engine records **in the same
/// ledger transaction** as the message's delivery: a message is never recorded without its
/// request, whenever the process dies. Once the mailbox's deliveries are recorded and before
/// it is closed, the new requests go to [`ReceiptHook::delivered`], which asks or queues and
/// returns the messages to mark answered now (tokens of its own with their uids); the engine
/// asks the source to mark them ([`Source::mark_answered`]) and reports back with
/// [`ReceiptHook::marked`].
pub trait ReceiptHook {
    /// The request a delivered message's header block carries, if mailpull may answer it.
    fn request(
        &mut self,
        mailbox: &str,
        uidvalidity: u32,
        uid: &str,
        header: &[u8],
    ) -> Option<NewReceipt>;
    /// `requests` holds the ids of the requests recorded for `mailbox` in this fetch. With
    /// `ask` false (the session broke) the hook only applies remembered answers.
    fn delivered(
        &mut self,
        ledger: &mut Ledger,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
        requests: Vec<i64>,
        ask: bool,
    ) -> Vec<(i64, String)>;
    fn marked(&mut self, ledger: &mut Ledger, tokens: &[i64]);
}

/// A progress reporter that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: u64, _: u64) {}
    fn bytes(&mut self, _: u64) {}
    fn message_done(&mut self) {}
    fn finish(&mut self) {}
}

/// How many messages' headers are read at a time for a [`Select`]or or [`list`].
pub const HEADER_BATCH: usize = 256;

/// A new message offered to a [`Select`]or.
pub struct Candidate<'a> {
    pub message: &'a RemoteMessage,
    /// Its header block (local line ends), when the server sent it.
    pub header: Option<&'a [u8]>,
}

/// What to do with a new message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Download it.
    Fetch,
    /// Delete it on the server without downloading it (honoured in delete mode only; in
    /// keep mode the message is left).
    Delete,
    /// Leave it on the server; it stays new.
    Leave,
    /// Leave it on the server and report this failure (the filter could not decide).
    Fail(String),
}

/// Decides from their headers which new messages to download: a filter command, the
/// `--pick` prompt. The engine asks in batches of at most [`HEADER_BATCH`] messages.
pub trait Select {
    /// One choice for each candidate, in order.
    fn select(&mut self, mailbox: &str, candidates: &[Candidate<'_>]) -> Vec<Choice>;
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
    /// New messages left on the server by the filter or `--pick` (they stay new).
    pub left: usize,
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

/// A request to stop, shared between whoever asks (`mailpull watch`, on SIGINT/SIGTERM) and the
/// fetches it should end. Once it is set, a fetch finishes the message in flight, requests no
/// further ones (the fatal [`SinkError`](crate::source::SinkError) path: the source drains
/// what is on the wire) and ends the session properly; the fetch is not an error, and messages
/// not delivered stay on the server for the next run. A new token is never set.
#[derive(Clone, Debug, Default)]
pub struct StopToken(Arc<AtomicBool>);

impl StopToken {
    /// A token nobody has set.
    pub fn new() -> StopToken {
        StopToken::default()
    }

    /// Asks every fetch holding this token (or a clone) to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag itself, for signal handlers that set it (`signal_hook::flag::register`).
    pub fn flag(&self) -> &Arc<AtomicBool> {
        &self.0
    }
}

/// What a caller plugs into a fetch (all optional).
#[derive(Default)]
pub struct Hooks<'a> {
    /// Decides from the headers which new messages to download (filter, `--pick`).
    pub select: Option<&'a mut dyn Select>,
    /// Handles read-receipt requests once their messages are recorded.
    pub receipts: Option<&'a mut dyn ReceiptHook>,
    /// Ends the fetch early, cleanly, when set (see [`StopToken`]).
    pub stop: StopToken,
}

/// Steps 2–8 over a logged-in `source`, for every mailbox it offers. Call [`recover`] first.
pub fn fetch(
    source: &mut dyn Source,
    ledger: &mut Ledger,
    account: i64,
    target: &mut dyn Deliver,
    settings: FetchSettings,
    progress: &mut dyn Progress,
    mut hooks: Hooks<'_>,
) -> Outcome {
    let mut run = context::Fetch {
        source,
        ledger,
        account,
        target,
        settings,
        progress,
        hooks: &mut hooks,
        summary: Summary::default(),
        pending: context::Pending::default(),
    };
    let error = run.run().err();
    Outcome {
        summary: run.summary,
        error,
    }
}
