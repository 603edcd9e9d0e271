//! The command line, declared once with clap. Help, man pages and completions are all generated
//! from these definitions; nothing outside `config` reads them (the core never sees clap).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Fetch mail over POP3 or IMAP into a Maildir, an mbox, an MDA or stdout, never losing or
/// doubling a message.
#[derive(Debug, Parser)]
#[command(
    name = "mailpull",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// Log protocol steps to stderr (passwords redacted); twice for more detail.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print nothing but errors (no progress bar, no summary).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// The configuration file [default: ~/.config/mailpull/config.toml].
    #[arg(long, value_name = "PATH", global = true, env = "MAILPULL_CONFIG")]
    pub config: Option<PathBuf>,

    /// The ledger database [default: ~/.local/share/mailpull/ledger.sqlite].
    #[arg(long, value_name = "PATH", global = true, env = "MAILPULL_LEDGER")]
    pub ledger: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The reference part of `mailpull --help` and of the man page (`src/docs.rs` turns each
/// "Heading:" into a man page section). Keep the exit codes in step with README.md.
const AFTER_LONG_HELP: &str = "\
Exit status:
  0   Success, with or without new mail (check: there is new mail).
  1   check only: no new mail.
  64  Usage error: bad flag or argument, bad URL.
  69  Server unavailable: connection refused, LOGIN-DELAY, IN-USE, SYS/PERM,
      IMAP BYE or [INUSE] at login, or no secure channel (no STLS/STARTTLS,
      certificate not trusted, pin mismatch).
  74  Local I/O or delivery failure (disk full, Maildir not writable, ledger
      damaged).
  75  Temporary failure: connection lost or reset, timeout, SYS/TEMP,
      [UNAVAILABLE], another run holds the account. Try again later.
  76  Protocol error: the server answered something the protocol does not
      allow, or refused to send a message.
  77  Authentication failed.
  78  Configuration error: bad configuration file, no accounts, no password
      source, password command failed, ledger from a newer mailpull.

When several things fail, the most serious one decides. Messages delivered \
before an error stay delivered and recorded.

Environment:
  MAILPULL_PASSWORD  The password (or OAuth 2 token). --password-command wins
                     over it; it wins over the configuration file.
  MAILPULL_CONFIG    The configuration file, like --config.
  MAILPULL_LEDGER    The ledger database, like --ledger.

Files:
  ~/.config/mailpull/config.toml
      The configuration file ($XDG_CONFIG_HOME/mailpull/config.toml):
      [defaults] and [account.NAME] tables; mailpull config check validates it.
  ~/.local/share/mailpull/ledger.sqlite
      The ledger ($XDG_DATA_HOME/mailpull/ledger.sqlite, mode 0600): one row
      per message per account, so that kept messages are fetched only once.
  ~/.local/share/mailpull/locks/
      Lock files beside the ledger, one per account, so that overlapping runs
      for the same account wait for each other (--lock-wait).

Examples:
  MAILPULL_PASSWORD=secret mailpull fetch pop3s://alice@mail.example.org
  mailpull fetch imaps://alice@mail.example.org --folder INBOX --folder 'Lists/*'
  mailpull fetch                     # every account in the configuration file
  mailpull fetch work --keep --password-command 'pass show mail/work'
  mailpull check work && echo 'new mail'
  mailpull fetch --json work lists
  */10 * * * * mailpull fetch        # crontab: silent unless something fails";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download new messages and deliver them.
    Fetch(FetchArgs),
    /// Count new messages without downloading them (exit 0: new mail, 1: none).
    Check(CheckArgs),
    /// List the configured accounts and where their mail goes.
    Accounts,
    /// Inspect the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List read-receipt requests waiting for an answer, or answer them.
    Receipts(ReceiptsArgs),
    /// Write the shell completions and man pages into DIR/completions and DIR/man.
    #[command(hide = true)]
    Generate {
        /// The directory to write into (the repository root: `cargo run -- generate .`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration file and print what it resolves to (never passwords).
    Check,
}

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

/// Arguments of `mailpull fetch`.
#[derive(Debug, Args)]
#[command(after_help = "\
TARGETs are account names from the configuration file or server URLs; without any, every \
configured account is fetched. Flags given here override the configuration.

The password comes from MAILPULL_PASSWORD, from --password-command (or password_command in the \
configuration), or from a prompt when stdin is a terminal. There is deliberately no flag that \
takes the password itself.

Examples:
  MAILPULL_PASSWORD=secret mailpull fetch pop3s://alice@mail.example.org --maildir ~/Maildir
  mailpull fetch pop3://alice@mail.example.org --keep --password-command 'pass show mail'
  mailpull fetch work lists --jobs 2
  mailpull fetch --stdout work | formail -s procmail")]
pub struct FetchArgs {
    /// Accounts (names from the configuration) or server URLs: pop3s://USER@HOST[:PORT]
    /// (TLS, port 995), pop3://USER@HOST[:PORT] (port 110, STLS required),
    /// imaps://USER@HOST[:PORT] (TLS, port 993) or imap://USER@HOST[:PORT] (port 143,
    /// STARTTLS required).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub deliver: DeliverArgs,

    /// Leave messages on the server; the ledger makes sure they are downloaded only once
    /// [default for IMAP].
    #[arg(short, long, conflicts_with = "no_keep")]
    pub keep: bool,

    /// Delete messages from the server once delivered [default for POP3].
    #[arg(long)]
    pub no_keep: bool,

    /// IMAP: set \\Seen on the messages fetched (otherwise their flags are left alone).
    #[arg(long)]
    pub mark_seen: bool,

    /// Leave messages larger than SIZE on the server without downloading them (e.g. 10MB).
    #[arg(long, value_name = "SIZE")]
    pub skip_larger_than: Option<String>,

    /// Delete messages larger than SIZE from the server WITHOUT downloading them.
    #[arg(long, value_name = "SIZE")]
    pub delete_larger_than: Option<String>,

    /// Seconds an MDA may take per message before it counts as failed [default: 300].
    #[arg(long, value_name = "SECS")]
    pub mda_timeout: Option<u64>,

    /// Download at most N new messages per account in this run.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<usize>,

    /// Fetch up to N accounts in parallel [default: up to 4, at most the number of accounts].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print a JSON summary on stdout (and nothing else on stdout).
    #[arg(long, conflicts_with = "stdout")]
    pub json: bool,

    /// Seconds to wait for another mailpull that is fetching the same account.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub lock_wait: u64,
}

/// Arguments of `mailpull check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Accounts (names from the configuration) or server URLs; without any, every account.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    #[command(flatten)]
    pub server: ServerArgs,

    /// Check up to N accounts in parallel [default: up to 4].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,

    /// Seconds to wait for another mailpull that is fetching the same account.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub lock_wait: u64,
}

/// How to reach and log in to the server.
#[derive(Debug, Args, Default)]
pub struct ServerArgs {
    /// Run CMD with `sh -c` and use the first line of its output as the password (or, with
    /// --auth xoauth2/oauthbearer, the OAuth 2 access token).
    #[arg(long, value_name = "CMD")]
    pub password_command: Option<String>,

    /// IMAP folder to fetch, or a LIST pattern such as 'Lists/*'; repeat for several
    /// [default: INBOX].
    #[arg(long = "folder", value_name = "NAME")]
    pub folders: Vec<String>,

    /// Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS].
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth: Option<AuthArg>,

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

    /// Seconds to wait for the connection and for each server reply [default: 60].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

/// Where messages go (one at most; the default is the configuration's, else ~/Maildir).
#[derive(Debug, Args, Default)]
#[group(multiple = false)]
pub struct DeliverArgs {
    /// Deliver into this Maildir (cur/, new/ and tmp/ are created if missing).
    #[arg(long, value_name = "DIR")]
    pub maildir: Option<PathBuf>,

    /// Append to this mbox file (mboxrd, locked like mutt and procmail do).
    #[arg(long, value_name = "FILE")]
    pub mbox: Option<PathBuf>,

    /// Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local
    /// user); exit 0 means delivered.
    #[arg(long, value_name = "CMD")]
    pub mda: Option<String>,

    /// Write every new message to stdout as an mboxrd stream.
    #[arg(long)]
    pub stdout: bool,
}

/// `--auth` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// SASL PLAIN if advertised, else USER/PASS (POP3) or LOGIN (IMAP).
    Auto,
    /// POP3 USER and PASS.
    User,
    /// IMAP LOGIN.
    Login,
    /// SASL PLAIN (POP3: RFC 5034; IMAP: AUTHENTICATE PLAIN).
    Plain,
    /// POP3 APOP (needs a timestamp in the server greeting).
    Apop,
    /// IMAP AUTHENTICATE XOAUTH2 with an OAuth 2 token from the password command.
    Xoauth2,
    /// IMAP AUTHENTICATE OAUTHBEARER (RFC 7628) with a token from the password command.
    Oauthbearer,
}
