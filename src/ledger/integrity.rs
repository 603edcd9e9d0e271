//! The integrity check of the ledger file (`PRAGMA quick_check`, which reads every page): when
//! the ledger is opened, or, for a fetch, on a thread of its own while the connection to the
//! server is made ([`IntegrityCheck`]; see `Ledger::open_checking_later`).

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{is_corruption, LedgerError};

/// Above this file size, opening skips `PRAGMA quick_check` (which reads the whole file, some
/// 1.4 ms per MB on this machine) and only reads the header and the schema; SQLite still
/// reports any damaged page it reads later, as [`LedgerError::Corrupt`]. A ledger holds about
/// 220 bytes per message, so this is some 35,000 messages: above that the check would be a
/// fixed cost of every run (~30 ms at 100,000 messages) longer than a server takes to answer.
pub const QUICK_CHECK_LIMIT: u64 = 8 * 1024 * 1024;

/// How long the check's own connection waits for a writer (as the ledger's connection does).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the file behind `conn` is small enough to be checked (see [`QUICK_CHECK_LIMIT`]).
pub(super) fn worth_checking(conn: &Connection, path: &Path) -> rusqlite::Result<bool> {
    let page_count: i64 = conn.pragma_query_value(None, "page_count", |row| row.get(0))?;
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let bytes = u64::try_from(page_count.saturating_mul(page_size)).unwrap_or(u64::MAX);
    if bytes > QUICK_CHECK_LIMIT {
        log::debug!(
            "ledger {}: {bytes} bytes, skipping quick_check",
            path.display()
        );
        return Ok(false);
    }
    Ok(true)
}

/// Runs `PRAGMA quick_check` on `conn`. The outer error is a failure to run the check, the
/// inner one a damaged file.
pub(super) fn quick_check(
    conn: &Connection,
    path: &Path,
) -> rusqlite::Result<Result<(), LedgerError>> {
    let mut st = conn.prepare("PRAGMA quick_check(5)")?;
    let problems = st
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        Ok(Ok(()))
    } else {
        Ok(Err(LedgerError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("integrity check failed: {}", problems.join("; ")),
        }))
    }
}

/// The integrity check of an opened ledger, running (or already done): [`IntegrityCheck::wait`]
/// gives its verdict. A fetch waits for it before logging in, so that a damaged ledger stops
/// the run before the server sees a login.
#[must_use = "a ledger opened with its check left for later must wait for the check"]
pub struct IntegrityCheck(Verdict);

enum Verdict {
    Ready(Result<(), LedgerError>),
    Running(JoinHandle<Result<(), LedgerError>>),
}

impl IntegrityCheck {
    /// Nothing left to check (the ledger was checked when opened, or is too big to check).
    pub fn done() -> IntegrityCheck {
        IntegrityCheck(Verdict::Ready(Ok(())))
    }

    /// Starts the check of the ledger at `path` on a thread of its own, with a read-only
    /// connection of its own (WAL lets it read while the ledger's connection writes).
    pub(super) fn start(path: &Path) -> IntegrityCheck {
        let owned = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("ledger-check".into())
            .spawn(move || check_file(&owned));
        IntegrityCheck(match spawned {
            Ok(handle) => Verdict::Running(handle),
            // No thread to be had: check here and now.
            Err(_) => Verdict::Ready(check_file(path)),
        })
    }

    /// Waits for the check: `Ok` for a sound file, [`LedgerError::Corrupt`] for a damaged one.
    pub fn wait(self) -> Result<(), LedgerError> {
        match self.0 {
            Verdict::Ready(verdict) => verdict,
            Verdict::Running(handle) => match handle.join() {
                Ok(verdict) => verdict,
                Err(panic) => std::panic::resume_unwind(panic),
            },
        }
    }
}

/// Opens the ledger read-only and runs the check.
fn check_file(path: &Path) -> Result<(), LedgerError> {
    let err = |e: rusqlite::Error| {
        if is_corruption(&e) {
            LedgerError::Corrupt {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }
        } else {
            LedgerError::Open {
                path: path.to_path_buf(),
                source: e,
            }
        }
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    quick_check(&conn, path).map_err(err)?
}
