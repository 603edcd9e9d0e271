//! Steps 2–8 of the fetch (see [`crate::engine`]), one named step each, over a [`Fetch`] (see
//! `context.rs`).
//!
//! [`Fetch::mailbox`] reads as the module documentation does: list, plan, reserve, transfer
//! (retrieve, deliver, record, delete), answer receipts, close. [`Fetch::commit`] ends the
//! session and only then notes the deletions.

use std::collections::HashSet;

use super::context::{key, shown, Fetch, Reserved};
use super::known::{known, Known};
use super::plan::Plan;
use super::receipts::answer_receipts;
use super::sink::{EngineSink, Transferred};
use super::{EngineError, BATCH_MESSAGES};
use crate::deliver::DeliverError;
use crate::ledger::{MessageKey, ResumePoint};
use crate::source::{Listing, RemoteMessage, Resume, TransferReport};

impl Fetch<'_, '_> {
    /// Every mailbox the source offers, then the commit. A failure that concerns messages,
    /// not the session (the target refused one, the server refused to send one), is kept for
    /// the end: the session still ends properly so that deletions take effect.
    pub fn run(&mut self) -> Result<(), EngineError> {
        let mut deferred: Option<EngineError> = None;
        for mailbox in self.source.mailboxes()? {
            if self.hooks.stop.requested() {
                break;
            }
            if let Some(e) = self.mailbox(&mailbox)? {
                let stop = matches!(e, EngineError::Deliver(_) | EngineError::Ledger(_));
                deferred.get_or_insert(e);
                if stop {
                    break;
                }
            }
        }
        self.commit()?;
        match deferred {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Steps 2–7 for one mailbox. Connection-level errors are returned as `Err`; failures
    /// that leave the session usable come back as `Ok(Some(error))`.
    fn mailbox(&mut self, mailbox: &str) -> Result<Option<EngineError>, EngineError> {
        let (mut listing, resumed) = self.list(mailbox)?;
        let known = self.known(mailbox, &listing)?;
        let plan = self.plan(mailbox, &mut listing, &known)?;
        // Only the rows of messages gone from the server are needed from here on.
        let gone = known.into_gone();
        let reserved = self.reserve(mailbox, &listing, &plan.retrieve)?;
        let (transfer, done) = self.transfer(mailbox, &listing, &plan, &reserved)?;
        drop(reserved);
        let Transferred {
            failure,
            delivered,
            rejected,
            requests,
        } = done;
        self.forget_undelivered(mailbox, &listing, &plan.retrieve, &delivered)?;
        // Every listed message is delivered: nothing below the listing's UIDNEXT is left.
        let covered = failure.is_none()
            && rejected.is_empty()
            && plan.all_planned
            && delivered.iter().all(|&d| d);
        let fetched = delivered.iter().any(|&d| d);
        drop(delivered);
        let report = match transfer {
            Ok(r) => r,
            Err(e) => {
                // The deliveries and their requests stand; the requests wait for an answer
                // (nothing can be asked of the server now).
                if let Some(hook) = self.hooks.receipts.as_deref_mut() {
                    if !requests.is_empty() {
                        let _ = hook.delivered(
                            self.ledger,
                            self.account,
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
        if let Some(hook) = self.hooks.receipts.as_deref_mut() {
            answer_receipts(
                self.source,
                self.ledger,
                self.account,
                mailbox,
                &listing,
                &plan.retrieve,
                requests,
                hook,
            )?;
        }
        self.close(mailbox, &listing, &report, gone)?;
        if covered {
            self.resume_at(mailbox, &listing, resumed, fetched)?;
        }
        Ok(first_failure(
            failure,
            rejected,
            plan.filter_failures,
            &report,
        ))
    }

    /// Step 2: opens (lists) the mailbox, writable when something may be deleted.
    ///
    /// In keep mode, where the last complete run left a resume point (see
    /// `ledger/resume.rs`), only what arrived since is listed — nothing at all when the
    /// server's UIDVALIDITY and `UIDNEXT` are unchanged. Where something may be deleted
    /// (delete mode, `delete_after_days`, `delete_larger_than`) or a `$MDNSent` mark waits for
    /// a message listed in full, the mailbox is listed in full. A mailbox opened read-only that
    /// shows a new UIDVALIDITY is opened again read-write (see below). Returns the point stored
    /// before.
    fn list(&mut self, mailbox: &str) -> Result<(Listing, Option<ResumePoint>), EngineError> {
        let s = &self.settings;
        let write = !s.keep || s.delete_after.is_some() || s.delete_larger_than.is_some();
        let stored = self.ledger.resume_point(self.account, mailbox)?;
        let mut resume = None;
        if let (false, Some(p)) = (write, stored) {
            let fresh = p.usable(crate::time::unix_now());
            let marks =
                self.ledger
                    .receipt_flags_pending(self.account, mailbox, p.at.uidvalidity)?;
            if fresh && marks.is_empty() {
                resume = Some(p);
            }
        }
        let mut listing = match resume {
            Some(p) => self.source.open_since(mailbox, write, p.at)?,
            None => self.source.open(mailbox, write)?,
        };
        if !write
            && !listing.partial
            && self.ledger.delivered_under_other_validity(
                self.account,
                mailbox,
                listing.uidvalidity,
            )?
        {
            // A new UIDVALIDITY. Some servers hand one out in every read-only session until
            // the folder was once opened read-write: opened read-write now, the folder keeps
            // the UIDVALIDITY it gets, and only this run, not every run, has to match the
            // messages by Message-ID (`known.rs`). Nothing is changed on the server: bodies
            // are read with BODY.PEEK and no flag is stored.
            log::debug!(
                "{}: the UIDVALIDITY changed: opening it read-write once, so that it stays",
                shown(mailbox)
            );
            listing = self.source.open(mailbox, true)?;
        }
        if listing.partial && resume.is_some() {
            log::debug!(
                "{}: {} message(s) arrived since the last complete run",
                shown(mailbox),
                listing.messages.len()
            );
        }
        self.summary.listed += listing.on_server() as usize;
        Ok((listing, stored))
    }

    /// Records where this complete run leaves the mailbox (its UIDVALIDITY, the `UIDNEXT`
    /// announced when it was opened and its size), unless that is where it already was (see
    /// `ledger/resume.rs` for when a point is confirmed).
    fn resume_at(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        resumed: Option<ResumePoint>,
        fetched: bool,
    ) -> Result<(), EngineError> {
        // IMAP: the UIDNEXT; POP3: the digest of the listing.
        if listing.uidnext.is_none() && listing.digest.is_none() {
            return Ok(());
        }
        let at = Resume {
            uidvalidity: listing.uidvalidity,
            uidnext: listing.uidnext.unwrap_or(0),
            exists: u32::try_from(listing.on_server()).unwrap_or(u32::MAX),
            listing: listing.digest,
        };
        // Two full listings in a row that agree (the second found nothing to fetch under the
        // point the first wrote) confirm the point; a partial listing keeps the confirmation
        // of the point it started from.
        let agreed = resumed.is_some_and(|p| p.at.uidvalidity == at.uidvalidity) && !fetched;
        // A POP3 point is the digest of the very listing whose every message is delivered
        // now: there is nothing to confirm (a server that left a message out of it gives
        // another listing, and so another digest, when it lists it).
        let confirmed_at = match resumed {
            Some(p) if listing.partial => p.confirmed_at,
            _ if agreed || listing.digest.is_some() => Some(crate::time::unix_now()),
            _ => None,
        };
        let point = ResumePoint { at, confirmed_at };
        if resumed != Some(point) {
            self.ledger.set_resume_point(self.account, mailbox, point)?;
        }
        Ok(())
    }

    /// Step 2, continued: the ledger's view of the listed mailbox; messages recognised after
    /// a UIDVALIDITY change are recorded as delivered under their new uids.
    fn known(&mut self, mailbox: &str, listing: &Listing) -> Result<Known, EngineError> {
        let known = known(self.source, self.ledger, self.account, mailbox, listing)?;
        if !known.recognised.is_empty() {
            self.ledger
                .insert_delivered(self.account, &known.recognised)?;
        }
        Ok(known)
    }

    /// Step 4: a `fetching` row with a reserved location for every message to retrieve, in
    /// one transaction, before any download starts.
    fn reserve(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        retrieve: &[RemoteMessage],
    ) -> Result<Reserved, EngineError> {
        let mut reserved = Reserved {
            names: String::new(),
            ends: Vec::with_capacity(retrieve.len()),
        };
        for _ in retrieve {
            let location = self.target.reserve().map_err(|e| DeliverError::Local {
                target: self.target.describe(),
                source: e,
            })?;
            if reserved.names.is_empty() {
                // The names of one target are of about the same length.
                reserved
                    .names
                    .reserve(location.len().saturating_add(1) * retrieve.len());
            }
            reserved.names.push_str(&location);
            let end = u32::try_from(reserved.names.len()).map_err(|_| DeliverError::Local {
                target: self.target.describe(),
                source: std::io::Error::other("too many messages to reserve at once"),
            })?;
            reserved.ends.push(end);
        }
        if !retrieve.is_empty() {
            let rows = (retrieve.iter().enumerate())
                .map(|(i, m)| (m.uid.as_str(), m.size, reserved.location(i)));
            self.ledger
                .begin_fetch_in(self.account, mailbox, listing.uidvalidity, rows)?;
        }
        Ok(reserved)
    }

    /// Steps 5–7: retrieve and deliver the planned messages, record them in batches, and hand
    /// recorded ones back to the source for deletion along with `delete_now`. Returns the
    /// source's report (or why the session broke) and what the sink did.
    #[allow(clippy::type_complexity)]
    fn transfer(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        plan: &Plan,
        reserved: &Reserved,
    ) -> Result<
        (
            Result<TransferReport, crate::source::SourceError>,
            Transferred,
        ),
        EngineError,
    > {
        // Messages another client already answered a receipt request for (IMAP `$MDNSent`).
        let answered = match self.hooks.receipts {
            Some(_) if !plan.retrieve.is_empty() => self.source.answered(&plan.retrieve)?,
            _ => HashSet::new(),
        };
        // The messages to retrieve by uid, to find each one's place as it arrives.
        let mut order: Vec<u32> = (0..plan.retrieve.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            (plan.retrieve[a as usize].uid).cmp(&plan.retrieve[b as usize].uid)
        });
        self.progress.start(
            plan.retrieve.len() as u64,
            plan.retrieve.iter().map(|m| m.size).sum(),
        );
        // Targets whose deliveries cannot be verified after a crash record one at a time.
        let batch_limit = if self.target.verifiable() {
            BATCH_MESSAGES
        } else {
            1
        };
        let mut sink = EngineSink {
            ledger: &mut *self.ledger,
            account: self.account,
            mailbox: mailbox.to_string(),
            uidvalidity: listing.uidvalidity,
            target: &mut *self.target,
            retrieve: &plan.retrieve,
            reserved,
            order,
            keep: self.settings.keep,
            batch_limit,
            progress: &mut *self.progress,
            unrecorded: Vec::new(),
            oldest_unrecorded: None,
            syncing: Vec::new(),
            releasable: Vec::new(),
            delivered: vec![false; plan.retrieve.len()],
            rejected: Vec::new(),
            failure: None,
            summary: &mut self.summary,
            receipts: self.hooks.receipts.as_deref_mut(),
            answered,
            new_requests: Vec::new(),
            stop: &self.hooks.stop,
        };
        let transfer = self
            .source
            .transfer(&plan.delete_now, &plan.retrieve, &mut sink);
        let done = sink.finish();
        self.progress.finish();
        Ok((transfer, done))
    }

    /// Reservations that were not delivered go back to "unknown" (no file exists for them: a
    /// target removes partial deliveries itself). A delivered message whose record failed
    /// keeps its `fetching` row, so that recovery finds it.
    fn forget_undelivered(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        retrieve: &[RemoteMessage],
        delivered: &[bool],
    ) -> Result<(), EngineError> {
        let undelivered = (retrieve.iter().zip(delivered))
            .filter(|(_, &d)| !d)
            .map(|(m, _)| m.uid.as_str());
        self.ledger
            .forget_in(self.account, mailbox, listing.uidvalidity, undelivered)?;
        Ok(())
    }

    /// Step 7b: closes the mailbox. Per-mailbox protocols (IMAP) make the deletions take effect
    /// now; the others (POP3) at the end of the session. Only a complete listing tells which
    /// rows belong to messages the server no longer has.
    fn close(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        report: &TransferReport,
        gone: Vec<(u32, String)>,
    ) -> Result<(), EngineError> {
        match self.source.close(&report.deleted)? {
            Some(gone) => {
                let keys: Vec<MessageKey> = gone
                    .iter()
                    .map(|m| key(mailbox, listing.uidvalidity, &m.uid))
                    .collect();
                self.confirm_deleted(&keys)?;
            }
            None => self.pending.at_finish.extend(
                report
                    .deleted
                    .iter()
                    .map(|m| key(mailbox, listing.uidvalidity, &m.uid)),
            ),
        }
        if !listing.partial && !gone.is_empty() {
            self.pending.prune.push((mailbox.to_string(), gone));
        }
        Ok(())
    }

    /// Step 8: ends the session; for POP3 this makes the deletions take effect. Only then are
    /// they noted, and the rows of messages the server no longer lists pruned.
    fn commit(&mut self) -> Result<(), EngineError> {
        self.source.finish()?;
        let at_finish = std::mem::take(&mut self.pending.at_finish);
        self.confirm_deleted(&at_finish)?;
        for (mailbox, gone) in &self.pending.prune {
            let pruned = self.ledger.forget_delivered(self.account, mailbox, gone)?;
            if pruned > 0 {
                log::debug!("pruned {pruned} ledger entries the server no longer lists");
            }
        }
        Ok(())
    }

    /// Records deletions the server confirmed and counts them (and those of them that were
    /// never downloaded) in the summary.
    fn confirm_deleted(&mut self, keys: &[MessageKey]) -> Result<(), EngineError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.ledger
            .mark_deleted(self.account, keys, crate::time::unix_now())?;
        self.summary.deleted += keys.len();
        self.summary.deleted_unread += keys
            .iter()
            .filter(|k| self.pending.unread.contains(*k))
            .count();
        Ok(())
    }
}

/// The failure a mailbox reports once its session work is done, the most serious first: the
/// target or ledger stopped, the target refused messages, the filter failed, the server
/// refused to send messages.
fn first_failure(
    failure: Option<EngineError>,
    rejected: Vec<String>,
    filter_failures: Vec<String>,
    report: &TransferReport,
) -> Option<EngineError> {
    if let Some(e) = failure {
        return Some(e);
    }
    if let Some(first) = rejected.first() {
        return Some(EngineError::NotDelivered {
            count: rejected.len(),
            first: first.clone(),
        });
    }
    if let Some(first) = filter_failures.first() {
        return Some(EngineError::FilterFailed {
            count: filter_failures.len(),
            first: first.clone(),
        });
    }
    if let Some((m, reply)) = report.refused.first() {
        return Some(EngineError::Refused {
            count: report.refused.len(),
            first: format!("{} ({})", m.number, m.uid),
            reply: reply.clone(),
        });
    }
    None
}
