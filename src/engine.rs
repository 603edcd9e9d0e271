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
//!    effect, without a second download). Every other message is new. When a [`Select`]or is
//!    given (a filter command, `--pick`), the headers of the new messages are read (no body)
//!    and it decides which to download, which to leave, and which to delete unread.
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
//! listing). Steps 3–7 work on the listed messages as usual — every promise concerns a message
//! the engine handles, and each of those is listed. What a partial listing cannot tell is that
//! an unlisted message is gone, so nothing that concerns the whole mailbox is done with it: no
//! ledger rows are pruned (step 8), and read-receipt marks pending for unlisted messages stay
//! pending instead of being dropped as if their messages were gone. In delete mode a delivered
//! message whose deletion did not take effect earlier is deleted at the next complete listing
//! instead of this one: later, never lost.
//!
//! Killing the process therefore costs at most a repeated delete: never a lost message (no
//! delete before durable delivery and record) and never a second copy (every delivered
//! message is either recorded or found by recovery before anything is fetched).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::deliver::{Deliver, DeliverError, MessageInfo, Recovered};
use crate::exit::{Classify, Exit};
use crate::ledger::{Entry, Ledger, LedgerError, MessageKey, NewEntry, NewReceipt, State};
use crate::source::{
    message_id, Listing, RemoteMessage, Sink, SinkError, Source, SourceError, HEADER_LIMIT,
};

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

/// The process-wide stop request (set on SIGINT/SIGTERM by `mailpull watch`). Once it is set,
/// a fetch finishes the message in flight, requests no further ones (the fatal [`SinkError`]
/// path: the source drains what is on the wire) and ends the session properly; the fetch is
/// not an error, and messages not delivered stay on the server for the next run.
pub fn stop_flag() -> &'static Arc<AtomicBool> {
    static FLAG: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));
    &FLAG
}

/// Whether a stop was requested (see [`stop_flag`]).
pub fn stop_requested() -> bool {
    stop_flag().load(Ordering::SeqCst)
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
        ledger.mark_delivered(account, &delivered, crate::time::unix_now())?;
    }
    ledger.forget(account, &missing)?;
    Ok(delivered.len())
}

/// The ledger's view of one opened mailbox: the rows under the server's current
/// UIDVALIDITY, plus messages recognised after a UIDVALIDITY change.
struct Known {
    /// Rows of the current uidvalidity, by uid.
    current: HashMap<String, Entry>,
    /// Messages listed under a new UIDVALIDITY that match a delivered row of an earlier one
    /// by Message-ID and size: (new row, delivered_at of the earlier delivery).
    recognised: Vec<(NewEntry, i64)>,
}

/// Loads the ledger rows of a mailbox and, when the server's UIDVALIDITY differs from the
/// one the ledger knows (the folder was rebuilt or the server migrated), recognises the
/// messages that were already delivered by their Message-ID and size (headers only, no
/// download), so that only really new messages are fetched.
fn known(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
    mailbox: &str,
    listing: &Listing,
) -> Result<Known, EngineError> {
    let rows = ledger.entries_all(account, mailbox)?;
    let mut current = HashMap::new();
    // Several rows may share a Message-ID and size (the same message twice in a folder):
    // each server message uses up one of them.
    let mut earlier: HashMap<(String, u64), Vec<Entry>> = HashMap::new();
    let mut earlier_validity = None;
    for e in rows {
        if e.key.uidvalidity == listing.uidvalidity {
            current.insert(e.key.uid.clone(), e);
        } else if e.state == State::Delivered {
            earlier_validity = Some(e.key.uidvalidity);
            if let Some(id) = &e.message_id {
                earlier.entry((id.clone(), e.size)).or_default().push(e);
            }
        }
    }
    let mut recognised = Vec::new();
    if let Some(old) = earlier_validity {
        let candidates: Vec<RemoteMessage> = listing
            .messages
            .iter()
            .filter(|m| !current.contains_key(&m.uid))
            .cloned()
            .collect();
        let ids = if earlier.is_empty() || candidates.is_empty() {
            Vec::new()
        } else {
            source.message_ids(&candidates)?
        };
        for (m, id) in candidates.iter().zip(ids) {
            let Some(id) = id else { continue };
            let found = earlier.get_mut(&(id.clone(), m.size)).and_then(|v| v.pop());
            if let Some(e) = found {
                let entry = NewEntry {
                    key: MessageKey {
                        mailbox: mailbox.to_string(),
                        uidvalidity: listing.uidvalidity,
                        uid: m.uid.clone(),
                    },
                    size: m.size,
                    location: e.location.clone(),
                    message_id: Some(id),
                };
                current.insert(
                    m.uid.clone(),
                    Entry {
                        key: entry.key.clone(),
                        size: m.size,
                        state: State::Delivered,
                        location: e.location.clone(),
                        delivered_at: e.delivered_at,
                        deleted_at: None,
                        message_id: entry.message_id.clone(),
                    },
                );
                recognised.push((entry, e.delivered_at));
            }
        }
        log::info!(
            "the UIDVALIDITY of {} changed ({old} -> {}): {} message(s) recognised by \
             Message-ID and size as already delivered, {} to fetch",
            if mailbox.is_empty() {
                "the mailbox"
            } else {
                mailbox
            },
            listing.uidvalidity,
            recognised.len(),
            candidates.len() - recognised.len()
        );
    }
    Ok(Known {
        current,
        recognised,
    })
}

/// Counts the messages on the server that the ledger does not know as delivered, without
/// downloading or changing anything, and ends the session.
pub fn check(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
) -> Result<CheckSummary, EngineError> {
    let mut summary = CheckSummary::default();
    for mailbox in source.mailboxes()? {
        let listing = source.open(&mailbox, false)?;
        let known = known(source, ledger, account, &mailbox, &listing)?;
        summary.listed += listing.messages.len();
        for m in &listing.messages {
            let delivered = known
                .current
                .get(&m.uid)
                .is_some_and(|e| e.state == State::Delivered);
            if !delivered && !m.flagged_deleted {
                summary.new += 1;
                summary.bytes += m.size;
            }
        }
        source.close(&[])?;
    }
    source.finish()?;
    Ok(summary)
}

/// A message as [`list`] reports it.
pub struct Listed<'a> {
    pub mailbox: &'a str,
    pub message: &'a RemoteMessage,
    /// Its header block (local line ends), when the server sent it.
    pub header: Option<&'a [u8]>,
    /// The ledger knows it as delivered: `fetch` will not download it again.
    pub fetched: bool,
}

/// Reads the header block of every message on the server (no body; nothing is changed,
/// mailboxes are opened read-only) and hands each to `each`, mailbox by mailbox in server
/// order, [`HEADER_BATCH`] messages at a time; then ends the session.
pub fn list(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
    each: &mut dyn FnMut(Listed<'_>),
) -> Result<(), EngineError> {
    for mailbox in source.mailboxes()? {
        let listing = source.open(&mailbox, false)?;
        let known = known(source, ledger, account, &mailbox, &listing)?;
        for chunk in listing.messages.chunks(HEADER_BATCH) {
            let headers = source.headers(chunk)?;
            for (message, header) in chunk.iter().zip(&headers) {
                each(Listed {
                    mailbox: &mailbox,
                    message,
                    header: header.as_deref(),
                    fetched: known
                        .current
                        .get(&message.uid)
                        .is_some_and(|e| e.state == State::Delivered),
                });
            }
        }
        source.close(&[])?;
    }
    source.finish()?;
    Ok(())
}

/// What a caller plugs into a fetch (all optional).
#[derive(Default)]
pub struct Hooks<'a> {
    /// Decides from the headers which new messages to download (filter, `--pick`).
    pub select: Option<&'a mut dyn Select>,
    /// Handles read-receipt requests once their messages are recorded.
    pub receipts: Option<&'a mut dyn ReceiptHook>,
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
    let mut summary = Summary::default();
    let error = run(
        source,
        ledger,
        account,
        target,
        settings,
        progress,
        &mut hooks,
        &mut summary,
    )
    .err();
    Outcome { summary, error }
}

/// What a mailbox leaves for the end of the session.
#[derive(Default)]
struct Pending {
    /// Deletions that take effect when the session ends (POP3).
    at_finish: Vec<MessageKey>,
    /// Mailboxes to prune once the session ended well: (mailbox, uidvalidity, listed uids).
    prune: Vec<(String, u32, HashSet<String>)>,
    /// Uids deleted without download, to tell them apart in the summary.
    unread: HashSet<MessageKey>,
    /// New messages planned so far (for `max_messages` across mailboxes).
    planned: usize,
}

#[allow(clippy::too_many_arguments)]
fn run(
    source: &mut dyn Source,
    ledger: &mut Ledger,
    account: i64,
    target: &mut dyn Deliver,
    settings: FetchSettings,
    progress: &mut dyn Progress,
    hooks: &mut Hooks<'_>,
    summary: &mut Summary,
) -> Result<(), EngineError> {
    let mut pending = Pending::default();
    // A failure that concerns messages, not the session (the target refused one, the server
    // refused to send one): the session still ends properly so that deletions take effect.
    let mut deferred: Option<EngineError> = None;
    for mailbox in source.mailboxes()? {
        if stop_requested() {
            break;
        }
        let result = fetch_mailbox(
            source,
            ledger,
            account,
            &mailbox,
            target,
            settings,
            progress,
            summary,
            &mut pending,
            hooks,
        )?;
        if let Some(e) = result {
            let stop = matches!(e, EngineError::Deliver(_) | EngineError::Ledger(_));
            deferred.get_or_insert(e);
            if stop {
                break;
            }
        }
    }

    // 8. Commit: end the session; for POP3 this makes the deletions take effect.
    source.finish()?;
    confirm_deleted(
        ledger,
        account,
        &pending.at_finish,
        &pending.unread,
        summary,
    )?;
    for (mailbox, uidvalidity, present) in &pending.prune {
        let pruned = ledger.prune_mailbox(account, mailbox, *uidvalidity, present)?;
        if pruned > 0 {
            log::debug!("pruned {pruned} ledger entries the server no longer lists");
        }
    }
    match deferred {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Records deletions the server confirmed and counts them (and those of them that were never
/// downloaded) in the summary.
fn confirm_deleted(
    ledger: &mut Ledger,
    account: i64,
    keys: &[MessageKey],
    unread: &HashSet<MessageKey>,
    summary: &mut Summary,
) -> Result<(), EngineError> {
    if keys.is_empty() {
        return Ok(());
    }
    ledger.mark_deleted(account, keys, crate::time::unix_now())?;
    summary.deleted += keys.len();
    summary.deleted_unread += keys.iter().filter(|k| unread.contains(*k)).count();
    Ok(())
}

/// Steps 2–7 for one mailbox. Connection-level errors are returned as `Err`; failures that
/// leave the session usable come back as `Ok(Some(error))`.
#[allow(clippy::too_many_arguments)]
fn fetch_mailbox(
    source: &mut dyn Source,
    ledger: &mut Ledger,
    account: i64,
    mailbox: &str,
    target: &mut dyn Deliver,
    settings: FetchSettings,
    progress: &mut dyn Progress,
    summary: &mut Summary,
    pending: &mut Pending,
    hooks: &mut Hooks<'_>,
) -> Result<Option<EngineError>, EngineError> {
    // 2. List.
    let write =
        !settings.keep || settings.delete_after.is_some() || settings.delete_larger_than.is_some();
    let listing = source.open(mailbox, write)?;
    summary.listed += listing.messages.len();
    let key = |uid: &str| MessageKey {
        mailbox: mailbox.to_string(),
        uidvalidity: listing.uidvalidity,
        uid: uid.to_string(),
    };
    let known = known(source, ledger, account, mailbox, &listing)?;
    if !known.recognised.is_empty() {
        ledger.insert_delivered(account, &known.recognised)?;
    }

    // 3. Plan.
    let mut delete_now = Vec::new();
    let mut candidates = Vec::new();
    let mut retrieve = Vec::new();
    let now_secs = crate::time::unix_now();
    for m in listing.messages.iter() {
        match known.current.get(&m.uid) {
            Some(e) if e.state == State::Delivered => {
                let aged = settings.delete_after.is_some_and(|age| {
                    now_secs.saturating_sub(e.delivered_at) >= age.as_secs() as i64
                });
                if !settings.keep || aged {
                    delete_now.push(m.clone());
                }
            }
            // Marked for deletion by someone else: not ours to download or delete.
            _ if m.flagged_deleted => {
                log::debug!(
                    "message {} is already marked deleted on the server; leaving it",
                    m.uid
                )
            }
            _ if settings.delete_larger_than.is_some_and(|l| m.size > l) => {
                pending.unread.insert(key(&m.uid));
                delete_now.push(m.clone());
            }
            _ if settings.skip_larger_than.is_some_and(|l| m.size > l) => summary.skipped += 1,
            _ => candidates.push(m.clone()),
        }
    }

    // 3b. Let the selector decide from the headers, then cap at `max_messages`.
    let mut filter_failures: Vec<String> = Vec::new();
    let cap_reached = |planned: usize| settings.max_messages.is_some_and(|n| planned >= n);
    let chosen = match hooks.select.as_deref_mut() {
        None => candidates,
        Some(select) => {
            let mut chosen = Vec::new();
            let mut offered = 0;
            for chunk in candidates.chunks(HEADER_BATCH) {
                if cap_reached(pending.planned + chosen.len()) {
                    break;
                }
                offered += chunk.len();
                let headers = source.headers(chunk)?;
                let offer: Vec<Candidate<'_>> = chunk
                    .iter()
                    .zip(&headers)
                    .map(|(message, header)| Candidate {
                        message,
                        header: header.as_deref(),
                    })
                    .collect();
                let choices = select.select(mailbox, &offer);
                let undecided = std::iter::repeat(Choice::Fail("no decision".into()));
                for (m, choice) in chunk.iter().zip(choices.into_iter().chain(undecided)) {
                    match choice {
                        Choice::Fetch => chosen.push(m.clone()),
                        Choice::Delete if !settings.keep => {
                            pending.unread.insert(key(&m.uid));
                            delete_now.push(m.clone());
                        }
                        Choice::Delete => {
                            log::warn!(
                                "message {}: the filter asked to delete it, but the account \
                                 keeps mail on the server; it was left there",
                                m.uid
                            );
                            summary.left += 1;
                        }
                        Choice::Leave => summary.left += 1,
                        Choice::Fail(e) => {
                            log::error!("message {}: {e}; it was left on the server", m.uid);
                            filter_failures.push(format!("message {}: {e}", m.uid));
                        }
                    }
                }
            }
            // Candidates not offered because the cap was reached wait for a later run.
            summary.deferred += candidates.len() - offered;
            chosen
        }
    };
    for m in chosen {
        if cap_reached(pending.planned) {
            summary.deferred += 1;
        } else {
            pending.planned += 1;
            retrieve.push(m);
        }
    }
    log::debug!(
        "{}: {} message(s), {} new, {} already delivered to delete",
        if mailbox.is_empty() {
            "mailbox"
        } else {
            mailbox
        },
        listing.messages.len(),
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
            key: key(&m.uid),
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

    // Messages another client already answered a receipt request for (IMAP `$MDNSent`).
    let answered = match hooks.receipts {
        Some(_) if !retrieve.is_empty() => source.answered(&retrieve)?,
        _ => HashSet::new(),
    };

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
        mailbox: mailbox.to_string(),
        uidvalidity: listing.uidvalidity,
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
        receipts: hooks.receipts.as_deref_mut(),
        answered,
        new_requests: Vec::new(),
    };
    let transfer = source.transfer(&delete_now, &retrieve, &mut sink);
    // Record whatever was delivered, whatever happened to the connection.
    sink.record();
    let sink_failure = sink.failure.take();
    let delivered = std::mem::take(&mut sink.delivered);
    let rejected = std::mem::take(&mut sink.rejected);
    // Requests recorded with their messages in this fetch.
    let requests = std::mem::take(&mut sink.new_requests);
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

    let report = match transfer {
        Ok(r) => r,
        Err(e) => {
            // The deliveries and their requests stand; the requests wait for an answer
            // (nothing can be asked of the server now).
            if let Some(hook) = hooks.receipts.as_deref_mut() {
                if !requests.is_empty() {
                    let _ = hook.delivered(
                        ledger,
                        account,
                        mailbox,
                        listing.uidvalidity,
                        requests,
                        false,
                    );
                }
            }
            return Err(e.into());
        }
    };
    if let Some(hook) = hooks.receipts.as_deref_mut() {
        answer_receipts(source, ledger, account, mailbox, &listing, requests, hook)?;
    }

    // 7b. Close the mailbox: per-mailbox protocols make the deletions take effect now.
    match source.close(&report.deleted)? {
        Some(gone) => {
            let keys: Vec<MessageKey> = gone.iter().map(|m| key(&m.uid)).collect();
            confirm_deleted(ledger, account, &keys, &pending.unread, summary)?;
        }
        None => pending
            .at_finish
            .extend(report.deleted.iter().map(|m| key(&m.uid))),
    }
    // Only a complete listing tells which rows belong to messages the server no longer has.
    if !listing.partial {
        pending.prune.push((
            mailbox.to_string(),
            listing.uidvalidity,
            listing.messages.iter().map(|m| m.uid.clone()).collect(),
        ));
    }

    if let Some(e) = sink_failure {
        return Ok(Some(e));
    }
    if let Some(first) = rejected.first() {
        return Ok(Some(EngineError::NotDelivered {
            count: rejected.len(),
            first: first.clone(),
        }));
    }
    if let Some(first) = filter_failures.first() {
        return Ok(Some(EngineError::FilterFailed {
            count: filter_failures.len(),
            first: first.clone(),
        }));
    }
    if let Some((m, reply)) = report.refused.first() {
        return Ok(Some(EngineError::Refused {
            count: report.refused.len(),
            first: format!("{} ({})", m.number, m.uid),
            reply: reply.clone(),
        }));
    }
    Ok(None)
}

/// Hands the read-receipt requests recorded in this fetch to the hook and marks answered on
/// the server what the hook says (see [`ReceiptHook`]). Failing to set a mark is not an
/// error: it is tried again next run.
fn answer_receipts(
    source: &mut dyn Source,
    ledger: &mut Ledger,
    account: i64,
    mailbox: &str,
    listing: &Listing,
    requests: Vec<i64>,
    hook: &mut dyn ReceiptHook,
) -> Result<(), EngineError> {
    let by_uid: HashMap<&str, &RemoteMessage> = listing
        .messages
        .iter()
        .map(|m| (m.uid.as_str(), m))
        .collect();
    let to_mark = hook.delivered(
        ledger,
        account,
        mailbox,
        listing.uidvalidity,
        requests,
        true,
    );
    if to_mark.is_empty() {
        return Ok(());
    }
    let (present, mut gone): (Vec<_>, Vec<_>) = to_mark
        .iter()
        .partition(|(_, uid)| by_uid.contains_key(uid.as_str()));
    if listing.partial {
        // Not listed is not gone: those wait for a complete listing.
        gone.clear();
    }
    let msgs: Vec<RemoteMessage> = present
        .iter()
        .map(|(_, uid)| by_uid[uid.as_str()].clone())
        .collect();
    let mut done: Vec<i64> = gone.iter().map(|(t, _)| *t).collect();
    match source.mark_answered(&msgs) {
        Ok(()) => done.extend(present.iter().map(|(t, _)| *t)),
        Err(e) => log::warn!(
            "could not mark {} message(s) as answered on the server ({e}); trying again next run",
            msgs.len()
        ),
    }
    hook.marked(ledger, &done);
    Ok(())
}

/// The engine's side of a transfer: delivers, records in batches, releases deletions.
struct EngineSink<'a, 'h> {
    ledger: &'a mut Ledger,
    account: i64,
    mailbox: String,
    uidvalidity: u32,
    target: &'a mut dyn Deliver,
    locations: HashMap<String, String>,
    keep: bool,
    /// Record after this many deliveries.
    batch_limit: usize,
    progress: &'a mut dyn Progress,
    /// Written to the target, not yet synced and recorded (with their sizes and Message-IDs).
    unrecorded: Vec<(RemoteMessage, u64, Option<String>, Option<NewReceipt>)>,
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
    /// Turns header blocks into read-receipt requests (see [`ReceiptHook`]).
    receipts: Option<&'a mut (dyn ReceiptHook + 'h)>,
    /// Uids whose receipt request another client already answered (`$MDNSent`).
    answered: HashSet<String>,
    /// Ids of the receipt requests recorded so far in this transfer.
    new_requests: Vec<i64>,
}

impl EngineSink<'_, '_> {
    /// Step 6: makes the deliveries so far durable and records them; on success they become
    /// releasable for deletion.
    fn record(&mut self) {
        if self.unrecorded.is_empty() || self.failure.is_some() {
            return;
        }
        let items: Vec<(MessageKey, Option<String>)> = self
            .unrecorded
            .iter()
            .map(|(m, _, id, _)| {
                (
                    MessageKey {
                        mailbox: self.mailbox.clone(),
                        uidvalidity: self.uidvalidity,
                        uid: m.uid.clone(),
                    },
                    id.clone(),
                )
            })
            .collect();
        let requests: Vec<NewReceipt> = self
            .unrecorded
            .iter()
            .filter_map(|(.., r)| r.clone())
            .collect();
        let result = self.target.sync().map_err(EngineError::from).and_then(|_| {
            self.ledger
                .mark_delivered_with_receipts(
                    self.account,
                    &items,
                    &requests,
                    crate::time::unix_now(),
                )
                .map_err(EngineError::from)
        });
        match result {
            Ok(new_requests) => {
                self.new_requests.extend(new_requests);
                let batch = std::mem::take(&mut self.unrecorded);
                self.summary.new += batch.len();
                self.summary.bytes += batch.iter().map(|(_, b, ..)| b).sum::<u64>();
                if !self.keep {
                    self.releasable.extend(batch.into_iter().map(|(m, ..)| m));
                }
                self.oldest_unrecorded = None;
            }
            // The messages stay `fetching` in the ledger; recovery will find them.
            Err(e) => self.failure = Some(e),
        }
    }
}

/// Counts bytes for the progress bar and keeps the header block (up to [`HEADER_LIMIT`]) to
/// learn the Message-ID, without holding more of the message.
struct Counted<'a> {
    inner: &'a mut dyn Read,
    progress: &'a mut dyn Progress,
    header: Vec<u8>,
    header_done: bool,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes(n as u64);
        if !self.header_done {
            // Only the new bytes (and the 3 before them) can complete a blank line.
            let from = self.header.len().saturating_sub(3);
            let take = n.min(HEADER_LIMIT - self.header.len());
            self.header.extend_from_slice(&buf[..take]);
            let fresh = &self.header[from..];
            if memchr::memmem::find(fresh, b"\n\n").is_some()
                || memchr::memmem::find(fresh, b"\r\n\r\n").is_some()
                || self.header.len() >= HEADER_LIMIT
            {
                self.header_done = true;
            }
        }
        Ok(n)
    }
}

impl Sink for EngineSink<'_, '_> {
    fn message(&mut self, msg: &RemoteMessage, body: &mut dyn Read) -> Result<(), SinkError> {
        if self.failure.is_some() || stop_requested() {
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
            header: Vec::new(),
            header_done: false,
        };
        let result = self.target.deliver(location, &info, &mut counted);
        let id = message_id(&counted.header);
        match result {
            Ok(bytes) => {
                let request = match self.receipts.as_deref_mut() {
                    Some(hook) if !self.answered.contains(&msg.uid) => {
                        hook.request(&self.mailbox, self.uidvalidity, &msg.uid, &counted.header)
                    }
                    _ => None,
                };
                self.progress.message_done();
                self.delivered.insert(msg.uid.clone());
                self.unrecorded.push((msg.clone(), bytes, id, request));
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
