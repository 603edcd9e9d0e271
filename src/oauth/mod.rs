//! OAuth 2 tokens for XOAUTH2/OAUTHBEARER logins: the settings ([`settings`]), the token store
//! ([`store`]: one record per identity, written atomically, a lock per identity), getting an
//! access token for a login ([`refresh`]: the cached one while it is valid, else one refresh
//! request, RFC 6749 §6), and the flows of `mailpull auth login` ([`flows`]: RFC 8628 device
//! authorization, authorization code + PKCE with a loopback redirect, RFC 7636/8252). The
//! requests themselves go through the `oauth2` crate over a synchronous `ureq` client using
//! native-tls (OpenSSL), see [`http`].
//!
//! Floor 1½: imports only floors 0–1 (`fs`, `time`, `command`, `text`, `exit`); `config` holds
//! the settings, `account` asks for a token right before each login, `commands::auth` runs the
//! flows. Tokens are secrets: no `Debug`, message or log line here ever contains one.

pub mod flows;
pub mod http;
pub mod refresh;
pub mod settings;
pub mod store;

pub use refresh::access_token;
pub use settings::{OAuthConfig, OAuthSettings, Provider};
pub use store::{Identity, Store, TokenRecord};

use crate::exit::{Classify, Exit};

/// What went wrong getting a token. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// No refresh token (never logged in, logged out, or revoked/expired): the user must run
    /// `mailpull auth login` (exit 77).
    #[error("{0}")]
    LoginNeeded(String),
    /// The authorization server refused the request for another reason (exit 77).
    #[error("{0}")]
    Refused(String),
    /// The authorization server could not be reached or failed (exit 75: try again later).
    #[error("{0}")]
    Unreachable(String),
    /// Another process holds the identity's lock for too long (exit 75).
    #[error("{0}")]
    Busy(String),
    /// The token store cannot be read or written (exit 74).
    #[error("{0}")]
    Store(String),
    /// A command (client_secret_command, token_command) failed, or a setting cannot work
    /// (exit 78).
    #[error("{0}")]
    Config(String),
}

impl Classify for OAuthError {
    fn exit(&self) -> Exit {
        match self {
            OAuthError::LoginNeeded(_) | OAuthError::Refused(_) => Exit::NoPerm,
            OAuthError::Unreachable(_) | OAuthError::Busy(_) => Exit::TempFail,
            OAuthError::Store(_) => Exit::IoErr,
            OAuthError::Config(_) => Exit::Config,
        }
    }
}

/// `run `mailpull auth login ACCOUNT``, for messages.
pub fn login_hint(account: &str) -> String {
    format!("run `mailpull auth login {account}`")
}
