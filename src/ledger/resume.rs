//! Where the last complete run left each IMAP folder (schema version 4): the UIDVALIDITY and
//! `UIDNEXT` the server announced, and how many messages it held, recorded only when every
//! message below that `UIDNEXT` was delivered and the listing added up to the mailbox's
//! `EXISTS`. A later keep-mode run that finds the same two values knows that nothing
//! arrived and sends no listing at all; one that finds a greater `UIDNEXT` lists only the
//! new UIDs (see `Source::open_since`).
//!
//! A point is used only once confirmed: written by a run that fetched something, it waits for
//! the next full listing to find every message below it already delivered (so that a server
//! that once left a message out of a listing cannot make it skipped for good), and a full
//! listing is made again at least daily (`engine/fetch.rs`).
//!
//! A POP3 maildrop (mailbox `""`) has neither UIDVALIDITY nor `UIDNEXT`, and its listing is
//! always complete; its point (schema version 5) is the digest of a listing whose every
//! message was delivered. A later keep-mode run whose listing has the same digest lists the
//! same messages, all delivered: it skips comparing the listing with the ledger's rows
//! (`Source::open_since` in `pop3/source.rs`). Rows of a listed message are removed only when
//! the message is gone from the server, which changes the listing.
//!
//! A resume point is a promise about the past only: UIDs are never reused under one
//! UIDVALIDITY (RFC 3501 §2.3.1.1), so messages below it stay delivered whatever happens
//! later. Merging two accounts' rows (`ledger rename`, the identity migration) drops the
//! points of the account merged away: its next run lists in full.

use rusqlite::params;

use super::{Ledger, LedgerError};
use crate::source::Resume;

/// 3 -> 4: resume points.
pub(super) const SCHEMA_V4: &str = "CREATE TABLE folders (
        account_id  INTEGER NOT NULL REFERENCES accounts(id),
        mailbox     TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uidnext     INTEGER NOT NULL,
        messages    INTEGER NOT NULL,
        confirmed_at INTEGER,
        PRIMARY KEY (account_id, mailbox)
    );";

/// 4 -> 5: POP3 resume points (the digest of a listing delivered in full).
pub(super) const SCHEMA_V5: &str = "ALTER TABLE folders ADD COLUMN listing_digest BLOB;";

/// A resume point and whether a full listing has confirmed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    pub at: Resume,
    /// Unix time of the full listing that found every message below `at.uidnext` already
    /// delivered (`None`: not confirmed yet — the run that wrote it fetched something, and a
    /// server that left a message out of that one listing must get a second chance).
    pub confirmed_at: Option<i64>,
}

/// How long a confirmed point is trusted: then the folder is listed in full again, so that a
/// server's word is checked at least this often.
pub const TRUSTED_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl ResumePoint {
    /// Whether a run at unix time `now` may list only what arrived since this point.
    pub fn usable(&self, now: i64) -> bool {
        self.confirmed_at
            .is_some_and(|t| now.saturating_sub(t) < TRUSTED_FOR.as_secs() as i64)
    }
}

impl Ledger {
    /// The resume point of `mailbox`, if a complete run recorded one.
    pub fn resume_point(
        &self,
        account: i64,
        mailbox: &str,
    ) -> Result<Option<ResumePoint>, LedgerError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT uidvalidity, uidnext, messages, confirmed_at, listing_digest FROM folders
                 WHERE account_id = ?1 AND mailbox = ?2",
            )?;
            let mut rows = st.query(params![account, mailbox])?;
            match rows.next()? {
                Some(row) => Ok(Some(ResumePoint {
                    at: Resume {
                        uidvalidity: row.get(0)?,
                        uidnext: row.get(1)?,
                        exists: row.get(2)?,
                        // A digest of another length is no digest of ours: no point then.
                        listing: row
                            .get_ref(4)?
                            .as_blob_or_null()?
                            .and_then(|b| b.try_into().ok()),
                    },
                    confirmed_at: row.get(3)?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Records that every message of `mailbox` below `at.uidnext` (under `at.uidvalidity`)
    /// was delivered.
    pub fn set_resume_point(
        &mut self,
        account: i64,
        mailbox: &str,
        point: ResumePoint,
    ) -> Result<(), LedgerError> {
        let at = point.at;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO folders
                   (account_id, mailbox, uidvalidity, uidnext, messages, confirmed_at,
                    listing_digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (account_id, mailbox)
                 DO UPDATE SET uidvalidity = excluded.uidvalidity, uidnext = excluded.uidnext,
                               messages = excluded.messages,
                               confirmed_at = excluded.confirmed_at,
                               listing_digest = excluded.listing_digest",
                params![
                    account,
                    mailbox,
                    at.uidvalidity,
                    at.uidnext,
                    at.exists,
                    point.confirmed_at,
                    at.listing.as_ref().map(|d| &d[..])
                ],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AccountKey, Ledger, MessageKey, NewEntry};
    use super::ResumePoint;
    use crate::source::Resume;

    #[test]
    fn points_are_kept_per_folder_and_dropped_when_accounts_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let old = AccountKey::new("imap", "old.example.org", "alice");
        let new = AccountKey::new("imap", "new.example.org", "alice");
        let a = l.account_id(&old).unwrap();
        let b = l.account_id(&new).unwrap();
        assert_eq!(l.resume_point(a, "INBOX").unwrap(), None);
        let at = |uidvalidity, uidnext| ResumePoint {
            at: Resume {
                uidvalidity,
                uidnext,
                exists: uidnext - 1,
                listing: None,
            },
            confirmed_at: Some(1),
        };
        l.set_resume_point(a, "INBOX", at(7, 10)).unwrap();
        l.set_resume_point(a, "INBOX", at(7, 12)).unwrap();
        l.set_resume_point(a, "Lists", at(3, 2)).unwrap();
        l.set_resume_point(b, "INBOX", at(9, 4)).unwrap();
        assert_eq!(l.resume_point(a, "INBOX").unwrap(), Some(at(7, 12)));
        assert_eq!(l.resume_point(a, "Lists").unwrap(), Some(at(3, 2)));

        // Renaming onto an account that exists merges their rows: neither keeps its points.
        let row = |uid: &str| NewEntry {
            key: MessageKey {
                mailbox: "INBOX".into(),
                uidvalidity: 7,
                uid: uid.into(),
            },
            size: 1,
            location: format!("loc-{uid}"),
            message_id: None,
        };
        l.insert_delivered(a, &[(row("1"), 1)]).unwrap();
        l.insert_delivered(b, &[(row("2"), 1)]).unwrap();
        l.rename(&old, &new, false).unwrap();
        let b = l.account_id(&new).unwrap();
        assert_eq!(l.resume_point(b, "INBOX").unwrap(), None);
        assert_eq!(l.resume_point(b, "Lists").unwrap(), None);
    }

    #[test]
    fn a_pop3_point_keeps_its_digest_and_a_foreign_blob_is_no_point_of_ours() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let a = l
            .account_id(&AccountKey::new("pop3", "pop.example.org", "alice"))
            .unwrap();
        let point = ResumePoint {
            at: Resume {
                uidvalidity: 0,
                uidnext: 0,
                exists: 3,
                listing: Some([7; 32]),
            },
            confirmed_at: Some(5),
        };
        l.set_resume_point(a, "", point).unwrap();
        assert_eq!(l.resume_point(a, "").unwrap(), Some(point));
        l.conn
            .execute("UPDATE folders SET listing_digest = x'0102'", [])
            .unwrap();
        let read = l.resume_point(a, "").unwrap().unwrap();
        assert_eq!(read.at.listing, None);
    }
}
