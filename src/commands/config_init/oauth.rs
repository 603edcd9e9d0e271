//! The OAuth 2 part of `mailpull config init`: which hosts sign in with OAuth 2 (Gmail,
//! Microsoft 365), the provider, client id and secret (from the flags, or asked on a
//! terminal), and the `auth` and `oauth2` lines of the written account. Floor 7 (commands).

use dialoguer::{Input, Select};

use crate::cli::config_init::ConfigInitArgs;
use crate::config::ConfigError;
use crate::oauth::Provider;

/// The client secret, as the file will hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Secret {
    None,
    Given(String),
    Command(String),
}

/// What the `oauth2` table says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct OAuthAnswers {
    pub provider: Provider,
    pub client_id: String,
    pub secret: Secret,
    /// Endpoints and scopes of a custom provider (the presets need none).
    pub token_url: Option<String>,
    pub auth_url: Option<String>,
    pub device_url: Option<String>,
    pub scopes: Option<Vec<String>>,
}

/// The provider whose tokens a known mail host takes: Gmail's and Microsoft 365's
/// (Outlook.com's) IMAP and POP3 hosts.
pub(super) fn known_provider(host: &str) -> Option<Provider> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match host.as_str() {
        "imap.gmail.com" | "pop.gmail.com" | "imap.googlemail.com" | "pop.googlemail.com" => {
            Some(Provider::Google)
        }
        "outlook.office365.com"
        | "outlook.office.com"
        | "imap-mail.outlook.com"
        | "pop-mail.outlook.com"
        | "imap.outlook.com"
        | "pop3.live.com" => Some(Provider::Microsoft),
        _ => None,
    }
}

/// The provider named by `--oauth2`.
pub(super) fn provider_named(name: &str) -> Provider {
    match name {
        "google" => Provider::Google,
        "microsoft" => Provider::Microsoft,
        _ => Provider::Custom,
    }
}

/// The OAuth 2 answers: `--oauth2` and its flags, the rest asked on a terminal. `preset` is
/// the provider the host suggests (the default of the question).
pub(super) fn ask(
    args: &ConfigInitArgs,
    preset: Option<Provider>,
    terminal: bool,
) -> anyhow::Result<OAuthAnswers> {
    let need = |what: &str| {
        ConfigError::Usage(format!(
            "{what} (there is no terminal to ask on; see `mailpull config init --help`)"
        ))
    };
    let provider = match (&args.oauth2, terminal) {
        (Some(p), _) => provider_named(p),
        (None, false) => return Err(need("give --oauth2 google|microsoft|custom").into()),
        (None, true) => {
            let all = [Provider::Google, Provider::Microsoft, Provider::Custom];
            let default = all.iter().position(|p| Some(*p) == preset).unwrap_or(0);
            let choice = Select::new()
                .with_prompt("OAuth 2 provider")
                .items([
                    "google (Gmail, Google Workspace)",
                    "microsoft (Microsoft 365, Outlook.com)",
                    "custom (give the endpoints)",
                ])
                .default(default)
                .interact()?;
            all[choice]
        }
    };
    let client_id = match &args.client_id {
        Some(id) => id.clone(),
        None if terminal => Input::<String>::new()
            .with_prompt(
                "Client id of the application you registered (README: Gmail and Microsoft 365)",
            )
            .interact_text()?,
        None => return Err(need("the OAuth 2 client id: give --client-id").into()),
    };
    let custom = provider == Provider::Custom;
    let optional = |flag: &Option<String>, prompt: &str| -> anyhow::Result<Option<String>> {
        Ok(match flag {
            Some(v) => Some(v.clone()),
            None if terminal => Some(
                Input::<String>::new()
                    .with_prompt(prompt)
                    .allow_empty(true)
                    .interact_text()?,
            )
            .filter(|v| !v.trim().is_empty()),
            None => None,
        })
    };
    let secret = if let Some(s) = &args.client_secret {
        Secret::Given(s.clone())
    } else if let Some(c) = &args.client_secret_command {
        Secret::Command(c.clone())
    } else if args.client_id.is_none() && (provider == Provider::Google || custom) {
        // Asked only when the client id was: a script that gave the id and no secret has
        // a public client.
        match optional(
            &None,
            "Client secret (shown with the client id; empty for none)",
        )? {
            Some(s) => Secret::Given(s),
            None => Secret::None,
        }
    } else {
        Secret::None
    };
    let (mut token_url, mut auth_url, mut device_url, mut scopes) = (
        args.token_url.clone(),
        args.auth_url.clone(),
        args.device_url.clone(),
        args.scopes.clone(),
    );
    if custom {
        token_url = match token_url {
            Some(u) => Some(u),
            None if terminal => Some(
                Input::<String>::new()
                    .with_prompt("Token endpoint URL")
                    .interact_text()?,
            ),
            None => return Err(need("a custom provider needs --token-url").into()),
        };
        if args.token_url.is_none() {
            auth_url = optional(&auth_url, "Authorization endpoint URL (empty for none)")?;
            device_url = optional(&device_url, "Device authorization URL (empty for none)")?;
            scopes = optional(&scopes, "Scopes, separated by spaces")?;
        }
    }
    Ok(OAuthAnswers {
        provider,
        client_id,
        secret,
        token_url,
        auth_url,
        device_url,
        scopes: scopes.map(|s| s.split_whitespace().map(str::to_string).collect()),
    })
}

/// The account's `auth` and `oauth2` lines, with a comment on what to do next.
pub(super) fn lines(a: &OAuthAnswers, account: &str) -> String {
    let q = super::quoted;
    let mut fields = vec![
        format!("provider = {}", q(a.provider.name())),
        format!("client_id = {}", q(&a.client_id)),
    ];
    match &a.secret {
        Secret::None => {}
        Secret::Given(s) => fields.push(format!("client_secret = {}", q(s))),
        Secret::Command(c) => fields.push(format!("client_secret_command = {}", q(c))),
    }
    for (key, v) in [
        ("auth_url", &a.auth_url),
        ("token_url", &a.token_url),
        ("device_url", &a.device_url),
    ] {
        if let Some(v) = v {
            fields.push(format!("{key} = {}", q(v)));
        }
    }
    if let Some(s) = &a.scopes {
        let list: Vec<String> = s.iter().map(|s| q(s)).collect();
        fields.push(format!("scopes = [{}]", list.join(", ")));
    }
    format!(
        "# OAuth 2: sign in once on a terminal with `mailpull auth login {account}`; fetches then\n\
         # refresh the access token themselves (tokens in ~/.local/share/mailpull/oauth/, mode\n\
         # 0600; `mailpull auth status {account}` shows them).\n\
         auth = \"xoauth2\"\n\
         oauth2 = {{ {} }}\n",
        fields.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_and_microsoft_hosts_are_known() {
        assert_eq!(known_provider("imap.gmail.com"), Some(Provider::Google));
        assert_eq!(known_provider("POP.GMAIL.COM."), Some(Provider::Google));
        assert_eq!(
            known_provider("outlook.office365.com"),
            Some(Provider::Microsoft)
        );
        assert_eq!(known_provider("mail.example.org"), None);
        assert_eq!(known_provider("gmail.com.example.org"), None);
    }

    #[test]
    fn the_lines_parse_as_toml() {
        let a = OAuthAnswers {
            provider: Provider::Custom,
            client_id: "id \"x\"".into(),
            secret: Secret::Command("pass show x".into()),
            token_url: Some("https://a/t".into()),
            auth_url: None,
            device_url: Some("https://a/d".into()),
            scopes: Some(vec!["mail".into(), "offline_access".into()]),
        };
        let t: toml::Table = toml::from_str(&lines(&a, "work")).unwrap();
        assert_eq!(t["auth"].as_str(), Some("xoauth2"));
        let o = &t["oauth2"];
        assert_eq!(o["client_id"].as_str(), Some("id \"x\""));
        assert_eq!(o["client_secret_command"].as_str(), Some("pass show x"));
        assert_eq!(o["scopes"].as_array().unwrap().len(), 2);
        assert!(o.get("auth_url").is_none());
    }
}
