//! Steps 5 and 6 of the fetch (see [`crate::engine`]): the engine's side of a transfer. Each
//! message the source hands over is streamed into the delivery target, its header block kept
//! to learn the Message-ID and any read-receipt request; deliveries are made durable and
//! recorded in batches, and only recorded messages are released to the source for deletion.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::time::Instant;

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
    pub locations: HashMap<String, String>,
    pub keep: bool,
    /// Record after this many deliveries.
    pub batch_limit: usize,
    pub progress: &'a mut dyn Progress,
    /// Written to the target, not yet synced and recorded (with their sizes and Message-IDs).
    pub unrecorded: Vec<(RemoteMessage, u64, Option<String>, Option<NewReceipt>)>,
    pub oldest_unrecorded: Option<Instant>,
    /// Recorded, may be deleted.
    pub releasable: Vec<RemoteMessage>,
    /// Uids delivered in this run (recorded or not).
    pub delivered: HashSet<String>,
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
    /// Uids delivered in this run (recorded or not: a delivered message whose record failed
    /// keeps its `fetching` row for recovery).
    pub delivered: HashSet<String>,
    /// Messages the target refused.
    pub rejected: Vec<String>,
    /// Ids of the receipt requests recorded with their messages.
    pub requests: Vec<i64>,
}

impl EngineSink<'_, '_> {
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

    /// Step 6: makes the deliveries so far durable and records them; on success they become
    /// releasable for deletion.
    pub fn record(&mut self) {
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
        if self.failure.is_some() || self.stop.requested() {
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
