//! `mailpull receipts`'s arguments, and the `--receipts` values of `fetch` and `watch`. Floor 7,
//! with the rest of `cli` (clap only; imports nothing of mailpull's).

use clap::{Args, Subcommand, ValueEnum};

/// Arguments of `mailpull receipts`.
#[derive(Debug, Args)]
#[command(after_help = "\
Without an action, lists the requests that wait for an answer (ID, state, account, the \
address the receipt would go to, subject) on stdout. A request in state \"may have been \
sent\" was being sent when a run died or the transmission broke off: it is never sent again \
unless you say so (send ID --again).

Examples:
  mailpull receipts
  mailpull receipts review
  mailpull receipts send 12
  mailpull receipts decline 13")]
pub struct ReceiptsArgs {
    /// List every request, answered ones included.
    #[arg(long)]
    pub all: bool,

    #[command(subcommand)]
    pub action: Option<ReceiptsAction>,
}

#[derive(Debug, Subcommand)]
pub enum ReceiptsAction {
    /// Ask about each waiting request on the terminal.
    Review,
    /// Send the receipt for request ID now.
    Send {
        /// The request's ID (from `mailpull receipts`).
        id: i64,
        /// Send even though an earlier attempt may have sent it.
        #[arg(long)]
        again: bool,
    },
    /// Never send a receipt for request ID.
    Decline {
        /// The request's ID (from `mailpull receipts`).
        id: i64,
    },
}

/// `--receipts` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReceiptsArg {
    /// Ask on a terminal; without one the requests wait.
    Ask,
    /// Ask nothing; the requests wait for `mailpull receipts review`.
    Queue,
    /// Send none and record none, as receipts = "never" in the configuration.
    Never,
}
