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
offers to pin it. For Gmail and Microsoft 365 hosts (and when OAuth 2 is chosen) it asks for \
the OAuth 2 provider and client id instead of a password source and writes auth = \"xoauth2\" \
with an oauth2 table; `mailpull auth login ACCOUNT` then signs in once. Without a terminal and without --url it writes a commented example with \
every key. Every key is described in mailpull.toml(5).

Examples:
  mailpull config init
  mailpull config init --url imaps://alice@mail.example.org --password-command 'pass show mail' \\
      --maildir ~/Maildir
  mailpull config init --url imaps://alice@outlook.office365.com --oauth2 microsoft \\
      --client-id 00000000-0000-0000-0000-000000000000 --maildir ~/Maildir")]
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

    /// Log in with OAuth 2 tokens from this provider (google, microsoft, or custom with
    /// --token-url), instead of a password.
    #[arg(long, value_name = "PROVIDER", group = "password_source",
          value_parser = ["google", "microsoft", "custom"])]
    pub oauth2: Option<String>,

    /// The OAuth 2 client id (of the application registered with the provider).
    #[arg(long, value_name = "ID", requires = "oauth2")]
    pub client_id: Option<String>,

    /// The OAuth 2 client secret (Google's desktop clients have one), written into the file.
    #[arg(
        long,
        value_name = "SECRET",
        requires = "oauth2",
        conflicts_with = "client_secret_command"
    )]
    pub client_secret: Option<String>,

    /// The OAuth 2 client secret is the first line this command prints.
    #[arg(long, value_name = "CMD", requires = "oauth2")]
    pub client_secret_command: Option<String>,

    /// The token endpoint of a custom OAuth 2 provider.
    #[arg(long, value_name = "URL", requires = "oauth2")]
    pub token_url: Option<String>,

    /// The authorization endpoint of a custom OAuth 2 provider (loopback sign-in).
    #[arg(long, value_name = "URL", requires = "oauth2")]
    pub auth_url: Option<String>,

    /// The device authorization endpoint of a custom OAuth 2 provider (device sign-in).
    #[arg(long, value_name = "URL", requires = "oauth2")]
    pub device_url: Option<String>,

    /// The scopes to ask a custom OAuth 2 provider for, separated by spaces.
    #[arg(long, value_name = "SCOPES", requires = "oauth2")]
    pub scopes: Option<String>,

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
