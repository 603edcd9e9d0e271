//! The `oauth2 = { … }` key of an account (or of `[defaults]`, merged key by key): checked into
//! [`OAuthSettings`] with the store directory beside the ledger's default
//! (`$XDG_DATA_HOME/mailpull/oauth/`). With `oauth2`, the login uses the built-in token store
//! (unless `--password-command` or `MAILPULL_PASSWORD` hands over a token for the run) and the
//! method defaults to `xoauth2`.

use std::path::PathBuf;

use super::{Auth, ConfigError, PasswordSource};
use crate::oauth::{OAuthConfig, OAuthSettings};

/// An account's `oauth2` table with the `[defaults]` one filling in unset keys.
pub(super) fn merge(
    acc: Option<OAuthConfig>,
    defaults: &Option<OAuthConfig>,
) -> Option<OAuthConfig> {
    match (acc, defaults) {
        (Some(a), Some(d)) => Some(a.or(d)),
        (a, d) => a.or_else(|| d.clone()),
    }
}

/// The directory of the token store: `$XDG_DATA_HOME/mailpull/oauth`.
pub fn default_store_dir() -> Result<PathBuf, ConfigError> {
    directories::ProjectDirs::from("", "", "mailpull")
        .map(|d| d.data_dir().join("oauth"))
        .ok_or_else(|| {
            ConfigError::Invalid(
                "cannot find your home directory to place the OAuth 2 token store; set HOME".into(),
            )
        })
}

/// The checked settings, if the account has `oauth2`.
pub(super) fn settings(table: Option<&OAuthConfig>) -> Result<Option<OAuthSettings>, String> {
    let Some(t) = table else { return Ok(None) };
    let dir = default_store_dir().map_err(|e| e.to_string())?;
    t.resolve(dir).map(Some)
}

/// The method with `oauth2`: `xoauth2` unless one was given; a password method is refused.
pub(super) fn auth(auth: Auth, given: bool) -> Result<Auth, String> {
    match (auth, given) {
        (Auth::XOAuth2 | Auth::OAuthBearer, _) => Ok(auth),
        (_, false) => Ok(Auth::XOAuth2),
        (_, true) => Err(
            "oauth2 is set, so auth must be \"xoauth2\" or \"oauthbearer\" (or leave auth out)"
                .into(),
        ),
    }
}

/// The password source with `oauth2`: the token store, unless the command line
/// (`--password-command`) or `MAILPULL_PASSWORD` gives the token for this run.
pub(super) fn password(source: PasswordSource, from_flag_or_env: bool) -> PasswordSource {
    if from_flag_or_env {
        source
    } else {
        PasswordSource::OAuth2
    }
}
