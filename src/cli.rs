//! The command line, declared once with clap. Help, man pages and completions are all generated
//! from these definitions; nothing outside `config` reads them (the core never sees clap).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Fetch mail over POP3 into a Maildir, never losing or doubling a message.
#[derive(Debug, Parser)]
#[command(name = "mailpull", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log protocol steps to stderr (passwords redacted); twice for more detail.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print nothing but errors (no progress bar, no summary).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// The ledger database [default: ~/.local/share/mailpull/ledger.sqlite].
    #[arg(long, value_name = "PATH", global = true, env = "MAILPULL_LEDGER")]
    pub ledger: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download new messages and deliver them.
    Fetch(FetchArgs),
}

/// Arguments of `mailpull fetch`.
#[derive(Debug, Args)]
#[command(after_help = "\
The password comes from MAILPULL_PASSWORD, from --password-command, or from a prompt when stdin \
is a terminal. There is deliberately no flag that takes the password itself.

Examples:
  MAILPULL_PASSWORD=secret mailpull fetch pop3s://alice@mail.example.org --maildir ~/Maildir
  mailpull fetch pop3://alice@mail.example.org --keep --password-command 'pass show mail'")]
pub struct FetchArgs {
    /// Server to fetch from: pop3s://USER@HOST[:PORT] (TLS, port 995) or pop3://USER@HOST[:PORT]
    /// (port 110, STLS required).
    #[arg(value_name = "URL")]
    pub url: String,

    /// Deliver into this Maildir (cur/, new/ and tmp/ are created if missing) [default: ~/Maildir].
    #[arg(long, value_name = "DIR")]
    pub maildir: Option<PathBuf>,

    /// Leave messages on the server; the ledger makes sure they are downloaded only once.
    #[arg(short, long)]
    pub keep: bool,

    /// Run CMD with `sh -c` and use the first line of its output as the password.
    #[arg(long, value_name = "CMD")]
    pub password_command: Option<String>,

    /// Authentication method. `auto` uses AUTH PLAIN when the server offers it, else USER/PASS.
    #[arg(long, value_enum, default_value_t = AuthArg::Auto, value_name = "METHOD")]
    pub auth: AuthArg,

    /// Trust the certificates in this PEM file (a private CA or a self-signed server certificate).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,

    /// Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons
    /// allowed). A pinned certificate is trusted without checking its chain or name.
    #[arg(long, value_name = "sha256:HEX")]
    pub tls_fingerprint: Option<String>,

    /// Talk plaintext on pop3:// without STLS. Sends the password in clear: for loopback testing.
    #[arg(long)]
    pub insecure_no_tls: bool,

    /// Seconds to wait for the connection and for each server reply.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,

    /// Seconds to wait for another mailpull that is fetching the same account.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub lock_wait: u64,
}

/// `--auth` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// AUTH PLAIN if advertised, else USER/PASS.
    Auto,
    /// USER and PASS.
    User,
    /// SASL PLAIN (RFC 5034).
    Plain,
    /// APOP (needs a timestamp in the server greeting).
    Apop,
}
