//! `mailpull auth login | status | logout`: the OAuth 2 side of accounts with `oauth2`
//! settings. Login runs a flow on the terminal (instructions on stderr) and stores the tokens;
//! status shows what is stored (stdout, `--json`), never a token; logout forgets the record.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::cli::auth::{AuthCommand, AuthLoginArgs, AuthLogoutArgs, AuthStatusArgs};
use crate::cli::Cli;
use crate::config::{self, Account, ConfigError, Overrides};
use crate::exit::Exit;
use crate::oauth::flows::{self, Flow, LoginRequest};
use crate::oauth::refresh::MARGIN;
use crate::oauth::{Identity, OAuthSettings, Store};

pub(super) fn run(cli: &Cli, cmd: &AuthCommand) -> anyhow::Result<Exit> {
    match cmd {
        AuthCommand::Login(a) => login(cli, a),
        AuthCommand::Status(a) => status(cli, a),
        AuthCommand::Logout(a) => logout(cli, a),
    }
}

/// The configured accounts named (every one with `oauth2` when none is), each with its
/// settings; naming an account without `oauth2` is a usage error.
fn oauth_accounts(cli: &Cli, names: &[String]) -> anyhow::Result<Vec<(Account, OAuthSettings)>> {
    let file = config::load(cli.config.as_deref())?;
    for n in names {
        if n.contains("://") {
            return Err(ConfigError::Usage(format!(
                "{n:?}: `mailpull auth` takes the name of a configured account with oauth2 \
                 settings, not a URL"
            ))
            .into());
        }
    }
    let accounts = config::accounts(&file, names, &Overrides::default(), None)?;
    let mut out = Vec::new();
    for a in accounts {
        match a.oauth2.clone() {
            Some(s) => out.push((a, s)),
            None if !names.is_empty() => {
                return Err(ConfigError::Usage(format!(
                    "account {} has no oauth2 settings (add e.g. oauth2 = {{ provider = \
                     \"microsoft\", client_id = \"…\" }} to [account.{}])",
                    a.label, a.label
                ))
                .into())
            }
            None => {}
        }
    }
    Ok(out)
}

fn login(cli: &Cli, args: &AuthLoginArgs) -> anyhow::Result<Exit> {
    let [(account, settings)] = &oauth_accounts(cli, std::slice::from_ref(&args.account))?[..]
    else {
        unreachable!("one account named")
    };
    let flow = if args.device {
        Some(Flow::Device)
    } else if args.loopback {
        Some(Flow::Loopback)
    } else {
        None
    };
    let rec = flows::login(&LoginRequest {
        settings,
        user: &account.user,
        flow,
        browser: args.browser,
        timeout: Duration::from_secs(args.timeout),
    })?;
    if !cli.quiet {
        eprintln!(
            "mailpull: signed in; the tokens of {} for account {} are stored ({}){}",
            crate::text::safe(&account.user),
            account.label,
            Store::new(settings).describe(&Identity::new(settings, &account.user)),
            rec.expires_at
                .map(|t| format!("; the access token is valid until {}", when(t)))
                .unwrap_or_default()
        );
    }
    Ok(Exit::Ok)
}

fn when(t: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn status(cli: &Cli, args: &AuthStatusArgs) -> anyhow::Result<Exit> {
    let accounts = oauth_accounts(cli, &args.accounts)?;
    if accounts.is_empty() && !args.json {
        eprintln!("mailpull: no account has oauth2 settings");
    }
    let now = crate::time::unix_now();
    let mut exit = Exit::Ok;
    let mut rows = Vec::new();
    let mut out = std::io::stdout().lock();
    for (a, s) in &accounts {
        let id = Identity::new(s, &a.user);
        let store = Store::new(s);
        let rec = store.load(&id)?;
        let signed_in = rec.as_ref().is_some_and(|r| r.refresh_token.is_some());
        if !signed_in {
            exit = exit.max(Exit::NoPerm);
        }
        let expires = rec.as_ref().and_then(|r| r.expires_at);
        let valid = rec
            .as_ref()
            .is_some_and(|r| r.valid_access(now, MARGIN).is_some());
        if args.json {
            rows.push(serde_json::json!({
                "account": a.label,
                "user": a.user,
                "provider": s.provider.name(),
                "token_url": s.token_url,
                "client_id": s.client_id,
                "store": store.describe(&id),
                "signed_in": signed_in,
                "access_token_valid": valid,
                "access_token_expires_at": expires,
                "obtained_at": rec.as_ref().map(|r| r.obtained_at),
                "updated_at": rec.as_ref().map(|r| r.updated_at),
            }));
        } else {
            let state = match (signed_in, expires) {
                (false, _) => format!("not signed in: run `mailpull auth login {}`", a.label),
                (true, Some(t)) if valid => {
                    format!("signed in; access token valid until {}", when(t))
                }
                (true, Some(t)) => format!(
                    "signed in; access token expired {} (renewed at the next login)",
                    when(t)
                ),
                (true, None) => "signed in; no access token yet".to_string(),
            };
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}",
                a.label,
                crate::text::safe(&a.user),
                s.provider.name(),
                state
            );
        }
    }
    if args.json {
        let _ = writeln!(out, "{}", serde_json::Value::Array(rows));
    }
    Ok(exit)
}

fn logout(cli: &Cli, args: &AuthLogoutArgs) -> anyhow::Result<Exit> {
    let [(account, settings)] = &oauth_accounts(cli, std::slice::from_ref(&args.account))?[..]
    else {
        unreachable!("one account named")
    };
    let id = Identity::new(settings, &account.user);
    let store = Store::new(settings);
    let _lock = store.lock(&id)?;
    let removed = store.remove(&id)?;
    if !cli.quiet {
        if removed {
            eprintln!(
                "mailpull: forgot the OAuth 2 tokens of {} for account {} (revoke the grant at \
                 the provider to end it there too)",
                crate::text::safe(&account.user),
                account.label
            );
        } else {
            eprintln!(
                "mailpull: no OAuth 2 tokens were stored for account {}",
                account.label
            );
        }
    }
    Ok(Exit::Ok)
}
