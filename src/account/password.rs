//! Passwords: resolved from their source (given, a command's first line, or a prompt on the
//! terminal), one account at a time, before any account connects, so that prompts never
//! interleave with another account's work. An account with `oauth2` (and no token given for
//! the run) gets its access token from the built-in store right before each login instead
//! ([`for_login`]): a `watch` that logs in again hours later gets a fresh one.

use std::borrow::Cow;
use std::io::IsTerminal;

use crate::config::{Account, ConfigError, PasswordSource};
use crate::oauth::OAuthError;

/// `MAILPULL_PASSWORD`, which `config::accounts` takes as a password source.
pub fn password_env() -> Option<String> {
    std::env::var("MAILPULL_PASSWORD").ok()
}

/// Resolves every account's password up front, one prompt at a time.
pub fn passwords(accounts: &[Account]) -> Vec<Result<String, ConfigError>> {
    accounts
        .iter()
        .map(|a| resolve_password(&a.password, &a.label))
        .collect()
}

/// Gets the password from its source.
fn resolve_password(source: &PasswordSource, label: &str) -> Result<String, ConfigError> {
    match source {
        PasswordSource::Given(p) => Ok(p.clone()),
        // Obtained right before the login (see `for_login`).
        PasswordSource::OAuth2 => Ok(String::new()),
        PasswordSource::Command(cmd) => {
            crate::command::password_from(cmd, "password command").map_err(ConfigError::Invalid)
        }
        PasswordSource::Prompt => {
            if !std::io::stdin().is_terminal() {
                return Err(ConfigError::Invalid(format!(
                    "no password for {label}: set MAILPULL_PASSWORD, password_command in the \
                     configuration or --password-command (there is no terminal to ask on)"
                )));
            }
            dialoguer::Password::new()
                .with_prompt(format!("Password for {label}"))
                .interact()
                .map_err(|e| ConfigError::Invalid(format!("could not read the password: {e}")))
        }
    }
}

/// The secret to log in with: `password` as resolved up front, or, for the OAuth 2 store, an
/// access token valid now (refreshed with one request if the stored one is about to expire).
pub fn for_login<'p>(account: &Account, password: &'p str) -> Result<Cow<'p, str>, OAuthError> {
    match (&account.password, &account.oauth2) {
        (PasswordSource::OAuth2, Some(settings)) => {
            crate::oauth::access_token(settings, &account.user, &account.label).map(Cow::Owned)
        }
        _ => Ok(Cow::Borrowed(password)),
    }
}
