//! The commands: one file per `mailpull` command, each turning its parsed flags (through the
//! plain-value requests `cli` builds) into work, and this file, which dispatches, reports
//! errors and maps them to exit statuses.
//!
//! Errors are reported on stderr, made terminal-safe; the exit status is the most serious one
//! (sysexits, see `exit.rs`). Each error type says its own status ([`crate::exit::Classify`]);
//! [`exit_for`] finds it in an error chain. A panic is a bug: reported as an internal error,
//! exit 70.

mod accounts;
mod auth;
mod check;
mod config_check;
mod config_init;
mod fetch;
mod import;
mod ledger;
mod list;
mod parallel;
mod probe;
mod receipts;
mod watch;

use anyhow::Context;

use crate::cli::{Cli, Command as CliCommand, ConfigCommand};
use crate::config::Verbosity;
use crate::exit::{Classify, Exit};
use crate::ui;

/// Reports panics as what they are — a bug in mailpull — instead of the default message and
/// its backtrace hint: `mailpull: internal error: MESSAGE (at FILE:LINE)`, made terminal-safe
/// (a panic message may quote input), with a request to report it. With `RUST_BACKTRACE` set
/// the backtrace is printed too. The status is decided where the panic is caught (exit 70).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = crate::exit::panic_message(info.payload());
        let message: String = message.chars().take(500).collect();
        let place = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        let mut text = format!(
            "mailpull: internal error: {message}{place}\n  This is a bug in mailpull; please \
             report it, with the command you ran and this message. What was delivered and \
             recorded stays so; the next run picks up from there."
        );
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            text.push_str(&format!("\n{}", std::backtrace::Backtrace::force_capture()));
        }
        eprintln!("{}", ui::safe(&text));
    }));
}

/// Runs `work`, turning a panic (already reported by the hook, see [`install_panic_hook`])
/// into exit 70 (EX_SOFTWARE).
pub fn panic_guard(work: impl FnOnce() -> Exit) -> Exit {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or(Exit::Software)
}

/// Runs the parsed command line and returns the exit status. Errors are reported on stderr.
pub fn main(cli: Cli) -> Exit {
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        (false, 1) => Verbosity::Verbose,
        (false, _) => Verbosity::Trace,
    };
    ui::init_logging(verbosity);
    crate::exit::test_panic("main");
    let result = match &cli.command {
        CliCommand::Fetch(args) => fetch::run(&cli, args),
        CliCommand::Check(args) => check::run(&cli, args),
        CliCommand::List(args) => list::run(&cli, args),
        CliCommand::Watch(args) => watch::run(&cli, args),
        CliCommand::Accounts => accounts::run(&cli),
        CliCommand::Config(ConfigCommand::Check) => config_check::run(&cli),
        CliCommand::Config(ConfigCommand::Init(args)) => config_init::run(&cli, args),
        CliCommand::Import(args) => import::run(&cli, args),
        CliCommand::Receipts(args) => receipts::run(&cli, args),
        CliCommand::Ledger(cmd) => ledger::run(&cli, cmd),
        CliCommand::Probe(args) => probe::run(&cli, args),
        CliCommand::Auth(cmd) => auth::run(&cli, cmd),
        CliCommand::Generate { dir } => crate::docs::generate(dir)
            .with_context(|| format!("cannot write the documentation into {}", dir.display()))
            .map(|()| Exit::Ok),
    };
    match result {
        Ok(exit) => exit,
        // `mailpull receipts | head -1`: the reader has what it wanted.
        Err(e) if stdout_closed(&e) => Exit::Ok,
        Err(e) => {
            report_error(&e);
            exit_for(&e)
        }
    }
}

/// The exit status of any command's error: the first error in the chain that classifies
/// itself wins; anything unknown is a local I/O failure.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(
            |cause| match cause.downcast_ref::<crate::import::ImportError>() {
                Some(e) => Some(e.exit()),
                None => crate::account::classify(cause),
            },
        )
        .unwrap_or(Exit::IoErr)
}

/// The one way commands write data to stdout: [`data_out`]. When the reader goes away
/// (EPIPE: `mailpull receipts | head -1`), writing fails with this inside the `io::Error`, and
/// the command stops quietly with the status it would have had ([`stdout_closed`]).
#[derive(Debug, thiserror::Error)]
#[error("the reader of stdout went away")]
pub struct StdoutClosed;

/// stdout for data (see [`StdoutClosed`]).
pub(crate) struct DataOut(std::io::StdoutLock<'static>);

/// stdout, locked, for a command's data.
pub(crate) fn data_out() -> DataOut {
    DataOut(std::io::stdout().lock())
}

fn closed(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl std::io::Write for DataOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// Whether an error is stdout's reader going away ([`StdoutClosed`]), anywhere in its chain.
pub(crate) fn stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<StdoutClosed>()
            || c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// Prints an error and its causes on stderr, made terminal-safe (servers' texts are quoted in
/// errors: see [`ui::safe`]).
pub fn report_error(e: &anyhow::Error) {
    eprintln!("{}", ui::safe(&error_text(e)));
}

pub(crate) fn error_text(e: &anyhow::Error) -> String {
    let mut msg = format!("mailpull: error: {e}");
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(&format!("\n  caused by: {c}"));
        }
    }
    msg
}
