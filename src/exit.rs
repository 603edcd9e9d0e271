//! Exit codes (sysexits.h), the contract between mailpull and the scripts that run it.
//!
//! Every error type in the crate maps to one of these through [`Classify`], where it is defined;
//! the command layer finds the status of an error chain and `main` turns the most serious one
//! into the process exit status. This file imports nothing of mailpull's. The numbers are documented in the README.

/// A process exit status from `sysexits.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0: success, with or without new mail (`check`: there is new mail).
    Ok = 0,
    /// 1: `check` only: no new mail.
    NoNewMail = 1,
    /// 64: the command line was wrong.
    Usage = 64,
    /// 65: input data was garbled (`import`: not the tool's state file).
    DataErr = 65,
    /// 66: an input file is missing or unreadable (`import`).
    NoInput = 66,
    /// 69: the server is unavailable (LOGIN-DELAY, IN-USE, SYS/PERM, no secure channel possible).
    Unavailable = 69,
    /// 70: an internal error, i.e. a bug in mailpull (a panic, caught and reported).
    Software = 70,
    /// 74: local I/O or delivery failure (disk full, unwritable Maildir, ledger unreadable).
    IoErr = 74,
    /// 75: temporary failure (connection lost, timeout, account busy): try again later.
    TempFail = 75,
    /// 76: the server broke the protocol.
    Protocol = 76,
    /// 77: authentication failed.
    NoPerm = 77,
    /// 78: configuration error.
    Config = 78,
}

impl Exit {
    /// The numeric status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// How serious a status is, for picking the one to report when several things failed.
    /// Errors the user must act on rank above errors that go away by themselves.
    pub fn severity(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::NoNewMail => 1,
            Exit::TempFail => 2,
            Exit::Unavailable => 3,
            Exit::Protocol => 4,
            Exit::IoErr => 5,
            Exit::NoPerm => 6,
            Exit::Usage | Exit::DataErr | Exit::NoInput => 7,
            Exit::Config => 8,
            // A bug: nothing the user did explains it, and it must not go unnoticed.
            Exit::Software => 9,
        }
    }

    /// The more serious of two statuses.
    pub fn max(self, other: Exit) -> Exit {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// Errors that know which exit status they deserve.
pub trait Classify {
    /// The exit status this error should produce.
    fn exit(&self) -> Exit;
}

/// A bug in mailpull (a panic caught at a thread's edge): exit 70 (EX_SOFTWARE).
#[derive(Debug, thiserror::Error)]
#[error("internal error: {0} (this is a bug in mailpull; please report it)")]
pub struct InternalError(pub String);

impl Classify for InternalError {
    fn exit(&self) -> Exit {
        Exit::Software
    }
}

/// The message of a panic's payload (`panic!` with a string or a format).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Test hook (debug builds only): `MAILPULL_TEST_PANIC=WHERE` panics at that point, so that
/// the tests can check the guards (`main`: the command as a whole; `account`: one account's
/// work, in `fetch`, `check`, `list` and `watch`).
#[cfg(debug_assertions)]
pub fn test_panic(at: &str) {
    if std::env::var("MAILPULL_TEST_PANIC").is_ok_and(|v| v == at) {
        panic!("test panic at {at} \x1b[2J");
    }
}

/// Test hook: nothing in release builds.
#[cfg(not(debug_assertions))]
pub fn test_panic(_: &str) {}
