//! The `mailpull` binary: parse the command line, run it, exit with a sysexits status.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
    ExitCode::from(mailpull::run::main(cli).code())
}
