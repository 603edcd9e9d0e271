//! Exit codes (sysexits.h), the contract between mailpull and the scripts that run it.
//!
//! Every error type in the crate maps to one of these through [`Classify`], and `main` turns the
//! most serious one into the process exit status. The numbers are documented in the README.

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

/// Finds the exit status of an `anyhow` error chain: the first error in the chain that
/// classifies itself wins; anything unknown is a local I/O failure.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<crate::engine::EngineError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<crate::config::ConfigError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<crate::ledger::LedgerError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<crate::source::SourceError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<crate::deliver::DeliverError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<crate::import::ImportError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<InternalError>() {
            return e.exit();
        }
    }
    Exit::IoErr
}
