//! `mailpull config check`: validates the configuration file and prints what every account
//! resolves to (never a password).

use std::io::Write;

use super::accounts::server_url;
use crate::cli::Cli;
use crate::config::{self, Overrides, PasswordSource, Security};
use crate::exit::Exit;

pub(super) fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let file = config::load(cli.config.as_deref())?;
    let accounts = if file.config.account.is_empty() {
        Vec::new()
    } else {
        config::accounts(&file, &[], &Overrides::default(), None)?
    };
    let mut out = super::data_out();
    match &file.path {
        Some(p) => writeln!(out, "configuration: {} (OK)", p.display())?,
        None => writeln!(
            out,
            "configuration: none ({} does not exist)",
            config::default_config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "no config directory".into())
        )?,
    }
    let ledger = match &cli.ledger {
        Some(p) => config::expand_tilde(p),
        None => config::default_ledger()?,
    };
    writeln!(out, "ledger: {}", ledger.display())?;
    for a in &accounts {
        writeln!(out, "\n[account.{}]", a.label)?;
        writeln!(out, "  server: {}", server_url(a))?;
        writeln!(
            out,
            "  security: {}",
            match a.security {
                Security::Implicit => "TLS",
                Security::StartTls => "STLS (required)",
                Security::None => "none (insecure_no_tls)",
            }
        )?;
        writeln!(
            out,
            "  password: {}",
            match &a.password {
                PasswordSource::Given(_) => "set (not shown)".to_string(),
                PasswordSource::Command(c) => format!("from `{c}`"),
                PasswordSource::Prompt => "asked on the terminal".to_string(),
                PasswordSource::OAuth2 =>
                    "OAuth 2 token store (see `mailpull auth status`)".to_string(),
            }
        )?;
        writeln!(out, "  auth: {}", a.auth.describe(a.protocol))?;
        if let Some(o) = &a.oauth2 {
            writeln!(out, "  oauth2: {}", o.describe())?;
        }
        if let Some(f) = &a.tls.ca_file {
            writeln!(out, "  tls_ca_file: {}", f.display())?;
        }
        if let Some(f) = &a.tls.fingerprint {
            writeln!(out, "  tls_fingerprint: sha256:{}", hex::encode(f))?;
        }
        writeln!(out, "  timeout: {} s", a.timeout.as_secs())?;
        writeln!(out, "  keep: {}", a.keep)?;
        if let Some(d) = a.delete_after {
            writeln!(out, "  delete_after_days: {}", d.as_secs() / 86_400)?;
        }
        if let Some(s) = a.skip_larger_than {
            writeln!(out, "  skip_larger_than: {s} bytes")?;
        }
        if let Some(s) = a.delete_larger_than {
            writeln!(out, "  delete_larger_than: {s} bytes")?;
        }
        if let Some(n) = a.max_messages {
            writeln!(out, "  max_messages: {n}")?;
        }
        writeln!(out, "  deliver: {}", a.target)?;
        if let Some(p) = a.poll_interval {
            writeln!(out, "  poll_interval: {} s", p.as_secs())?;
        }
        writeln!(
            out,
            "  receipts: {}",
            crate::receipts::describe(&a.receipts, &a.user)
        )?;
    }
    out.flush()?;
    Ok(Exit::Ok)
}
