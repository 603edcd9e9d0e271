//! Read-receipt settings as the configuration holds them: the policy (`receipts = "ask" |
//! "never"`, and `--receipts ask|queue|never` for one run), the `[receipts]` transport table, and the check of the user's address. Plain
//! values, importing nothing of mailpull's, so that `config` can hold them and the receipts core
//! can read them without either importing the other.

use std::path::PathBuf;

use serde::Deserialize;

/// `receipts = "ask" | "never"` (per account and in `[defaults]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptPolicy {
    /// Ask the user (on a terminal now, otherwise later with `mailpull receipts`).
    #[default]
    Ask,
    /// Never send a receipt and never ask.
    Never,
    /// Record the requests but ask nothing now: they wait for `mailpull receipts review`.
    /// Only for one run (`--receipts queue`); the configuration file does not take it.
    #[serde(skip)]
    Queue,
}

/// The `[receipts]` table (or an account's `receipts_transport`): how receipts are sent.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// The user's address: From of the receipt and its Final-Recipient.
    pub from: Option<String>,
    /// `smtps://USER@HOST[:PORT]` (implicit TLS) or `smtp://USER@HOST[:PORT]` (STARTTLS
    /// required).
    pub smtp: Option<String>,
    /// Prints the SMTP password on its first line (with `auth = "xoauth2"`: the access token).
    pub password_command: Option<String>,
    /// How to log in to the SMTP server [default: auto].
    pub auth: Option<SmtpAuth>,
    /// A sendmail-compatible command (run with `-f '<>' -i -- ADDRESS`).
    pub sendmail: Option<String>,
    /// Trust this CA file (PEM) for the SMTP server instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
}

/// `auth` in a transport table: how to log in to the SMTP server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpAuth {
    /// PLAIN or LOGIN, as the server offers, with the password.
    #[default]
    Auto,
    /// XOAUTH2 with an OAuth 2 access token.
    Xoauth2,
    /// OAUTHBEARER: refused (the SMTP library has no such mechanism).
    Oauthbearer,
}

/// What an account does with receipt requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiptSettings {
    pub policy: ReceiptPolicy,
    pub transport: Option<TransportConfig>,
    /// The account's OAuth 2 token store, for SMTP `auth = "xoauth2"` without a
    /// `password_command` (see [`super::token_source`]).
    pub oauth2: Option<ReceiptOAuth>,
}

/// An account's OAuth 2 settings and name, for sending its receipts with a token from the
/// built-in store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptOAuth {
    pub settings: crate::oauth::OAuthSettings,
    /// The account's name, for "run `mailpull auth login ACCOUNT`".
    pub account: String,
}

/// The longest address accepted in a request (RFC 5321 §4.5.3.1.3: a path is at most 256
/// octets including the angle brackets).
pub const MAX_ADDRESS: usize = 254;

/// Checks that an address is a plain ASCII `local@domain` that can go on an SMTP envelope and in
/// a header without quoting: nothing that could break a line or a header.
pub fn check_address(a: &str) -> Result<(), String> {
    if a.len() > MAX_ADDRESS {
        return Err(format!(
            "it is {} bytes long (at most {MAX_ADDRESS})",
            a.len()
        ));
    }
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err("it has no @".into());
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    if local.is_empty()
        || !local.chars().all(atext)
        || local.starts_with('.')
        || local.ends_with('.')
    {
        return Err("its local part has characters mailpull does not send to".into());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err("its domain is not a host name".into());
    }
    Ok(())
}
