//! Opening the ledger: creating the file privately, checking that it is a readable mailpull
//! ledger before anything is written, the connection's settings, and the migrations (see
//! "Opening" in the ledger's module documentation).

use std::io;
use std::path::Path;
use std::time::Duration;

use rusqlite::{ffi, Connection, OpenFlags};

use super::integrity::{quick_check, worth_checking, IntegrityCheck};
use super::schema::{APPLICATION_ID, OUR_TABLES, SCHEMA_VERSION};
use super::{is_busy, is_corruption, Ledger, LedgerError};
use crate::fs::{context, create_private_dir, parent_dir, private_file};

/// How long a writer waits for another process holding the ledger.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// When opening checks the file's integrity: before returning, or on a thread of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    Now,
    Later,
}

/// A rusqlite error standing for a file-system failure before SQLite got to open the file.
fn cantopen(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_CANTOPEN), Some(message))
}

/// Creates the ledger's parent directory (mode 0700) and the file itself (mode 0600) if missing.
fn create_file(path: &Path) -> Result<(), rusqlite::Error> {
    let parent = parent_dir(path);
    if !parent.exists() {
        create_private_dir(parent, true).map_err(|e| cantopen(e.to_string()))?;
    }
    match private_file().write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cantopen(context(e, "cannot create", path).to_string())),
    }
}

impl Ledger {
    /// Opens (creating it and its parent directory if needed) the ledger at `path`: WAL mode,
    /// `synchronous = FULL` (a commit survives power loss), a busy timeout so that parallel
    /// runs for different accounts wait for each other, and forward migrations.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let (ledger, check) = Self::open_with(path, When::Now)?;
        check.wait()?;
        Ok(ledger)
    }

    /// [`Ledger::open`], except that the integrity check of a file that needs no migration
    /// (`PRAGMA quick_check`, which reads every page below
    /// [`QUICK_CHECK_LIMIT`](super::QUICK_CHECK_LIMIT)) runs on a thread of its own: wait for
    /// it before anything on the server depends on the ledger. What is found by reading the
    /// header and the schema (a file that is not a mailpull ledger, a ledger from a newer
    /// mailpull) still stops the opening here, and a file about to be migrated is checked
    /// before the migration writes to it.
    pub fn open_checking_later(path: &Path) -> Result<(Ledger, IntegrityCheck), LedgerError> {
        Self::open_with(path, When::Later)
    }

    fn open_with(path: &Path, when: When) -> Result<(Ledger, IntegrityCheck), LedgerError> {
        // A few steps of opening (changing the journal mode, the first migration) can meet a
        // lock held by another process opening the same new file and report it at once
        // instead of waiting; try again for as long as a busy query would wait.
        let start = std::time::Instant::now();
        loop {
            match Self::open_once(path, when) {
                Err(LedgerError::Open { source, .. } | LedgerError::Sql { source, .. })
                    if is_busy(&source) && start.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path, when: When) -> Result<(Ledger, IntegrityCheck), LedgerError> {
        let open_err = |source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        };
        create_file(path).map_err(open_err)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        let ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        // While opening, a corruption error is Corrupt and anything else (busy, read-only, no
        // space for the WAL) is a failure to open.
        let setup_err = |e: rusqlite::Error| {
            if is_corruption(&e) {
                ledger.corrupt(e.to_string())
            } else {
                LedgerError::Open {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        };
        ledger.conn.busy_timeout(BUSY_TIMEOUT).map_err(setup_err)?;
        ledger
            .conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(setup_err)?;
        ledger
            .conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(setup_err)?;
        // A bounded page cache (1 MiB): a run's reads are one scan of a mailbox's rows and
        // indexed lookups, which the OS page cache serves as well; a 100,000-message fetch
        // stays within its memory budget.
        ledger
            .conn
            .pragma_update(None, "cache_size", -1024)
            .map_err(setup_err)?;

        // Read the header and the schema: this is where a file that is not SQLite fails. All
        // of it in one read transaction, so that another process creating the schema at the
        // same moment is seen either not at all or completely.
        ledger.conn.execute_batch("BEGIN").map_err(setup_err)?;
        let checked = ledger.check_file(&setup_err, when);
        let end = if checked.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = ledger.conn.execute_batch(end).map_err(setup_err);
        let check_later = checked?;
        ended?;

        let mode: String = ledger
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(setup_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::debug!(
                "ledger {}: journal mode {mode} (WAL is not available here)",
                path.display()
            );
        }
        let mut ledger = ledger;
        ledger.migrate()?;
        let check = if check_later {
            IntegrityCheck::start(path)
        } else {
            IntegrityCheck::done()
        };
        Ok((ledger, check))
    }

    /// Checks that the file is a readable mailpull ledger this mailpull understands: its
    /// schema, its header, and (now, or with `When::Later` on a thread once opened: `Ok(true)`)
    /// its integrity. `setup_err` maps SQLite's errors.
    fn check_file(
        &self,
        setup_err: &dyn Fn(rusqlite::Error) -> LedgerError,
        when: When,
    ) -> Result<bool, LedgerError> {
        let objects = self.schema_objects().map_err(setup_err)?;
        let (application_id, version) = self.header_ids().map_err(setup_err)?;
        self.check_identity(application_id, version, &objects)?;
        if !worth_checking(&self.conn, &self.path).map_err(setup_err)? {
            return Ok(false);
        }
        // A migration writes: the file must be known sound before.
        if when == When::Later && version == SCHEMA_VERSION {
            return Ok(true);
        }
        quick_check(&self.conn, &self.path).map_err(setup_err)??;
        Ok(false)
    }

    /// The names of the tables, indexes, views and triggers in the file (SQLite's own excluded).
    fn schema_objects(&self) -> rusqlite::Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )?;
        let rows = st.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect()
    }

    /// `PRAGMA application_id` and `PRAGMA user_version`.
    fn header_ids(&self) -> rusqlite::Result<(i64, i64)> {
        let application_id = self
            .conn
            .pragma_query_value(None, "application_id", |row| row.get(0))?;
        let version = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        Ok((application_id, version))
    }

    /// Refuses a file that is not a mailpull ledger, or one from a newer mailpull.
    fn check_identity(
        &self,
        application_id: i64,
        version: i64,
        objects: &[(String, String)],
    ) -> Result<(), LedgerError> {
        if application_id != 0 && application_id != APPLICATION_ID {
            return Err(self.corrupt(format!(
                "not a mailpull ledger (the file belongs to another application: application_id {application_id:#x})"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(LedgerError::TooNew {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < 0 {
            return Err(self.corrupt(format!("not a mailpull ledger (schema version {version})")));
        }
        if version == 0 {
            if let Some((kind, name)) = objects.first() {
                return Err(self.corrupt(format!(
                    "not a mailpull ledger (the database has no schema version but contains {kind} {name:?})"
                )));
            }
        } else {
            for table in OUR_TABLES {
                if !objects.iter().any(|(k, n)| k == "table" && n == table) {
                    return Err(self.corrupt(format!(
                        "not a mailpull ledger (schema version {version} but no table {table:?})"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use rusqlite::Connection;

    use super::super::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
    use super::super::test_support::{account, key, new_entry, open_temp};
    use super::super::{NewEntry, State};
    use super::*;
    use crate::exit::Classify;

    #[test]
    fn open_creates_file_and_directories_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/ledger.sqlite");
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.path(), path);
        assert!(path.is_file());
        let file_mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(file_mode, 0o600);
        for d in [dir.path().join("a"), dir.path().join("a/b")] {
            let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", d.display());
        }
        assert_eq!(ledger.schema_version().unwrap(), SCHEMA_VERSION);
        let journal: String = ledger
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal.to_ascii_lowercase(), "wal");
        let sync: i64 = ledger
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
        let fk: i64 = ledger
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn concurrent_first_opens_all_succeed() {
        // Several runs (or --jobs threads) opening a ledger that does not exist yet.
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ledger.sqlite");
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || Ledger::open(&path).map(|_| ()))
                })
                .collect();
            for h in handles {
                if let Err(e) = h.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
        }
    }

    #[test]
    fn existing_file_permissions_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        fs::write(&path, b"").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        Ledger::open(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn migrations_set_user_version_and_application_id() {
        let (dir, ledger) = open_temp();
        drop(ledger);
        let raw = Connection::open(dir.path().join("ledger.sqlite")).unwrap();
        let v: i64 = raw
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let id: i64 = raw
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap();
        assert_eq!(id, APPLICATION_ID);
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    }

    #[test]
    fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        {
            let mut l = Ledger::open(&path).unwrap();
            let a = l.account_id(&account("alice")).unwrap();
            l.begin_fetch(a, &[new_entry("u1", "loc1")]).unwrap();
            l.mark_delivered(a, &[key("u1")], 1234).unwrap();
        }
        let mut l = Ledger::open(&path).unwrap();
        let a = l.account_id(&account("alice")).unwrap();
        let entries = l.entries(a, "").unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries["u1"];
        assert_eq!(e.state, State::Delivered);
        assert_eq!(e.location, "loc1");
        assert_eq!(e.delivered_at, 1234);
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn too_new_is_refused() {
        let (dir, ledger) = open_temp();
        drop(ledger);
        let path = dir.path().join("ledger.sqlite");
        let raw = Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", 99).unwrap();
        drop(raw);
        match Ledger::open(&path) {
            Err(LedgerError::TooNew { found, known, .. }) => {
                assert_eq!(found, 99);
                assert_eq!(known, SCHEMA_VERSION);
            }
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
        // Also for a bare database carrying nothing but the version.
        let bare = dir.path().join("bare.sqlite");
        let raw = Connection::open(&bare).unwrap();
        raw.pragma_update(None, "user_version", 99).unwrap();
        drop(raw);
        assert!(matches!(
            Ledger::open(&bare),
            Err(LedgerError::TooNew { found: 99, .. })
        ));
        assert_eq!(
            Ledger::open(&bare).err().unwrap().exit(),
            crate::exit::Exit::Config
        );
    }

    fn expect_corrupt(path: &Path) -> String {
        match Ledger::open(path) {
            Err(e @ LedgerError::Corrupt { .. }) => {
                let LedgerError::Corrupt { ref detail, .. } = e else {
                    unreachable!()
                };
                assert!(!detail.is_empty());
                e.to_string()
            }
            Err(e) => panic!("expected Corrupt, got {e:?}"),
            Ok(_) => panic!("expected Corrupt, the ledger opened"),
        }
    }

    #[test]
    fn text_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        fs::write(&path, "this is not a database\n".repeat(200)).unwrap();
        let msg = expect_corrupt(&path);
        assert!(msg.contains("not a mailpull ledger or is damaged"), "{msg}");
        // Nothing was written to it.
        assert_eq!(
            fs::read(&path).unwrap(),
            "this is not a database\n".repeat(200).into_bytes()
        );
        let short = dir.path().join("short.sqlite");
        fs::write(&short, "hello\n").unwrap();
        expect_corrupt(&short);
    }

    #[test]
    fn garbage_after_header_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let mut bytes = b"SQLite format 3\0".to_vec();
        let mut x: u32 = 12345;
        for _ in 0..8192 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes.push((x >> 16) as u8);
        }
        fs::write(&path, &bytes).unwrap();
        expect_corrupt(&path);
    }

    #[test]
    fn truncated_ledger_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        truncated_ledger(&path);
        expect_corrupt(&path);
    }

    #[test]
    fn a_check_left_for_later_finds_the_damage_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        damaged_ledger(&path);
        // The header and the schema read fine: the opening succeeds, the check does not.
        let (ledger, check) = Ledger::open_checking_later(&path).unwrap();
        match check.wait() {
            Err(LedgerError::Corrupt { detail, .. }) => {
                assert!(detail.contains("integrity check failed"), "{detail}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        drop(ledger);
        assert!(expect_corrupt(&path).contains("integrity check failed"));
        // A sound ledger passes, and one about to be migrated is checked before it is.
        let sound = dir.path().join("sound.sqlite");
        drop(Ledger::open(&sound).unwrap());
        let (_l, check) = Ledger::open_checking_later(&sound).unwrap();
        check.wait().unwrap();
    }

    /// A ledger of 3,000 rows cut to half its size.
    fn truncated_ledger(path: &Path) {
        let len = ledger_of_3000_rows(path);
        let f = fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(len / 2).unwrap();
    }

    /// A ledger of 3,000 rows whose last pages are overwritten: its header and schema are
    /// intact.
    fn damaged_ledger(path: &Path) {
        let len = ledger_of_3000_rows(path);
        let mut bytes = fs::read(path).unwrap();
        let from = usize::try_from(len).unwrap() - 3 * 4096;
        bytes[from..].fill(0xAA);
        fs::write(path, bytes).unwrap();
    }

    /// Writes a ledger of 3,000 rows, checkpointed into the file; returns the file's size.
    fn ledger_of_3000_rows(path: &Path) -> u64 {
        {
            let mut l = Ledger::open(path).unwrap();
            let a = l.account_id(&account("alice")).unwrap();
            let items: Vec<NewEntry> = (0..3000)
                .map(|i| new_entry(&format!("uid-{i:06}-padding-padding"), &format!("loc{i}")))
                .collect();
            l.begin_fetch(a, &items).unwrap();
            l.conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
                .unwrap();
        }
        let len = fs::metadata(path).unwrap().len();
        assert!(len > 16 * 4096, "{len}");
        len
    }

    #[test]
    fn foreign_database_is_corrupt_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite");
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE moz_places (id INTEGER PRIMARY KEY);")
            .unwrap();
        drop(raw);
        let msg = expect_corrupt(&path);
        assert!(msg.contains("not a mailpull ledger"), "{msg}");
        let raw = Connection::open(&path).unwrap();
        let mode: String = raw
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(
            mode, "delete",
            "the foreign database must not be switched to WAL"
        );

        // Another application's id.
        let other = dir.path().join("app.sqlite");
        let raw = Connection::open(&other).unwrap();
        raw.pragma_update(None, "application_id", 42).unwrap();
        drop(raw);
        expect_corrupt(&other);

        // Our version number but not our tables.
        let fake = dir.path().join("fake.sqlite");
        let raw = Connection::open(&fake).unwrap();
        raw.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
            .unwrap();
        drop(raw);
        expect_corrupt(&fake);
    }

    #[test]
    fn unopenable_path_is_open_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        // The parent "directory" is a regular file.
        let err = Ledger::open(&file.join("ledger.sqlite")).err().unwrap();
        assert!(matches!(err, LedgerError::Open { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot open the ledger"), "{err}");
    }
}
