//! OAuth 2 settings as the configuration holds them: the `oauth2 = { … }` table of an account
//! or of `[defaults]` ([`OAuthConfig`], read by serde), the provider presets (Google,
//! Microsoft), and the checked, resolved [`OAuthSettings`] the token code works with. Plain
//! values, so that `config` can hold them without importing anything of the token logic.

use std::path::PathBuf;

use serde::Deserialize;

/// Who issues the tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Gmail / Google Workspace: authorization code + PKCE with a loopback redirect (Google's
    /// device flow does not allow the mail scope).
    Google,
    /// Microsoft 365 / Outlook.com: device authorization grant, or the loopback flow.
    Microsoft,
    /// Endpoints and scopes given in the table.
    Custom,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Custom => "custom",
        }
    }
}

/// Google's endpoints and mail scope (IMAP, POP and SMTP share it).
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const GOOGLE_SCOPES: &[&str] = &["https://mail.google.com/"];

/// Microsoft identity platform (v2.0, `common` tenant) and the delegated mail scopes.
pub const MICROSOFT_AUTH_URL: &str =
    "https://login.microsoftonline.com/common/oauth2/v2.0/authorize";
pub const MICROSOFT_TOKEN_URL: &str = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
pub const MICROSOFT_DEVICE_URL: &str =
    "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode";
pub const MICROSOFT_SCOPES: &[&str] = &[
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
];

/// The `oauth2 = { … }` table, as written.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub provider: Option<Provider>,
    pub client_id: Option<String>,
    /// The client secret (Google's desktop clients have one; it is not really secret).
    pub client_secret: Option<String>,
    /// Prints the client secret on its first line.
    pub client_secret_command: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub device_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Reads and writes the token record instead of the file store: `CMD get` prints the
    /// record (nothing when there is none), `CMD put` reads it on stdin, `CMD delete` forgets it.
    pub token_command: Option<String>,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_secret_command", &self.client_secret_command)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("device_url", &self.device_url)
            .field("scopes", &self.scopes)
            .field("token_command", &self.token_command)
            .finish()
    }
}

/// Where the client secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// A public client: none.
    None,
    Given(String),
    /// The first line of this command's output.
    Command(String),
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientSecret::None => f.write_str("None"),
            ClientSecret::Given(_) => f.write_str("Given(<redacted>)"),
            ClientSecret::Command(c) => write!(f, "Command({c:?})"),
        }
    }
}

/// Where token records live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// One JSON file per identity in this directory (mode 0700, files 0600).
    Dir(PathBuf),
    /// Through the user's command (`get`/`put`/`delete`); the lock files stay in `locks`.
    Command { command: String, locks: PathBuf },
}

/// Checked OAuth 2 settings of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthSettings {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub auth_url: Option<String>,
    pub token_url: String,
    pub device_url: Option<String>,
    pub scopes: Vec<String>,
    pub store: StoreLocation,
}

impl OAuthSettings {
    /// One line for `mailpull config check` (never the client secret).
    pub fn describe(&self) -> String {
        format!(
            "provider {}, client id {}, token endpoint {}, scopes {}, {}{}",
            self.provider.name(),
            self.client_id,
            self.token_url,
            self.scopes.join(" "),
            match &self.store {
                StoreLocation::Dir(d) => format!("tokens in {}", d.display()),
                StoreLocation::Command { command, .. } => format!("tokens through `{command}`"),
            },
            match &self.client_secret {
                ClientSecret::None => "",
                ClientSecret::Given(_) => ", client secret set (not shown)",
                ClientSecret::Command(_) => ", client secret from its command",
            }
        )
    }
}

impl OAuthConfig {
    /// `self` with unset keys taken from `d` (the `[defaults]` table).
    pub fn or(self, d: &OAuthConfig) -> OAuthConfig {
        OAuthConfig {
            provider: self.provider.or(d.provider),
            client_id: self.client_id.or_else(|| d.client_id.clone()),
            client_secret: self.client_secret.or_else(|| d.client_secret.clone()),
            client_secret_command: self
                .client_secret_command
                .or_else(|| d.client_secret_command.clone()),
            auth_url: self.auth_url.or_else(|| d.auth_url.clone()),
            token_url: self.token_url.or_else(|| d.token_url.clone()),
            device_url: self.device_url.or_else(|| d.device_url.clone()),
            scopes: self.scopes.or_else(|| d.scopes.clone()),
            token_command: self.token_command.or_else(|| d.token_command.clone()),
        }
    }

    /// Checks the table and fills in the provider's preset; `store_dir` is where records (or,
    /// with `token_command`, only the lock files) go.
    pub fn resolve(&self, store_dir: PathBuf) -> Result<OAuthSettings, String> {
        let provider = self.provider.unwrap_or(Provider::Custom);
        let client_id = match self.client_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                return Err(
                    "oauth2: client_id is missing (the id of the application you registered \
                     with the provider; see \"Gmail and Microsoft 365\" in the README)"
                        .into(),
                )
            }
        };
        let client_secret = match (&self.client_secret, &self.client_secret_command) {
            (Some(_), Some(_)) => {
                return Err("oauth2: give client_secret or client_secret_command, not both".into())
            }
            (Some(s), None) => ClientSecret::Given(s.clone()),
            (None, Some(c)) if !c.trim().is_empty() => ClientSecret::Command(c.clone()),
            (None, Some(_)) => return Err("oauth2: client_secret_command is empty".into()),
            (None, None) => ClientSecret::None,
        };
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (auth, token, device, scopes) = match provider {
            Provider::Google => (
                Some(GOOGLE_AUTH_URL.to_string()),
                Some(GOOGLE_TOKEN_URL.to_string()),
                None,
                strs(GOOGLE_SCOPES),
            ),
            Provider::Microsoft => (
                Some(MICROSOFT_AUTH_URL.to_string()),
                Some(MICROSOFT_TOKEN_URL.to_string()),
                Some(MICROSOFT_DEVICE_URL.to_string()),
                strs(MICROSOFT_SCOPES),
            ),
            Provider::Custom => (None, None, None, Vec::new()),
        };
        let auth_url = self.auth_url.clone().or(auth);
        let device_url = self.device_url.clone().or(device);
        let Some(token_url) = self.token_url.clone().or(token) else {
            return Err(
                "oauth2: provider \"custom\" needs token_url (and auth_url or \
                        device_url for `mailpull auth login`)"
                    .into(),
            );
        };
        for (key, url) in [
            ("token_url", Some(&token_url)),
            ("auth_url", auth_url.as_ref()),
            ("device_url", device_url.as_ref()),
        ] {
            if let Some(u) = url {
                check_endpoint(u).map_err(|e| format!("oauth2: {key}: {e}"))?;
            }
        }
        let scopes = self.scopes.clone().unwrap_or(scopes);
        if scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err("oauth2: scopes: a scope is empty or contains a space".into());
        }
        let store = match self.token_command.as_deref() {
            Some(c) if c.trim().is_empty() => return Err("oauth2: token_command is empty".into()),
            Some(c) => StoreLocation::Command {
                command: c.to_string(),
                locks: store_dir,
            },
            None => StoreLocation::Dir(store_dir),
        };
        Ok(OAuthSettings {
            provider,
            client_id,
            client_secret,
            auth_url,
            token_url,
            device_url,
            scopes,
            store,
        })
    }
}

/// An endpoint must be `https://`, or `http://` to a loopback address (local test servers).
pub fn check_endpoint(u: &str) -> Result<(), String> {
    let url = url::Url::parse(u).map_err(|e| format!("{u:?} is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(url::Host::Ipv4(a)) if a.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(a)) if a.is_loopback() => Ok(()),
            Some(url::Host::Domain("localhost")) => Ok(()),
            _ => Err(format!(
                "{u:?} is plain http: tokens are only sent over https (plain http is allowed \
                 for 127.0.0.1, ::1 and localhost only)"
            )),
        },
        other => Err(format!("{u:?}: the scheme {other:?} is not https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(provider: Option<Provider>) -> OAuthConfig {
        OAuthConfig {
            provider,
            client_id: Some("id".into()),
            ..Default::default()
        }
    }

    #[test]
    fn presets_fill_in_endpoints_and_scopes() {
        let s = cfg(Some(Provider::Microsoft)).resolve("/x".into()).unwrap();
        assert_eq!(s.token_url, MICROSOFT_TOKEN_URL);
        assert_eq!(s.device_url.as_deref(), Some(MICROSOFT_DEVICE_URL));
        assert!(s.scopes.contains(&"offline_access".to_string()));
        let g = cfg(Some(Provider::Google)).resolve("/x".into()).unwrap();
        assert_eq!(g.device_url, None);
        assert_eq!(g.scopes, vec!["https://mail.google.com/"]);
        assert_eq!(g.store, StoreLocation::Dir("/x".into()));
    }

    #[test]
    fn custom_needs_a_token_url_and_plain_http_only_on_loopback() {
        assert!(cfg(None)
            .resolve("/x".into())
            .unwrap_err()
            .contains("token_url"));
        let mut c = cfg(Some(Provider::Custom));
        c.token_url = Some("http://127.0.0.1:8080/token".into());
        assert!(c.resolve("/x".into()).is_ok());
        c.token_url = Some("http://auth.example.org/token".into());
        let e = c.resolve("/x".into()).unwrap_err();
        assert!(e.contains("token_url") && e.contains("plain http"), "{e}");
        c.token_url = Some("https://auth.example.org/token".into());
        c.device_url = Some("ftp://x/".into());
        assert!(c.resolve("/x".into()).unwrap_err().contains("device_url"));
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        let mut c = cfg(Some(Provider::Google));
        c.client_secret = Some("s3cr3t-value".into());
        c.client_secret_command = Some("pass x".into());
        assert!(c.resolve("/x".into()).unwrap_err().contains("not both"));
        c.client_secret_command = None;
        let s = c.resolve("/x".into()).unwrap();
        assert!(!format!("{s:?}{c:?}").contains("s3cr3t-value"));
        c.client_id = Some(" ".into());
        assert!(c.resolve("/x".into()).unwrap_err().contains("client_id"));
    }
}
