//! The `mailpull` binary: parse the command line, run it, exit with a sysexits status.
//!
//! A panic is a bug, never an answer to bad input: the guard here reports it as an internal
//! error (see [`mailpull::commands::panic_guard`]) and exits 70 (EX_SOFTWARE).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mailpull::commands::install_panic_hook();
    let cli = match mailpull::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(mailpull::exit::Exit::Usage.code())
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let exit = mailpull::commands::panic_guard(|| mailpull::commands::main(cli));
    ExitCode::from(exit.code())
}
