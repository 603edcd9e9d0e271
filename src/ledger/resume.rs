//! Where the last complete run left each IMAP folder (schema version 4): the UIDVALIDITY and
//! `UIDNEXT` the server announced, and how many messages it held, recorded only when every
//! message below that `UIDNEXT` was delivered and the listing added up to the mailbox's
//! `EXISTS`. A later keep-mode run that finds the same two values knows that nothing
//! arrived and sends no listing at all; one that finds a greater `UIDNEXT` lists only the
//! new UIDs (see `Source::open_since`).
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
        PRIMARY KEY (account_id, mailbox)
    );";

impl Ledger {
    /// The resume point of `mailbox`, if a complete run recorded one.
    pub fn resume_point(&self, account: i64, mailbox: &str) -> Result<Option<Resume>, LedgerError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT uidvalidity, uidnext, messages FROM folders
                 WHERE account_id = ?1 AND mailbox = ?2",
            )?;
            let mut rows = st.query(params![account, mailbox])?;
            match rows.next()? {
                Some(row) => Ok(Some(Resume {
                    uidvalidity: row.get(0)?,
                    uidnext: row.get(1)?,
                    exists: row.get(2)?,
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
        at: Resume,
    ) -> Result<(), LedgerError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO folders (account_id, mailbox, uidvalidity, uidnext, messages)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (account_id, mailbox)
                 DO UPDATE SET uidvalidity = excluded.uidvalidity, uidnext = excluded.uidnext,
                               messages = excluded.messages",
                params![account, mailbox, at.uidvalidity, at.uidnext, at.exists],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AccountKey, Ledger, MessageKey, NewEntry};
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
        let at = |uidvalidity, uidnext| Resume {
            uidvalidity,
            uidnext,
            exists: uidnext - 1,
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
}
