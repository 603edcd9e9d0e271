//! The arguments of `mailpull probe`. Floor 7 (cli).

use clap::Args;

use super::ServerArgs;

/// Arguments of `mailpull probe`.
#[derive(Debug, Args)]
#[command(after_help = "\
Connects the way a fetch would and prints what the server says about itself: the greeting, \
the capabilities (before and after STLS/STARTTLS), the TLS version and cipher, the \
certificate (subject, issuer, validity, SHA-256 fingerprint in the form --tls-fingerprint \
takes) and whether it verifies, and the authentication mechanisms. A certificate that does \
not verify is reported, not fatal. Nothing is logged in without --login; with it, the password \
comes from the usual sources and is sent only over a channel that verified or matches \
--tls-fingerprint; for IMAP the hierarchy separator and the folders follow.

A plaintext URL (pop3://, imap://) on a port that waits silently is asked with a TLS hello \
whether it speaks TLS from the start.

Examples:
  mailpull probe pop3s://mail.example.org
  mailpull probe imap://alice@mail.example.org --login
  mailpull probe work --json | jq .tls.certificate.sha256")]
pub struct ProbeArgs {
    /// The server: a URL (pop3s://[USER@]HOST[:PORT], pop3://, imaps://, imap://) or the name
    /// of a configured account.
    #[arg(value_name = "URL|ACCOUNT")]
    pub target: String,

    /// Log in (once), and for IMAP list the folders, the hierarchy separator and the folders a
    /// fetch would open (--folder, the account's folders).
    #[arg(long)]
    pub login: bool,

    /// Print the report as JSON (on stdout).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub server: ServerArgs,
}
