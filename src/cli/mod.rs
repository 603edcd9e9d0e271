//! The command line, declared once with clap. Help, man pages and completions are all generated
//! from these definitions; nothing outside `config` reads them (the core never sees clap).

// The doc comments below are the help text clap shows; `[:PORT]` and the like are meant for
// users, not links.
#![allow(rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

pub mod auth;

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
    #[arg(short, long, action = ArgAction::Count, global = true, help_heading = "Global options")]
    pub verbose: u8,

    /// Print nothing but errors (no progress bar, no summary, no count from check).
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    pub quiet: bool,

    /// The configuration file [default: ~/.config/mailpull/config.toml].
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        env = "MAILPULL_CONFIG",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,

    /// The ledger database [default: ~/.local/share/mailpull/ledger.sqlite].
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        env = "MAILPULL_LEDGER",
        help_heading = "Global options"
    )]
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
  65  import: the state file is not what the tool writes (nothing imported).
  66  import: the state file is missing or unreadable (nothing imported);
      ledger rename: the ledger has no records of OLD-URL (nothing changed).
  69  Server unavailable: connection refused, LOGIN-DELAY, IN-USE, SYS/PERM,
      IMAP BYE or [INUSE] at login, or no secure channel (no STLS/STARTTLS,
      certificate not trusted, pin mismatch), or the wrong TLS mode for the
      port (pop3s:// on a port that greets in plaintext, pop3:// on one that
      speaks TLS first; the error names the URL to use).
  70  Internal error: a bug in mailpull (please report it).
  74  Local I/O or delivery failure (disk full, Maildir not writable, ledger
      damaged, an MDA or a filter failed for a message).
  75  Temporary failure: connection lost or reset, timeout, SYS/TEMP,
      [UNAVAILABLE], another run holds the account. Try again later. (No
      greeting at all: the error says which pop3s://, imaps:// URL to try.)
  76  Protocol error: the server answered something the protocol does not
      allow, or refused to send a message.
  77  Authentication failed.
  78  Configuration error: bad configuration file, two accounts reading the
      same mailbox, no accounts, no password source, password command failed,
      ledger from a newer mailpull.

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
      Lock files beside the ledger, one per mailbox (protocol, host, user),
      so that overlapping runs for the same mailbox wait for each other
      (--lock-wait).
  ~/.local/share/mailpull/oauth/
      OAuth 2 token records ($XDG_DATA_HOME/mailpull/oauth/, directory 0700,
      files 0600), one per identity, written by mailpull auth login and by
      each refresh; accounts with oauth2 settings only.

Examples:
  MAILPULL_PASSWORD=secret mailpull fetch pop3s://alice@mail.example.org
  mailpull fetch imaps://alice@mail.example.org --folder INBOX --folder 'Lists/*'
  mailpull fetch                     # every account in the configuration file
  mailpull fetch work --keep --password-command 'pass show mail/work'
  mailpull check work && echo 'new mail'
  mailpull list --new work           # what would be fetched, headers only
  mailpull fetch --pick work         # choose on the terminal
  mailpull fetch --json work lists
  mailpull watch --every 5m          # until stopped: IMAP IDLE, else polling
  */10 * * * * $HOME/.cargo/bin/mailpull fetch
                                     # crontab (its PATH lacks ~/.cargo/bin): silent
                                     # unless something fails";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download new messages and deliver them.
    Fetch(FetchArgs),
    /// Count new messages without downloading them; the counts go to stdout (exit 0: new mail,
    /// 1: none).
    Check(CheckArgs),
    /// Show what is on the server (date, sender, subject, size, new or fetched) from the
    /// headers alone, without downloading or changing anything.
    List(ListArgs),
    /// Keep fetching until stopped: IMAP IDLE, else polling every --every.
    Watch(WatchArgs),
    /// List the configured accounts and where their mail goes.
    Accounts,
    /// Check the configuration file, or write a starter one (config init).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Record the messages fetchmail, mpop or getmail already fetched, so that mailpull never
    /// downloads them again.
    Import(ImportArgs),
    /// List read-receipt requests waiting for an answer, or answer them.
    Receipts(ReceiptsArgs),
    /// Show what a server says about itself: greeting, capabilities, TLS, certificate.
    Probe(probe::ProbeArgs),
    /// Show the mailboxes the ledger knows, or move one's records to a renamed server.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Sign in to OAuth 2 accounts (Gmail, Microsoft 365) and manage their stored tokens.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
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
    /// Write a commented starter configuration file (asks on a terminal).
    Init(Box<config_init::ConfigInitArgs>),
}

/// Arguments of `mailpull import`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each tool's record of the messages it fetched is matched to the configured accounts by \
protocol, server name and user (never the port: see `mailpull ledger --help`), and seeded into \
the ledger as delivered: the first `mailpull fetch` then downloads none of them. If the tool \
named the server differently (localhost where mailpull uses 127.0.0.1), map it with --as. Importing twice is \
harmless; rows already in the ledger are never changed. A missing file exits 66, a file that \
is not the tool's exits 65, and then nothing is imported. Records that match no account are \
listed on stderr (and in --json).

In delete mode (keep = false) the next fetch deletes the imported messages that are still on \
the server without downloading them: import before the first fetch, and fetch with --keep if unsure.

Examples:
  mailpull import fetchmail                      # ~/.fetchids
  mailpull import mpop --dry-run                 # ~/.mpop_uidls/
  mailpull import getmail ~/.getmail/oldmail-* --json
  mailpull import getmail --account work         # ~/.config/getmail or ~/.getmail
  mailpull import fetchmail --as pop3://alice@localhost=pop3s://alice@127.0.0.1")]
pub struct ImportArgs {
    #[command(subcommand)]
    pub tool: ImportTool,
}

/// The tools `mailpull import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportTool {
    /// fetchmail's idfile (POP3 UIDLs; fetchmail keeps no IMAP state).
    Fetchmail {
        /// The idfile [default: $FETCHMAILHOME/.fetchids or ~/.fetchids].
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        opts: ImportOptions,
    },
    /// mpop's UIDLS file, or a directory of them (POP3 UIDLs).
    Mpop {
        /// A UIDLS file (uidls_file in ~/.mpoprc) or a directory of them [default:
        /// ~/.mpop_uidls, mpop's default directory].
        #[arg(value_name = "FILE_OR_DIR")]
        path: Option<PathBuf>,
        #[command(flatten)]
        opts: ImportOptions,
    },
    /// getmail's oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder).
    Getmail {
        /// oldmail-SERVER-PORT-USER[-FOLDER] files, or getmail's directory [default: getmail's
        /// own: $XDG_CONFIG_HOME/getmail if it exists, else ~/.getmail].
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        opts: ImportOptions,
    },
}

/// Options shared by the `mailpull import` tools.
#[derive(Debug, Args)]
pub struct ImportOptions {
    /// Import only into these accounts (names from the configuration, or server URLs);
    /// repeat for several [default: every configured account].
    #[arg(short, long = "account", value_name = "TARGET")]
    pub accounts: Vec<String>,

    /// The tool's records of PEER-URL's mailbox are records of URL's: the same server under
    /// another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored);
    /// repeat for several.
    #[arg(long = "as", value_name = "PEER-URL=URL")]
    pub aliases: Vec<String>,

    /// Show what would be imported without writing to the ledger.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Print a JSON report on stdout (and nothing else on stdout).
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// `mailpull ledger ...`.
#[derive(Debug, Subcommand)]
#[command(after_help = LEDGER_HELP)]
pub enum LedgerCommand {
    /// List the mailboxes the ledger holds records of: URL, folder, messages, last delivery
    /// (tab-separated, one folder per line).
    #[command(after_help = LEDGER_HELP)]
    List,
    /// Move a mailbox's records to the server's new name, so that nothing is downloaded twice.
    #[command(after_help = LEDGER_HELP)]
    Rename {
        /// The mailbox as the ledger knows it: pop3://USER@OLD-HOST or imap://USER@OLD-HOST
        /// (pop3s/imaps and ports are accepted and ignored).
        #[arg(value_name = "OLD-URL")]
        old: String,
        /// The same mailbox under its new server name (or user name).
        #[arg(value_name = "NEW-URL")]
        new: String,
        /// Show what would move, and change nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// How long to wait for another mailpull that is fetching either mailbox (seconds, or 30s, 2m).
        #[arg(long, value_name = "TIME", default_value_t = 5, value_parser = crate::config::parse_seconds)]
        lock_wait: u64,
    },
}

const LEDGER_HELP: &str = "\
A mailbox is identified by its protocol (POP3 or IMAP), the server's host name as written \
(case-insensitive; it is never resolved, so localhost and 127.0.0.1 are two names) and the \
user name; for IMAP each folder is recorded with its UIDVALIDITY. The port, pop3s versus \
pop3 (STLS), imaps versus imap (STARTTLS) and the authentication method are not part of it: \
changing them downloads nothing again. When the provider renames its server, move the \
records with `ledger rename` before the first fetch under the new name. If the new name has \
records already, the two are merged (a message recorded under both is kept once). An \
unknown OLD-URL exits 66; bad URLs, or two URLs of different protocols or of the same \
mailbox, exit 64; nothing is changed then.

Examples:
  mailpull ledger list
  mailpull ledger rename pop3://alice@pop.old.example pop3://alice@mail.new.example --dry-run
  mailpull ledger rename imaps://alice@localhost imaps://alice@127.0.0.1";

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

    #[command(flatten)]
    pub options: FetchOptions,

    /// Fetch up to N accounts in parallel [default: up to 4, at most the number of accounts].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print a JSON summary on stdout (and nothing else on stdout).
    #[arg(long, conflicts_with = "stdout", help_heading = "Output")]
    pub json: bool,

    /// How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m).
    #[arg(long, value_name = "TIME", default_value_t = 5, value_parser = crate::config::parse_seconds)]
    pub lock_wait: u64,

    /// Choose on the terminal which new messages to download; the others stay on the server
    /// and stay new. Accounts are then fetched one at a time.
    #[arg(long, conflicts_with = "json", help_heading = "Selection")]
    pub pick: bool,
}

/// What to fetch and what to leave: the options `fetch` and `watch` share.
#[derive(Debug, Args, Default)]
pub struct FetchOptions {
    /// Leave messages on the server; the ledger makes sure they are downloaded only once
    /// [default for IMAP].
    #[arg(short, long, conflicts_with = "no_keep", help_heading = "Delivery")]
    pub keep: bool,

    /// Delete messages from the server once delivered [default for POP3].
    #[arg(long, help_heading = "Delivery")]
    pub no_keep: bool,

    /// IMAP: set \Seen on the messages fetched (otherwise their flags are left alone).
    #[arg(long, help_heading = "Delivery")]
    pub mark_seen: bool,

    /// Leave messages larger than SIZE on the server without downloading them (e.g. 10MB).
    #[arg(long, value_name = "SIZE", help_heading = "Selection")]
    pub skip_larger_than: Option<String>,

    /// Delete messages larger than SIZE from the server WITHOUT downloading them.
    #[arg(long, value_name = "SIZE", help_heading = "Selection")]
    pub delete_larger_than: Option<String>,

    /// How long an MDA may take per message before it counts as failed (seconds, or 30s, 5m) [default: 300].
    #[arg(long, value_name = "TIME", value_parser = crate::config::parse_seconds, help_heading = "Delivery")]
    pub mda_timeout: Option<u64>,

    /// Download at most N new messages per account per fetch.
    #[arg(long, value_name = "N", help_heading = "Selection")]
    pub max_messages: Option<usize>,

    /// Run CMD (with `sh -c`) on the headers of each new message before downloading it: exit
    /// 0 fetches it, 1 deletes it without downloading (delete mode only), 2 leaves it on the
    /// server; anything else is an error that leaves it alone. '' turns a configured filter off.
    #[arg(long, value_name = "CMD", help_heading = "Selection")]
    pub filter: Option<String>,

    /// Read receipts in this run: ask (on a terminal; otherwise they wait), queue (ask
    /// nothing; they wait for `mailpull receipts review`) or never (as receipts = "never":
    /// requests are not even recorded) [default: the configuration's receipts, else ask].
    #[arg(long, value_enum, value_name = "WHEN", help_heading = "Delivery")]
    pub receipts: Option<ReceiptsArg>,
}

/// Arguments of `mailpull list`.
#[derive(Debug, Args)]
#[command(after_help = "\
Columns: the message's number (POP3) or UID (IMAP), NEW or FETCHED (in the ledger), date, \
sender, subject and size. Long fields are cut to the terminal's width; when stdout is not a \
terminal, lines are not cut. Headers are read with TOP (POP3) or BODY.PEEK[HEADER] (IMAP): \
nothing is downloaded, marked or deleted.

Examples:
  mailpull list work
  mailpull list --new --json imaps://alice@mail.example.org | jq -r '.[].subject'")]
pub struct ListArgs {
    /// Accounts (names from the configuration) or server URLs; without any, every account.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Show only messages not fetched yet.
    #[arg(long, help_heading = "Selection")]
    pub new: bool,
    /// Print a JSON array of messages on stdout instead of the table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m).
    #[arg(long, value_name = "TIME", default_value_t = 5, value_parser = crate::config::parse_seconds)]
    pub lock_wait: u64,
}

/// Arguments of `mailpull watch`.
#[derive(Debug, Args)]
#[command(after_help = "\
Runs until SIGINT or SIGTERM. IMAP folders are watched with IDLE (one connection per folder) \
when the server offers it, and new mail is fetched within seconds; without IDLE, and for POP3, \
every account is fetched every --every (else its poll_interval, else 5 min). A lost connection is retried after 5 s, then 10 s, \
20 s... up to 5 min; a refused login is retried every 30 min. One failing account never stops \
the others. On SIGINT/SIGTERM the message in flight is finished, the session is ended \
properly (IMAP: DONE, LOGOUT; POP3: QUIT) and mailpull exits 0; a second signal exits at \
once. Each account is locked for the whole watch, so `mailpull fetch` of a watched account \
waits --lock-wait seconds and fails with status 75.

Examples:
  mailpull watch                       # every configured account
  mailpull watch work --every 2m
  mailpull watch imaps://alice@mail.example.org --maildir ~/Maildir --password-command 'pass mail'")]
pub struct WatchArgs {
    /// Accounts (names from the configuration) or server URLs; without any, every account.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// How often to fetch accounts that cannot IDLE (POP3, IMAP without IDLE), e.g. 30s, 5m,
    /// 1h; IMAP folders that IDLE are also fetched this often, as a safety net [default:
    /// poll_interval from the configuration, else 5m].
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub deliver: DeliverArgs,

    #[command(flatten)]
    pub options: FetchOptions,

    /// How long to wait at start for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m).
    #[arg(long, value_name = "TIME", default_value_t = 5, value_parser = crate::config::parse_seconds)]
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
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m).
    #[arg(long, value_name = "TIME", default_value_t = 5, value_parser = crate::config::parse_seconds)]
    pub lock_wait: u64,
}

/// How to reach and log in to the server.
#[derive(Debug, Args, Default)]
pub struct ServerArgs {
    /// Trust the certificates in this PEM file (a private CA or a self-signed server certificate).
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub tls_ca_file: Option<PathBuf>,

    /// Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons
    /// allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned
    /// certificate is trusted without checking its chain or name.
    #[arg(long, value_name = "sha256:HEX", help_heading = "Connection")]
    pub tls_fingerprint: Option<String>,

    /// Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing.
    #[arg(long, help_heading = "Connection")]
    pub insecure_no_tls: bool,

    /// How long connecting, the TLS handshake and each whole server reply may take (seconds, or
    /// 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1
    /// KiB/s [default: 60].
    #[arg(long, value_name = "TIME", value_parser = crate::config::parse_seconds, help_heading = "Connection")]
    pub timeout: Option<u64>,

    /// Run CMD with `sh -c` and use the first line of its output as the password (or, with
    /// --auth xoauth2/oauthbearer, the OAuth 2 access token).
    #[arg(long, value_name = "CMD", help_heading = "Authentication")]
    pub password_command: Option<String>,

    /// Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS].
    #[arg(
        long,
        value_enum,
        value_name = "METHOD",
        help_heading = "Authentication"
    )]
    pub auth: Option<AuthArg>,

    /// IMAP folder to fetch, or a LIST pattern such as 'Lists/*'; repeat for several
    /// [default: INBOX].
    #[arg(long = "folder", value_name = "NAME", help_heading = "Selection")]
    pub folders: Vec<String>,
}

/// Where messages go (one at most; the default is the configuration's, else ~/Maildir).
#[derive(Debug, Args, Default)]
#[group(multiple = false)]
pub struct DeliverArgs {
    /// Deliver into this Maildir (cur/, new/ and tmp/ are created if missing).
    #[arg(long, value_name = "DIR", help_heading = "Delivery")]
    pub maildir: Option<PathBuf>,

    /// Append to this mbox file (mboxrd, locked like mutt and procmail do).
    #[arg(long, value_name = "FILE", help_heading = "Delivery")]
    pub mbox: Option<PathBuf>,

    /// Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local
    /// user); exit 0 means delivered.
    #[arg(long, value_name = "CMD", help_heading = "Delivery")]
    pub mda: Option<String>,

    /// Write every new message to stdout as an mboxrd stream.
    #[arg(long, help_heading = "Delivery")]
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
    /// SASL XOAUTH2 (POP3 AUTH, IMAP AUTHENTICATE) with an OAuth 2 access token.
    Xoauth2,
    /// SASL OAUTHBEARER (RFC 7628; POP3 and IMAP) with an OAuth 2 access token.
    Oauthbearer,
}

pub mod config_init;
pub mod probe;
mod receipts;
mod requests;

pub use receipts::{ReceiptsAction, ReceiptsArg, ReceiptsArgs};
