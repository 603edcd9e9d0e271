//! Ledger storage for read-receipt requests and per-sender answers (schema version 2).
//!
//! The state machine lives here so that every transition is one guarded `UPDATE` (a transition
//! from the wrong state changes nothing and reports `false`): `pending` → `approved` →
//! `sending` → `sent`, or `pending`/`approved` → `declined`. `sending` is committed before the
//! SMTP transaction starts and is never left automatically: a crash there leaves a request that
//! "may have been sent", for the user to resolve. See `crate::receipts` for the policy.

use rusqlite::{params, OptionalExtension};

use super::{Ledger, LedgerError, MessageKey};

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptState {
    /// Waiting for the user's answer.
    Pending,
    /// The user said "send"; not yet attempted (e.g. no transport configured).
    Approved,
    /// A transmission started and did not finish: it may or may not have been sent.
    Sending,
    /// The receipt was accepted by the transport.
    Sent,
    /// The user said "don't send" (or "never for this sender").
    Declined,
}

impl ReceiptState {
    pub fn as_sql(self) -> &'static str {
        match self {
            ReceiptState::Pending => "pending",
            ReceiptState::Approved => "approved",
            ReceiptState::Sending => "sending",
            ReceiptState::Sent => "sent",
            ReceiptState::Declined => "declined",
        }
    }

    fn from_sql(s: &str) -> ReceiptState {
        match s {
            "approved" => ReceiptState::Approved,
            "sending" => ReceiptState::Sending,
            "sent" => ReceiptState::Sent,
            "declined" => ReceiptState::Declined,
            _ => ReceiptState::Pending,
        }
    }
}

/// A remembered answer for every request from one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Always,
    Never,
}

/// A request to record.
#[derive(Clone, Debug, Default)]
pub struct NewReceipt {
    pub dedupe_key: String,
    pub key: Option<MessageKey>,
    pub message_id: Option<String>,
    pub requester: String,
    pub original_recipient: Option<String>,
    pub from: String,
    pub subject: String,
    pub date: String,
    pub warnings: Vec<String>,
}

/// A stored request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub id: i64,
    pub account_id: i64,
    pub key: MessageKey,
    pub message_id: Option<String>,
    pub requester: String,
    pub original_recipient: Option<String>,
    pub from: String,
    pub subject: String,
    pub date: String,
    pub warnings: Vec<String>,
    pub state: ReceiptState,
    pub created_at: i64,
    pub flag_pending: bool,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, account_id, mailbox, uidvalidity, uid, message_id, requester, \
     original_recipient, from_header, subject, date, warnings, state, created_at, flag_pending, \
     last_error";

fn receipt_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Receipt> {
    let warnings: String = row.get(11)?;
    let state: String = row.get(12)?;
    Ok(Receipt {
        id: row.get(0)?,
        account_id: row.get(1)?,
        key: MessageKey {
            mailbox: row.get(2)?,
            uidvalidity: row.get(3)?,
            uid: row.get(4)?,
        },
        message_id: row.get(5)?,
        requester: row.get(6)?,
        original_recipient: row.get(7)?,
        from: row.get(8)?,
        subject: row.get(9)?,
        date: row.get(10)?,
        warnings: warnings
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        state: ReceiptState::from_sql(&state),
        created_at: row.get(13)?,
        flag_pending: row.get::<_, i64>(14)? != 0,
        last_error: row.get(15)?,
    })
}

impl Ledger {
    /// Records a request unless one with the same dedupe key exists (the same message seen in
    /// another folder or account, or again). Returns the new request, or `None` if it was
    /// already known.
    pub fn insert_receipt(
        &mut self,
        account: i64,
        r: &NewReceipt,
        at: i64,
    ) -> Result<Option<Receipt>, LedgerError> {
        match self.write(|tx| insert_receipt_in(tx, account, r, at))? {
            Some(id) => self.receipt(id),
            None => Ok(None),
        }
    }

    /// Whether a request with this dedupe key is already recorded.
    pub fn receipt_known(&self, dedupe_key: &str) -> Result<bool, LedgerError> {
        self.conn
            .prepare_cached("SELECT 1 FROM receipts WHERE dedupe_key = ?1")
            .and_then(|mut st| st.exists([dedupe_key]))
            .map_err(|e| self.sql_err(e))
    }

    /// One request by ID.
    pub fn receipt(&self, id: i64) -> Result<Option<Receipt>, LedgerError> {
        let sql = format!("SELECT {COLUMNS} FROM receipts WHERE id = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], receipt_from_row).optional())
            .map_err(|e| self.sql_err(e))
    }

    /// Requests in the given states (all if empty), oldest first.
    pub fn receipts(&self, states: &[ReceiptState]) -> Result<Vec<Receipt>, LedgerError> {
        let sql = format!("SELECT {COLUMNS} FROM receipts ORDER BY id");
        let all = self.read(|conn| {
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st.query_map([], receipt_from_row)?;
            rows.collect::<rusqlite::Result<Vec<Receipt>>>()
        })?;
        Ok(all
            .into_iter()
            .filter(|r| states.is_empty() || states.contains(&r.state))
            .collect())
    }

    /// Moves a request from one of `from` to `to`, recording the time of the answer or of the
    /// transmission and the error text. Returns whether it was in one of `from`.
    pub fn set_receipt_state(
        &mut self,
        id: i64,
        from: &[ReceiptState],
        to: ReceiptState,
        error: Option<&str>,
        at: i64,
    ) -> Result<bool, LedgerError> {
        let list: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_sql())).collect();
        // An answered request (sent or declined) still has to be flagged on the server.
        let flag = matches!(to, ReceiptState::Sent | ReceiptState::Declined);
        let sql = format!(
            "UPDATE receipts SET state = ?2, last_error = ?3,
               answered_at = CASE WHEN ?2 IN ('approved', 'declined') THEN ?4 ELSE answered_at END,
               sent_at = CASE WHEN ?2 = 'sent' THEN ?4 ELSE sent_at END,
               flag_pending = CASE WHEN ?5 THEN 1 ELSE flag_pending END
             WHERE id = ?1 AND state IN ({})",
            list.join(", ")
        );
        self.write(|tx| {
            let n = tx
                .prepare_cached(&sql)?
                .execute(params![id, to.as_sql(), error, at, flag])?;
            Ok(n == 1)
        })
    }

    /// The UIDs in one mailbox of one account whose `$MDNSent` keyword is still to be set.
    pub fn receipt_flags_pending(
        &self,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<(i64, String)>, LedgerError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT id, uid FROM receipts WHERE account_id = ?1 AND mailbox = ?2
                   AND uidvalidity = ?3 AND flag_pending = 1 ORDER BY id",
            )?;
            let rows = st.query_map(params![account, mailbox, uidvalidity], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<(i64, String)>>>()
        })
    }

    /// Records that `$MDNSent` was set (or cannot be: the folder takes no keywords, or the
    /// message is gone) for these requests.
    pub fn receipt_flags_done(&mut self, ids: &[i64]) -> Result<(), LedgerError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            {
                let mut st =
                    tx.prepare_cached("UPDATE receipts SET flag_pending = 0 WHERE id = ?1")?;
                for id in ids {
                    st.execute([id])?;
                }
            }
            Ok(())
        })
    }

    /// The remembered answer for a sender, if any.
    pub fn sender_policy(&self, sender: &str) -> Result<Option<Policy>, LedgerError> {
        let found: Option<String> = self
            .conn
            .prepare_cached("SELECT policy FROM receipt_policies WHERE sender = ?1")
            .and_then(|mut st| {
                st.query_row([sender.to_ascii_lowercase()], |row| row.get(0))
                    .optional()
            })
            .map_err(|e| self.sql_err(e))?;
        Ok(found.map(|p| {
            if p == "always" {
                Policy::Always
            } else {
                Policy::Never
            }
        }))
    }

    /// Remembers an answer for every later request from `sender`.
    pub fn set_sender_policy(
        &mut self,
        sender: &str,
        policy: Policy,
        at: i64,
    ) -> Result<(), LedgerError> {
        let p = match policy {
            Policy::Always => "always",
            Policy::Never => "never",
        };
        self.conn
            .prepare_cached(
                "INSERT INTO receipt_policies (sender, policy, set_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sender) DO UPDATE SET policy = ?2, set_at = ?3",
            )
            .and_then(|mut st| st.execute(params![sender.to_ascii_lowercase(), p, at]))
            .map(|_| ())
            .map_err(|e| self.sql_err(e))
    }
}

/// Inserts a request in the caller's transaction unless one with the same dedupe key
/// exists; the new request's id, or `None` if it was already known.
pub(super) fn insert_receipt_in(
    tx: &rusqlite::Transaction<'_>,
    account: i64,
    r: &NewReceipt,
    at: i64,
) -> rusqlite::Result<Option<i64>> {
    let key = r.key.clone().unwrap_or(MessageKey {
        mailbox: String::new(),
        uidvalidity: 0,
        uid: String::new(),
    });
    let n = tx
        .prepare_cached(
            "INSERT INTO receipts (dedupe_key, account_id, mailbox, uidvalidity, uid,
               message_id, requester, original_recipient, from_header, subject, date,
               warnings, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending', ?13)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )?
        .execute(params![
            r.dedupe_key,
            account,
            key.mailbox,
            key.uidvalidity,
            key.uid,
            r.message_id,
            r.requester,
            r.original_recipient,
            r.from,
            r.subject,
            r.date,
            r.warnings.join("\n"),
            at
        ])?;
    Ok((n == 1).then(|| tx.last_insert_rowid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        (dir, l)
    }

    #[test]
    fn a_version_1_ledger_gains_the_receipt_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(super::super::schema::SCHEMA_V1).unwrap();
            c.pragma_update(None, "application_id", super::super::schema::APPLICATION_ID)
                .unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.schema_version().unwrap(), super::super::SCHEMA_VERSION);
        assert!(l.receipts(&[]).unwrap().is_empty());
        assert_eq!(l.sender_policy("a@b.example").unwrap(), None);
    }

    #[test]
    fn requests_are_deduplicated_and_transitions_guarded() {
        let (_d, mut l) = ledger();
        let acc = l
            .account_id(&crate::ledger::AccountKey::new("imap", "h", "u"))
            .unwrap();
        let r = NewReceipt {
            dedupe_key: "<a@b>".into(),
            key: Some(MessageKey {
                mailbox: "INBOX".into(),
                uidvalidity: 7,
                uid: "3".into(),
            }),
            message_id: Some("<a@b>".into()),
            requester: "x@example.org".into(),
            warnings: vec!["w1".into(), "w2".into()],
            ..Default::default()
        };
        let first = l.insert_receipt(acc, &r, 10).unwrap().unwrap();
        assert_eq!(first.state, ReceiptState::Pending);
        assert_eq!(first.warnings, ["w1", "w2"]);
        assert!(l.insert_receipt(acc, &r, 11).unwrap().is_none());
        assert!(l.receipt_known("<a@b>").unwrap());
        use ReceiptState::*;
        assert!(!l
            .set_receipt_state(first.id, &[Sending], Sent, None, 12)
            .unwrap());
        assert!(l
            .set_receipt_state(first.id, &[Pending], Sending, None, 12)
            .unwrap());
        assert!(!l
            .set_receipt_state(first.id, &[Pending, Approved], Sending, None, 12)
            .unwrap());
        assert!(l
            .set_receipt_state(first.id, &[Sending], Sent, None, 13)
            .unwrap());
        assert_eq!(
            l.receipt_flags_pending(acc, "INBOX", 7).unwrap(),
            [(first.id, "3".to_string())]
        );
        l.receipt_flags_done(&[first.id]).unwrap();
        assert!(l.receipt_flags_pending(acc, "INBOX", 7).unwrap().is_empty());
        assert_eq!(l.receipts(&[Sent]).unwrap().len(), 1);
        assert!(l.receipts(&[Pending]).unwrap().is_empty());

        assert_eq!(l.sender_policy("X@example.org").unwrap(), None);
        l.set_sender_policy("X@Example.org", Policy::Always, 1)
            .unwrap();
        assert_eq!(
            l.sender_policy("x@example.org").unwrap(),
            Some(Policy::Always)
        );
        l.set_sender_policy("x@example.org", Policy::Never, 2)
            .unwrap();
        assert_eq!(
            l.sender_policy("x@EXAMPLE.org").unwrap(),
            Some(Policy::Never)
        );
    }
}
