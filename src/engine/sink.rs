//! Steps 5 and 6 of the fetch (see [`crate::engine`]): the engine's side of a transfer. Each
//! message the source hands over is streamed into the delivery target, its header block kept
//! to learn the Message-ID and any read-receipt request; deliveries are made durable and
//! recorded in batches, and only recorded messages are released to the source for deletion.

use std::collections::HashSet;
use std::io::{self, Read};
use std::time::Instant;

use super::context::Reserved;
use super::{EngineError, Progress, ReceiptHook, StopToken, Summary, BATCH_INTERVAL};
use crate::deliver::{Deliver, DeliverError, MessageInfo};
use crate::ledger::{Ledger, MessageKey, NewReceipt};
use crate::source::{message_id, RemoteMessage, Sink, SinkError, HEADER_LIMIT};

/// The engine's side of a transfer: delivers, records in batches, releases deletions.
pub(super) struct EngineSink<'a, 'h> {
    pub ledger: &'a mut Ledger,
    pub account: i64,
    pub mailbox: String,
    pub uidvalidity: u32,
    pub target: &'a mut dyn Deliver,
    /// The messages asked for, and the location reserved for each (same order).
    pub retrieve: &'a [RemoteMessage],
    pub reserved: &'a Reserved,
    /// Positions in `retrieve`, by uid.
    pub order: Vec<u32>,
    pub keep: bool,
    /// Record after this many deliveries.
    pub batch_limit: usize,
    pub progress: &'a mut dyn Progress,
    /// Written to the target, not yet synced and recorded (positions in `retrieve`, with their
    /// sizes, Message-IDs and receipt requests).
    pub unrecorded: Vec<(usize, u64, Option<String>, Option<NewReceipt>)>,
    pub oldest_unrecorded: Option<Instant>,
    /// The batch the target is making durable in the background: recorded once it is.
    pub syncing: Vec<(usize, u64, Option<String>, Option<NewReceipt>)>,
    /// Recorded, may be deleted.
    pub releasable: Vec<RemoteMessage>,
    /// Which messages of `retrieve` were delivered in this run (recorded or not).
    pub delivered: Vec<bool>,
    /// Messages the target refused (not fatal for the others).
    pub rejected: Vec<String>,
    /// The first fatal failure (delivery target or ledger).
    pub failure: Option<EngineError>,
    pub summary: &'a mut Summary,
    /// Turns header blocks into read-receipt requests (see [`ReceiptHook`]).
    pub receipts: Option<&'a mut (dyn ReceiptHook + 'h)>,
    /// Uids whose receipt request another client already answered (`$MDNSent`).
    pub answered: HashSet<String>,
    /// Ids of the receipt requests recorded so far in this transfer.
    pub new_requests: Vec<i64>,
    /// Set when the run should stop: the message in flight is finished, no further one taken.
    pub stop: &'a StopToken,
}

/// What a transfer left behind, once the last deliveries are recorded.
pub(super) struct Transferred {
    /// The first fatal failure (delivery target or ledger).
    pub failure: Option<EngineError>,
    /// Which messages of `retrieve` were delivered in this run (recorded or not: a delivered
    /// message whose record failed keeps its `fetching` row for recovery).
    pub delivered: Vec<bool>,
    /// Messages the target refused.
    pub rejected: Vec<String>,
    /// Ids of the receipt requests recorded with their messages.
    pub requests: Vec<i64>,
}

impl EngineSink<'_, '_> {
    /// The position in `retrieve` of the message with this uid that is not delivered yet (the
    /// first, should a broken server list a uid twice); `None` for anything else.
    fn position(&self, uid: &str) -> Option<usize> {
        let retrieve = self.retrieve;
        let from = self
            .order
            .partition_point(|&i| retrieve[i as usize].uid.as_str() < uid);
        let same = self.order[from..]
            .iter()
            .map(|&i| i as usize)
            .take_while(|&i| retrieve[i].uid == uid);
        let mut same = same;
        same.find(|&i| !self.delivered[i])
    }

    /// Records whatever was delivered, whatever happened to the connection, and reports.
    pub fn finish(mut self) -> Transferred {
        self.record();
        Transferred {
            failure: self.failure.take(),
            delivered: std::mem::take(&mut self.delivered),
            rejected: std::mem::take(&mut self.rejected),
            requests: std::mem::take(&mut self.new_requests),
        }
    }

    /// Step 6, whole: makes every delivery so far durable and records it; on success they
    /// become releasable for deletion.
    pub fn record(&mut self) {
        self.close_batch();
        self.record_synced(true);
    }

    /// Step 6, first half: closes the batch being written and has the target make it durable
    /// in the background ([`Deliver::sync_start`]) while the next one is written. The batch
    /// before it, if still in flight, is waited for and recorded first: one batch at a time.
    pub fn close_batch(&mut self) {
        self.record_synced(true);
        if self.unrecorded.is_empty() || self.failure.is_some() {
            return;
        }
        match self.target.sync_start() {
            Ok(()) => {
                self.syncing = std::mem::take(&mut self.unrecorded);
                self.oldest_unrecorded = None;
            }
            // The messages stay `fetching` in the ledger; recovery will find them.
            Err(e) => self.failure = Some(e.into()),
        }
    }

    /// Step 6, second half: once the batch in flight is durable and visible
    /// ([`Deliver::sync_finished`]; with `wait`, waiting for it), one transaction records it,
    /// and only then are its messages releasable for deletion.
    pub fn record_synced(&mut self, wait: bool) {
        if self.syncing.is_empty() || self.failure.is_some() {
            return;
        }
        match self.target.sync_finished(wait) {
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => {
                // The messages stay `fetching` in the ledger; recovery will find them.
                self.failure = Some(e.into());
                return;
            }
        }
        let batch = std::mem::take(&mut self.syncing);
        let items: Vec<(MessageKey, Option<String>)> = batch
            .iter()
            .map(|&(i, _, ref id, _)| {
                (
                    MessageKey {
                        mailbox: self.mailbox.clone(),
                        uidvalidity: self.uidvalidity,
                        uid: self.retrieve[i].uid.clone(),
                    },
                    id.clone(),
                )
            })
            .collect();
        let requests: Vec<NewReceipt> = batch.iter().filter_map(|(.., r)| r.clone()).collect();
        let result = self.ledger.mark_delivered_with_receipts(
            self.account,
            &items,
            &requests,
            crate::time::unix_now(),
        );
        match result {
            Ok(new_requests) => {
                self.new_requests.extend(new_requests);
                self.summary.new += batch.len();
                self.summary.bytes += batch.iter().map(|(_, b, ..)| b).sum::<u64>();
                if !self.keep {
                    let retrieve = self.retrieve;
                    (self.releasable).extend(batch.into_iter().map(|(i, ..)| retrieve[i].clone()));
                }
            }
            // The messages stay `fetching` in the ledger; recovery will find them.
            Err(e) => self.failure = Some(e.into()),
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
        if self.failure.is_some() || self.stop.requested() {
            return Err(SinkError { fatal: true });
        }
        let Some(at) = self.position(&msg.uid) else {
            // Not something we asked for: never deliver unplanned data.
            return Err(SinkError { fatal: false });
        };
        let location = self.reserved.location(at);
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
                self.delivered[at] = true;
                self.unrecorded.push((at, bytes, id, request));
                let oldest = *self.oldest_unrecorded.get_or_insert_with(Instant::now);
                if self.unrecorded.len() >= self.batch_limit || oldest.elapsed() >= BATCH_INTERVAL {
                    self.close_batch();
                }
                // Record the batch in flight as soon as it is durable, without waiting.
                self.record_synced(false);
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
