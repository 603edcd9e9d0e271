//! The arguments of `mailpull config init`. Floor 7 (cli).

use std::path::PathBuf;

use clap::Args;

/// Arguments of `mailpull config init`.
#[derive(Debug, Args)]
#[command(after_help = "\
Writes a commented configuration file (mode 0600) at the --config path, else \
~/.config/mailpull/config.toml, and never over an existing file without --force (exit 64). \
On a terminal it asks for what the flags do not say: the server URL, the password source and \
where mail goes; it then tries the server (no login) and, if its certificate does not verify, \
offers to pin it. Without a terminal and without --url it writes a commented example with \
every key. Every key is described in mailpull.toml(5).

Examples:
  mailpull config init
  mailpull config init --url imaps://alice@mail.example.org --password-command 'pass show mail' \\
      --maildir ~/Maildir")]
pub struct ConfigInitArgs {
    /// The server: pop3s://USER@HOST[:PORT], pop3://, imaps:// or imap://.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// The user name, if the URL has none.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// The account's name in the file [default: from the server's name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The password is the first line this command prints.
    #[arg(long, value_name = "CMD", group = "password_source")]
    pub password_command: Option<String>,

    /// The password comes from MAILPULL_PASSWORD at each run.
    #[arg(long, group = "password_source")]
    pub password_env: bool,

    /// mailpull asks for the password on the terminal at each run.
    #[arg(long, group = "password_source")]
    pub password_prompt: bool,

    /// Deliver into this Maildir.
    #[arg(long, value_name = "DIR", group = "target")]
    pub maildir: Option<PathBuf>,

    /// Deliver into this mbox file.
    #[arg(long, value_name = "FILE", group = "target")]
    pub mbox: Option<PathBuf>,

    /// Deliver through this command (an MDA; %u is the local user).
    #[arg(long, value_name = "CMD", group = "target")]
    pub mda: Option<String>,

    /// Trust the certificates in this PEM file (written into the file as tls_ca_file).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,

    /// Pin the server certificate (written into the file as tls_fingerprint).
    #[arg(long, value_name = "sha256:HEX")]
    pub tls_fingerprint: Option<String>,

    /// Do not try the server before writing.
    #[arg(long)]
    pub no_probe: bool,

    /// Write the commented example, asking nothing.
    #[arg(long, conflicts_with = "url")]
    pub example: bool,

    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}
