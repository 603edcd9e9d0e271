//! Arguments of `mailpull auth`: OAuth 2 sign-in, status and sign-out for accounts with
//! `oauth2 = { … }` in the configuration.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(after_help = "\
Accounts with `oauth2 = { provider = \"google\" | \"microsoft\" | \"custom\", client_id = \"…\" }` \
in the configuration log in with an OAuth 2 access token. `mailpull auth login ACCOUNT` signs in \
once on a terminal and stores the refresh token (mode 0600, in ~/.local/share/mailpull/oauth/ \
or through oauth2.token_command); every later run refreshes the access token by itself, so \
cron and systemd timers need no terminal. See \"Gmail and Microsoft 365\" in the README.

Examples:
  mailpull auth login work             # device code (Microsoft) or browser (Google)
  mailpull auth login gmail --browser  # open the sign-in page with xdg-open
  mailpull auth status --json
  mailpull auth logout work")]
pub enum AuthCommand {
    /// Sign in on the terminal and store the account's OAuth 2 tokens.
    Login(AuthLoginArgs),
    /// Show which accounts have stored tokens and when the access token expires (never the
    /// tokens). Exit 77 if one of them has no refresh token.
    Status(AuthStatusArgs),
    /// Forget the account's stored tokens (on this computer; the provider's grant stays until
    /// you revoke it there).
    Logout(AuthLogoutArgs),
}

/// Arguments of `mailpull auth login`.
#[derive(Debug, Args)]
pub struct AuthLoginArgs {
    /// The configured account (its `oauth2` settings say where to sign in).
    #[arg(value_name = "ACCOUNT")]
    pub account: String,

    /// Use the device authorization flow: enter a code on any device's browser [default where
    /// the provider has one].
    #[arg(long, conflicts_with = "loopback")]
    pub device: bool,

    /// Use the browser flow with a redirect to 127.0.0.1 on this computer (PKCE).
    #[arg(long)]
    pub loopback: bool,

    /// Open the sign-in page with xdg-open (browser flow).
    #[arg(long)]
    pub browser: bool,

    /// Give up after SECS seconds without an answer.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = crate::config::parse_seconds)]
    pub timeout: u64,
}

/// Arguments of `mailpull auth status`.
#[derive(Debug, Args)]
pub struct AuthStatusArgs {
    /// Accounts to show [default: every account with oauth2].
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,

    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `mailpull auth logout`.
#[derive(Debug, Args)]
pub struct AuthLogoutArgs {
    /// The configured account.
    #[arg(value_name = "ACCOUNT")]
    pub account: String,
}
