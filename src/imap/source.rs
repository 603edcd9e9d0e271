//! The IMAP session as a [`Source`] for the fetch engine.
//!
//! Folders are the configured names or LIST patterns (RFC 3501 §6.3.8), resolved once per
//! session. A folder is opened with EXAMINE when nothing in it may change (keep mode without
//! `mark_seen`) and with SELECT otherwise (§6.3.1–2). Bodies are fetched with `BODY.PEEK[]`
//! and handed to the engine with CRLF turned into LF, like POP3 messages. Deletion is
//! `UID STORE +FLAGS.SILENT (\Deleted)` of exactly the messages the engine releases (after
//! durable delivery and recording), then at [`Source::close`] `UID EXPUNGE` of exactly those
//! (RFC 4315 §2.1). Without UIDPLUS, a plain EXPUNGE (§6.4.3) is used only when every message
//! flagged `\Deleted` in the folder is one of ours; otherwise nothing is expunged and the
//! user is told why — mailpull never removes messages it did not mark.

use std::collections::HashMap;
use std::io::{Read, Write};

use super::crlf::CrlfToLf;
use super::session::{MailboxStatus, Session, Stop};
use crate::source::{Listing, RemoteMessage, Resume, Sink, Source, SourceError, TransferReport};

/// An IMAP session with the account's folder settings.
pub struct ImapSource<S: Read + Write> {
    session: Session<S>,
    /// Folder names or LIST patterns, in UTF-8.
    folders: Vec<String>,
    /// Set `\Seen` on fetched messages.
    mark_seen: bool,
    /// The folder that is open.
    open: Option<String>,
    /// It was opened read-only (EXAMINE), and whether it takes new keywords (PERMANENTFLAGS).
    read_only: bool,
    can_set_keywords: bool,
    /// `ENABLE UTF8=ACCEPT` was tried (once, before the first LIST or SELECT).
    prepared: bool,
    /// The folder selected on the server (it stays selected after [`Source::close`], which
    /// only expunges), and what its last listing covered: (folder, UIDVALIDITY, highest UID
    /// listed). See [`ImapSource::open_new`].
    listed: Option<(String, u32, u32)>,
}

impl<S: Read + Write> ImapSource<S> {
    /// Wraps a logged-in session.
    pub fn new(session: Session<S>, folders: Vec<String>, mark_seen: bool) -> ImapSource<S> {
        ImapSource {
            session,
            folders,
            mark_seen,
            open: None,
            read_only: true,
            can_set_keywords: false,
            prepared: false,
            listed: None,
        }
    }

    /// Before the first LIST or SELECT: `ENABLE UTF8=ACCEPT` where offered (see
    /// [`Session::enable_utf8`]).
    fn prepare(&mut self) -> Result<(), SourceError> {
        if !self.prepared {
            self.prepared = true;
            if self.session.enable_utf8()? {
                log::debug!("UTF8=ACCEPT is in effect: messages are not downgraded");
            }
        }
        Ok(())
    }

    /// The session, e.g. to IDLE on the folder the engine left selected (`mailpull watch`).
    pub fn session_mut(&mut self) -> &mut Session<S> {
        &mut self.session
    }

    /// Like [`Source::open`], but lists only the messages that arrived since the last
    /// listing of `mailbox` in this session (`UID FETCH n:*` for the UIDs above the highest
    /// one listed; the listing is [`Listing::partial`]) — for `mailpull watch`, so that new mail
    /// costs a listing of the new mail, not of the whole folder. A complete listing is made
    /// instead when the folder is not the one selected, must be selected again (read-write
    /// now), or its UIDVALIDITY changed.
    ///
    /// [`Listing::partial`]: crate::source::Listing::partial
    pub fn open_new(&mut self, mailbox: &str, write: bool) -> Result<Listing, SourceError> {
        let read_only = !(write || self.mark_seen);
        let (uidvalidity, highest) = match &self.listed {
            Some((folder, v, h))
                if folder == mailbox
                    && (read_only || !self.read_only)
                    && self.session.uidvalidity() == Some(*v) =>
            {
                (*v, *h)
            }
            _ => return self.open(mailbox, write),
        };
        self.open = Some(mailbox.to_string());
        let listed = self.session.list_new(highest)?;
        let new_highest = listed.iter().map(|m| m.uid).max().unwrap_or(0).max(highest);
        self.listed = Some((mailbox.to_string(), uidvalidity, new_highest));
        let messages = listed
            .into_iter()
            .map(|m| RemoteMessage {
                number: m.uid,
                uid: m.uid.to_string(),
                size: m.size,
                flagged_deleted: m.deleted,
            })
            .collect();
        Ok(Listing {
            uidvalidity,
            messages,
            partial: true,
            ..Listing::default()
        })
    }

    /// Selects (or examines) `mailbox` and remembers what the session needs of it.
    fn select(&mut self, mailbox: &str, write: bool) -> Result<MailboxStatus, SourceError> {
        self.prepare()?;
        let read_only = !(write || self.mark_seen);
        self.listed = None;
        let status = self.session.select(mailbox, read_only)?;
        self.open = Some(mailbox.to_string());
        self.read_only = status.read_only;
        self.can_set_keywords = status.can_set_keywords;
        Ok(status)
    }

    /// The full listing of the selected mailbox.
    fn list_all(&mut self, mailbox: &str, status: &MailboxStatus) -> Result<Listing, SourceError> {
        let listed = self.session.list_all()?;
        let highest = listed.iter().map(|m| m.uid).max().unwrap_or(0);
        self.listed = Some((mailbox.to_string(), status.uidvalidity, highest));
        // Messages someone already marked \Deleted are pending removal: the engine leaves
        // them alone unless they are its own (RFC 3501 §6.4.4 SEARCH DELETED).
        let flagged: std::collections::HashSet<u32> = if listed.is_empty() {
            Default::default()
        } else {
            self.session
                .deleted_uids_in_mailbox()?
                .into_iter()
                .collect()
        };
        // The listing vouches for everything below UIDNEXT only if it holds as many messages
        // as the mailbox does (a server that leaves one out, or mail that arrived meanwhile,
        // must not let a later run skip it).
        let exists = self.session.exists();
        let complete = listed.len() == exists as usize;
        let messages = listed
            .into_iter()
            .map(|m| RemoteMessage {
                number: m.uid,
                uid: m.uid.to_string(),
                size: m.size,
                flagged_deleted: flagged.contains(&m.uid),
            })
            .collect();
        Ok(Listing {
            uidvalidity: status.uidvalidity,
            messages,
            uidnext: status.uidnext.filter(|_| complete),
            on_server: Some(u64::from(exists)),
            ..Listing::default()
        })
    }
}

/// The messages of a transfer by UID: a binary search where they are in ascending UID order
/// (as listed), a map otherwise.
enum ByUid<'a> {
    Sorted(&'a [RemoteMessage]),
    Map(HashMap<u32, &'a RemoteMessage>),
}

impl<'a> ByUid<'a> {
    fn new(msgs: &'a [RemoteMessage]) -> ByUid<'a> {
        if msgs.is_sorted_by(|a, b| a.number < b.number) {
            ByUid::Sorted(msgs)
        } else {
            ByUid::Map(msgs.iter().map(|m| (m.number, m)).collect())
        }
    }

    fn get(&self, uid: u32) -> Option<&'a RemoteMessage> {
        match self {
            ByUid::Sorted(msgs) => msgs
                .binary_search_by_key(&uid, |m| m.number)
                .ok()
                .map(|i| &msgs[i]),
            ByUid::Map(map) => map.get(&uid).copied(),
        }
    }
}

/// `data` with every CRLF turned into LF.
fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut src = data;
    // Reading from a slice cannot fail.
    let _ = CrlfToLf::new(&mut src).read_to_end(&mut out);
    out
}

/// The keyword that says a read receipt was answered (RFC 3503).
const MDN_SENT: &str = "$MDNSent";

fn uids(msgs: &[RemoteMessage]) -> Vec<u32> {
    msgs.iter().map(|m| m.number).collect()
}

impl<S: Read + Write> Source for ImapSource<S> {
    fn mailboxes(&mut self) -> Result<Vec<String>, SourceError> {
        self.prepare()?;
        super::folders::resolve(&mut self.session, &self.folders)
    }

    fn open(&mut self, mailbox: &str, write: bool) -> Result<Listing, SourceError> {
        let status = self.select(mailbox, write)?;
        self.list_all(mailbox, &status)
    }

    /// With the same UIDVALIDITY and `UIDNEXT` announced, nothing arrived since `resume`:
    /// no listing is sent at all. With a greater `UIDNEXT`, only `UID FETCH uidnext:*`, as long
    /// as those and the messages the point covered add up to the mailbox's `EXISTS`.
    /// Otherwise (another UIDVALIDITY, no `UIDNEXT`, or one that went backwards) the full
    /// listing, as [`Source::open`].
    fn open_since(
        &mut self,
        mailbox: &str,
        write: bool,
        resume: Resume,
    ) -> Result<Listing, SourceError> {
        let status = self.select(mailbox, write)?;
        let uidnext = match status.uidnext {
            Some(n) if status.uidvalidity == resume.uidvalidity && n >= resume.uidnext => n,
            _ => return self.list_all(mailbox, &status),
        };
        let after = resume.uidnext.saturating_sub(1);
        let listed = if uidnext == resume.uidnext {
            // No UID was handed out since: nothing arrived (messages may have been expunged).
            Vec::new()
        } else {
            let listed = self.session.list_new(after)?;
            // The new messages and the ones the point covered must add up to the mailbox;
            // if not (another client expunged some, or the server left one out), the whole
            // mailbox is listed, and it must add up in turn.
            let covered = u64::from(resume.exists) + listed.len() as u64;
            if covered != u64::from(self.session.exists()) {
                log::debug!(
                    "{mailbox}: {} new message(s) and {} known do not make the {} the server \
                     holds: listing every message",
                    listed.len(),
                    resume.exists,
                    self.session.exists()
                );
                return self.list_all(mailbox, &status);
            }
            listed
        };
        let highest = listed.iter().map(|m| m.uid).max().unwrap_or(0).max(after);
        self.listed = Some((mailbox.to_string(), status.uidvalidity, highest));
        Ok(Listing {
            uidvalidity: status.uidvalidity,
            messages: listed
                .into_iter()
                .map(|m| RemoteMessage {
                    number: m.uid,
                    uid: m.uid.to_string(),
                    size: m.size,
                    flagged_deleted: m.deleted,
                })
                .collect(),
            partial: true,
            uidnext: Some(uidnext),
            on_server: Some(u64::from(self.session.exists())),
            digest: None,
        })
    }

    fn message_ids(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<String>>, SourceError> {
        let found: HashMap<u32, Option<String>> = self
            .session
            .message_ids(&uids(msgs))?
            .into_iter()
            .map(|(uid, id, _)| (uid, id))
            .collect();
        Ok(msgs
            .iter()
            .map(|m| found.get(&m.number).cloned().flatten())
            .collect())
    }

    fn headers(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<Vec<u8>>>, SourceError> {
        let mut found: HashMap<u32, Vec<u8>> = self
            .session
            .headers(&uids(msgs))?
            .into_iter()
            .map(|(uid, header, _)| (uid, header))
            .collect();
        // Local line ends, as the message will be delivered.
        Ok(msgs
            .iter()
            .map(|m| found.remove(&m.number).map(|h| crlf_to_lf(&h)))
            .collect())
    }

    fn answered(
        &mut self,
        msgs: &[RemoteMessage],
    ) -> Result<std::collections::HashSet<String>, SourceError> {
        // From the listing's FLAGS: no round trip.
        let marked = self.session.listed_with_keyword(MDN_SENT);
        Ok(msgs
            .iter()
            .filter(|m| marked.contains(&m.number))
            .map(|m| m.uid.clone())
            .collect())
    }

    /// RFC 3503 §3.1: `$MDNSent` once the user answered. A folder opened read-only (keep mode)
    /// is opened again with SELECT first; a folder whose PERMANENTFLAGS do not allow new
    /// keywords (no `\*`) and that does not list `$MDNSent` is left alone.
    fn mark_answered(&mut self, msgs: &[RemoteMessage]) -> Result<(), SourceError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let Some(folder) = self.open.clone() else {
            return Ok(());
        };
        if self.read_only {
            // Selecting again forgets the message numbers: the next listing is complete.
            self.listed = None;
            let status = self.session.select(&folder, false)?;
            self.read_only = status.read_only;
            self.can_set_keywords = status.can_set_keywords
                || status
                    .permanent_flags
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(MDN_SENT));
        }
        if self.read_only || !self.can_set_keywords {
            log::info!("{folder}: the server does not let mailpull set $MDNSent here");
            return Ok(());
        }
        self.session.store_keyword(&uids(msgs), MDN_SENT)
    }

    fn transfer(
        &mut self,
        delete_now: &[RemoteMessage],
        retrieve: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<TransferReport, SourceError> {
        let mut report = TransferReport::default();
        if !delete_now.is_empty() {
            self.session.store_deleted(&uids(delete_now))?;
            report.deleted.extend(delete_now.iter().cloned());
        }
        let by_uid = ByUid::new(retrieve);
        let mut released: Vec<RemoteMessage> = Vec::new();
        let mut seen: Vec<u32> = Vec::new();
        let mark_seen = self.mark_seen;
        let outcome = self
            .session
            .fetch_bodies(&uids(retrieve), &mut |uid, body| {
                let Some(msg) = by_uid.get(uid) else {
                    return Ok(());
                };
                let mut lf = CrlfToLf::new(body);
                match sink.message(msg, &mut lf) {
                    Ok(()) if mark_seen => seen.push(uid),
                    Ok(()) => {}
                    Err(e) if e.fatal => return Err(Stop),
                    Err(_) => {}
                }
                released.extend(sink.take_deletes(false));
                Ok(())
            });
        // Whatever happened on the wire, the messages the engine released are recorded:
        // flag them while the connection still works.
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                let _ = self.session.store_deleted(&uids(&released));
                return Err(e);
            }
        };
        released.extend(sink.take_deletes(true));
        if !released.is_empty() {
            self.session.store_deleted(&uids(&released))?;
            report.deleted.extend(released);
        }
        if self.mark_seen && !seen.is_empty() {
            self.session.store_seen(&seen)?;
        }
        for uid in outcome.missing {
            if let Some(m) = by_uid.get(uid) {
                report.refused.push((
                    m.clone(),
                    "the server did not send it (expunged by another client?)".into(),
                ));
            }
        }
        Ok(report)
    }

    fn close(
        &mut self,
        deleted: &[RemoteMessage],
    ) -> Result<Option<Vec<RemoteMessage>>, SourceError> {
        let folder = self.open.take().unwrap_or_default();
        if deleted.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let ours = uids(deleted);
        let gone: Vec<u32> = if self.session.has_uidplus() {
            self.session.expunge(&ours)?
        } else {
            let flagged = self.session.deleted_uids_in_mailbox()?;
            let foreign: Vec<u32> = flagged
                .iter()
                .copied()
                .filter(|u| !ours.contains(u))
                .collect();
            if !foreign.is_empty() {
                log::warn!(
                    "{folder}: the server has no UIDPLUS and {} other message(s) are flagged \
                     \\Deleted; mailpull does not expunge messages it did not mark, so its own \
                     {} message(s) stay flagged until someone expunges the folder",
                    foreign.len(),
                    ours.len()
                );
                return Ok(Some(Vec::new()));
            }
            self.session.expunge_all()?;
            ours.clone()
        };
        Ok(Some(
            deleted
                .iter()
                .filter(|m| gone.contains(&m.number) || gone.contains(&0))
                .cloned()
                .collect(),
        ))
    }

    fn finish(&mut self) -> Result<(), SourceError> {
        self.session.logout()
    }
}
