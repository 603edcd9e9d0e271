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

/// The account's token store for its read receipts (SMTP `auth = "xoauth2"`).
pub(super) fn receipts(
    oauth2: &Option<OAuthSettings>,
    account: &str,
) -> Option<crate::receipts::settings::ReceiptOAuth> {
    oauth2
        .as_ref()
        .map(|settings| crate::receipts::settings::ReceiptOAuth {
            settings: settings.clone(),
            account: account.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::{accounts, parse_file, Overrides};
    use super::*;

    fn accs(text: &str, env: Option<&str>) -> Result<Vec<super::super::Account>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let f = parse_file(&path, text.to_string()).map_err(|e| e.to_string())?;
        accounts(&f, &[], &Overrides::default(), env.map(str::to_string)).map_err(|e| e.to_string())
    }

    #[test]
    fn oauth2_uses_the_store_and_defaults_to_xoauth2() {
        let a = accs(
            "[defaults]\noauth2 = { provider = \"microsoft\" }\npassword_command = \"pass x\"\n\
             [account.work]\nurl = \"imaps://alice@outlook.office365.com\"\n\
             oauth2 = { client_id = \"abc\" }\n",
            None,
        )
        .unwrap();
        let s = a[0].oauth2.as_ref().unwrap();
        assert_eq!(
            (s.client_id.as_str(), s.provider),
            ("abc", crate::oauth::Provider::Microsoft)
        );
        assert_eq!(a[0].auth, Auth::XOAuth2);
        assert_eq!(a[0].password, PasswordSource::OAuth2);
        assert!(
            matches!(&s.store, crate::oauth::settings::StoreLocation::Dir(d) if d.ends_with("mailpull/oauth"))
        );
        // A token given for the run wins over the store.
        let a = accs(
            "[account.work]\nurl = \"imaps://alice@h\"\nauth = \"oauthbearer\"\n\
             oauth2 = { provider = \"google\", client_id = \"abc\" }\n",
            Some("tok"),
        )
        .unwrap();
        assert_eq!(a[0].auth, Auth::OAuthBearer);
        assert!(matches!(a[0].password, PasswordSource::Given(_)));
    }

    #[test]
    fn client_secret_in_a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for text in [
            "[account.a]\nurl = \"imaps://a@b\"\n\
             oauth2 = { provider = \"google\", client_id = \"x\", client_secret = \"GOCSPX-s3cr3t\" }\n",
            "[defaults]\noauth2 = { client_secret = \"GOCSPX-s3cr3t\" }\n[account.a]\n\
             url = \"imaps://a@b\"\noauth2 = { provider = \"google\", client_id = \"x\" }\n",
        ] {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = parse_file(&path, text.into()).unwrap_err().to_string();
            assert!(
                e.contains("client secret") && e.contains("chmod 600") && !e.contains("s3cr3t"),
                "{e}"
            );
            assert!(e.contains("client_secret_command"), "{e}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert!(parse_file(&path, text.into()).is_err());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(parse_file(&path, text.into()).is_ok());
        }
        // A command for the secret is fine in a readable file.
        let text = "[account.a]\nurl = \"imaps://a@b\"\n\
                    oauth2 = { provider = \"google\", client_id = \"x\", client_secret_command = \"pass x\" }\n";
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(parse_file(&path, text.into()).is_ok());
    }

    #[test]
    fn oauth2_mistakes_are_reported_with_the_account() {
        let e = accs(
            "[account.work]\nurl = \"imaps://alice@h\"\nauth = \"plain\"\n\
             oauth2 = { provider = \"google\", client_id = \"abc\" }\n",
            None,
        )
        .unwrap_err();
        assert!(e.contains("account work") && e.contains("xoauth2"), "{e}");
        let e = accs(
            "[account.work]\nurl = \"imaps://alice@h\"\n\
             oauth2 = { provider = \"custom\", client_id = \"abc\", token_url = \"http://auth.example.org/t\" }\n",
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("account work") && e.contains("plain http"),
            "{e}"
        );
        let e = accs(
            "[account.work]\nurl = \"imaps://alice@h\"\noauth2 = { provider = \"google\" }\n",
            None,
        )
        .unwrap_err();
        assert!(e.contains("client_id"), "{e}");
        let e = accs(
            "[account.work]\nurl = \"imaps://alice@h\"\noauth2 = { provider = \"yahoo\", client_id = \"x\" }\n",
            None,
        )
        .unwrap_err();
        assert!(e.contains("line 3") && e.contains("yahoo"), "{e}");
    }
}
