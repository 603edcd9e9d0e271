//! An access token for a login: the stored one while it stays valid for another
//! [`MARGIN`] seconds, else exactly one refresh request (RFC 6749 §6) under the identity's
//! lock. The new record (with the rotated refresh token, if the server sent one) is written
//! durably before the new access token is handed out, so a kill at any instant leaves a
//! refresh token the server still accepts (the old one until the new one is stored).

use oauth2::{RefreshToken, TokenResponse};

use super::http::{client, token_error, Http};
use super::settings::OAuthSettings;
use super::store::{Identity, Store, TokenRecord};
use super::{login_hint, OAuthError};

/// How long an access token must stay valid to be used for a login, in seconds.
pub const MARGIN: i64 = 60;

/// An access token for `user` (the account `account`, named in messages).
pub fn access_token(
    settings: &OAuthSettings,
    user: &str,
    account: &str,
) -> Result<String, OAuthError> {
    let id = Identity::new(settings, user);
    let store = Store::new(settings);
    // Records are replaced atomically: reading without the lock sees a whole one.
    if let Some(rec) = store.load(&id)? {
        if let Some(t) = rec.valid_access(crate::time::unix_now(), MARGIN) {
            log::debug!("OAuth 2: using the stored access token of {user}");
            return Ok(t.to_string());
        }
    }
    let _lock = store.lock(&id)?;
    // Another process may have refreshed while we waited for the lock.
    let Some(rec) = store.load(&id)? else {
        return Err(not_logged_in(&store, &id, account));
    };
    if let Some(t) = rec.valid_access(crate::time::unix_now(), MARGIN) {
        log::debug!("OAuth 2: another run refreshed the access token of {user}");
        return Ok(t.to_string());
    }
    let Some(refresh) = rec.refresh_token.clone() else {
        return Err(not_logged_in(&store, &id, account));
    };
    log::debug!("OAuth 2: refreshing the access token of {user}");
    let client = client(settings)?;
    let http = Http::new();
    let resp = client
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .request(&http)
        .map_err(|e| {
            token_error(
                e,
                &format!("refreshing the OAuth 2 token of {user}"),
                &login_hint(account),
            )
        })?;
    let now = crate::time::unix_now();
    let mut new = rec.clone();
    new.access_token = Some(resp.access_token().secret().clone());
    new.expires_at = resp
        .expires_in()
        .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
    if let Some(r) = resp.refresh_token() {
        new.refresh_token = Some(r.secret().clone());
    }
    new.updated_at = now;
    store.save(&id, &new)?;
    Ok(new.access_token.unwrap_or_default())
}

fn not_logged_in(store: &Store, id: &Identity, account: &str) -> OAuthError {
    OAuthError::LoginNeeded(format!(
        "no OAuth 2 refresh token is stored for {} ({}); {}",
        id.user,
        store.describe(id),
        login_hint(account)
    ))
}

/// Stores the tokens of a completed login flow as the identity's new record.
pub fn store_login(
    settings: &OAuthSettings,
    user: &str,
    resp: &oauth2::basic::BasicTokenResponse,
) -> Result<TokenRecord, OAuthError> {
    let id = Identity::new(settings, user);
    let store = Store::new(settings);
    let _lock = store.lock(&id)?;
    let now = crate::time::unix_now();
    let mut rec = TokenRecord::new(&id, &settings.scopes, now);
    rec.access_token = Some(resp.access_token().secret().clone());
    rec.expires_at = resp
        .expires_in()
        .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
    rec.refresh_token = resp.refresh_token().map(|r| r.secret().clone());
    if rec.refresh_token.is_none() {
        return Err(OAuthError::Refused(
            "the authorization server sent no refresh token, so mailpull could not log in \
             again without you; for Microsoft the scopes need offline_access"
                .into(),
        ));
    }
    store.save(&id, &rec)?;
    Ok(rec)
}
