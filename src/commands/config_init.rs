//! `mailpull config init`: writes a commented starter configuration file, mode 0600, never
//! over an existing one without `--force`.
//!
//! The answers come from the flags, and on a terminal the missing ones are asked (dialoguer,
//! on stderr): server URL (and user), password source (command, environment, prompt, OAuth 2),
//! delivery target. For Gmail and Microsoft 365 hosts, and when OAuth 2 is chosen, the OAuth
//! 2 provider and client id are asked instead of a password source ([`oauth`]). The server is then tried with `mailpull probe`'s connection (no login);
//! when its certificate does not verify, the user is shown the fingerprint and offered to pin
//! it. Without a terminal and without `--url`, a commented example is written. Either file
//! lists every other key with its meaning, from [`crate::config::docs`], and is checked with
//! the configuration parser before it is written. Floor 7 (commands).

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use dialoguer::{Confirm, Input, Select};

use crate::account::probe::probe;
use crate::cli::config_init::ConfigInitArgs;
use crate::cli::Cli;
use crate::config::docs::{keys_of, KeyDoc, Table};
use crate::config::{self, ConfigError, Overrides};
use crate::exit::Exit;
use crate::text::safe;

mod oauth;

/// Where the password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PasswordFrom {
    Command(String),
    Env,
    Prompt,
    /// OAuth 2 tokens from the built-in store.
    OAuth2(oauth::OAuthAnswers),
}

/// Where mail goes, as the `deliver` key writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Deliver {
    Maildir(String),
    Mbox(String),
    Mda(String),
}

/// Everything the account table says.
#[derive(Clone, Debug)]
struct Answers {
    name: String,
    url: String,
    password: PasswordFrom,
    deliver: Deliver,
    tls_ca_file: Option<String>,
    tls_fingerprint: Option<String>,
}

pub(super) fn run(cli: &Cli, args: &ConfigInitArgs) -> anyhow::Result<Exit> {
    let path = match &cli.config {
        Some(p) => config::expand_tilde(p),
        None => config::default_config_path().ok_or_else(|| {
            ConfigError::Usage("no configuration directory (HOME is not set): use --config".into())
        })?,
    };
    if path.exists() && !args.force {
        return Err(ConfigError::Usage(format!(
            "{} already exists; mailpull config init does not overwrite it (--force replaces \
             it, --config PATH writes another file)",
            path.display()
        ))
        .into());
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let answers = if args.example || (args.url.is_none() && !terminal) {
        None
    } else {
        let mut answers = ask(args, terminal)?;
        if !args.no_probe {
            try_server(&mut answers, terminal)?;
        }
        Some(answers)
    };
    let text = answers.as_ref().map_or_else(example, account_file);
    // What is written must be what the parser accepts.
    let parsed = config::parse_file(&path, text.clone()).context("the file to be written")?;
    if !parsed.config.account.is_empty() {
        config::accounts(&parsed, &[], &Overrides::default(), None)
            .context("the file to be written")?;
    }
    write_private(&path, text.as_bytes(), args.force)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let sign_in = match &answers {
        Some(Answers {
            name,
            password: PasswordFrom::OAuth2(_),
            ..
        }) => format!("mailpull auth login {name} (sign in once), "),
        _ => String::new(),
    };
    eprintln!(
        "wrote {}\n  next: mailpull config check, {sign_in}then mailpull fetch (man mailpull.toml \
         lists every key)",
        path.display()
    );
    Ok(Exit::Ok)
}

/// Writes `bytes` at `path` with mode 0600 (creating the directory, 0700): a new file only,
/// unless `replace`, in which case a complete new file takes the old one's place.
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let target = if replace {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        dir.join(format!(".{name}.init-{}", std::process::id()))
    } else {
        path.to_path_buf()
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if replace {
        std::fs::rename(&target, path)?;
    }
    crate::fs::sync_dir(dir)?;
    Ok(())
}

/// The answers: the flags, and on a terminal questions for the rest.
fn ask(args: &ConfigInitArgs, terminal: bool) -> anyhow::Result<Answers> {
    let need = |what: &str| {
        ConfigError::Usage(format!(
            "{what} (there is no terminal to ask on; --example writes a commented example)"
        ))
    };
    let mut url = match &args.url {
        Some(u) => u.clone(),
        None => Input::<String>::new()
            .with_prompt("Server URL (pop3s://USER@HOST, imaps://USER@HOST, pop3://, imap://)")
            .interact_text()?,
    };
    if !url.contains('@') {
        let user = match &args.user {
            Some(u) => u.clone(),
            None if terminal => Input::<String>::new()
                .with_prompt("User name")
                .interact_text()?,
            None => return Err(need("the URL has no user name: give --user").into()),
        };
        url = match url.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{user}@{rest}"),
            None => url,
        };
    }
    let parsed = config::parse_url(&url)?;
    let known = oauth::known_provider(&parsed.host);
    let password = if args.oauth2.is_some() {
        PasswordFrom::OAuth2(oauth::ask(args, known, terminal)?)
    } else if let Some(c) = &args.password_command {
        PasswordFrom::Command(c.clone())
    } else if args.password_env {
        PasswordFrom::Env
    } else if args.password_prompt {
        PasswordFrom::Prompt
    } else if terminal && known.is_some() {
        eprintln!(
            "{} signs in with OAuth 2 (for an app password instead, give --password-command, \
             --password-env or --password-prompt)",
            safe(&parsed.host)
        );
        PasswordFrom::OAuth2(oauth::ask(args, known, terminal)?)
    } else if terminal {
        let choice = Select::new()
            .with_prompt("Password from")
            .items([
                "a command (e.g. pass show mail/work)",
                "the environment (MAILPULL_PASSWORD)",
                "a prompt at each run",
                "OAuth 2 tokens (Gmail, Microsoft 365, another provider)",
            ])
            .default(0)
            .interact()?;
        match choice {
            0 => PasswordFrom::Command(
                Input::<String>::new()
                    .with_prompt("Command that prints the password")
                    .interact_text()?,
            ),
            1 => PasswordFrom::Env,
            2 => PasswordFrom::Prompt,
            _ => PasswordFrom::OAuth2(oauth::ask(args, known, terminal)?),
        }
    } else {
        if let Some(p) = known {
            eprintln!(
                "note: {} signs in with OAuth 2: --oauth2 {} --client-id ID writes that \
                 (see \"Gmail and Microsoft 365\" in the README)",
                safe(&parsed.host),
                p.name()
            );
        }
        PasswordFrom::Prompt
    };
    let deliver = if let Some(p) = &args.maildir {
        Deliver::Maildir(absolute(p))
    } else if let Some(p) = &args.mbox {
        Deliver::Mbox(absolute(p))
    } else if let Some(c) = &args.mda {
        Deliver::Mda(c.clone())
    } else if terminal {
        let choice = Select::new()
            .with_prompt("Deliver mail into")
            .items(["a Maildir", "an mbox file", "an MDA command"])
            .default(0)
            .interact()?;
        match choice {
            0 => Deliver::Maildir(
                Input::<String>::new()
                    .with_prompt("Maildir")
                    .default("~/Maildir".into())
                    .interact_text()?,
            ),
            1 => Deliver::Mbox(
                Input::<String>::new()
                    .with_prompt("mbox file")
                    .interact_text()?,
            ),
            _ => Deliver::Mda(
                Input::<String>::new()
                    .with_prompt("MDA command")
                    .default("/usr/bin/procmail -d %u".into())
                    .interact_text()?,
            ),
        }
    } else {
        Deliver::Maildir("~/Maildir".into())
    };
    Ok(Answers {
        name: args.name.clone().unwrap_or_else(|| name_for(&parsed.host)),
        url,
        password,
        deliver,
        tls_ca_file: args.tls_ca_file.as_deref().map(absolute),
        tls_fingerprint: args.tls_fingerprint.clone(),
    })
}

/// A path from the command line as the file should hold it: relative paths made absolute
/// (the file is read from anywhere), `~/…` kept as written.
fn absolute(p: &Path) -> String {
    if p.starts_with("~") {
        return p.display().to_string();
    }
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// An account name from a host: `mail.example.org` → `example`.
fn name_for(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    let pick = match labels.as_slice() {
        [first, second, ..] if ["mail", "pop", "pop3", "imap", "mx"].contains(first) => second,
        [first, ..] => first,
        [] => &"mail",
    };
    let name: String = pick
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase();
    if name.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        "mail".into()
    } else {
        name
    }
}

/// Tries the server (no login) and says on stderr how it went; offers to pin a certificate
/// that does not verify, on a terminal.
fn try_server(answers: &mut Answers, terminal: bool) -> anyhow::Result<()> {
    let text = account_file(answers);
    let file = config::parse_file(Path::new("(answers)"), text)?;
    let accounts = config::accounts(&file, &[], &Overrides::default(), None)?;
    let Some(account) = accounts.first() else {
        return Ok(());
    };
    eprintln!("trying {} ...", account.server);
    let (report, error) = probe(account, None);
    if let Some(g) = &report.greeting {
        eprintln!("  greeting: {}", safe(g));
    }
    if let Some(t) = &report.tls {
        let fp = t
            .certificate
            .as_ref()
            .map(|c| c.sha256.clone())
            .unwrap_or_default();
        eprintln!("  TLS: {}, {}", t.version, t.cipher);
        match (t.pinned, t.verified) {
            (Some(true), _) => eprintln!("  certificate matches the pin {fp}"),
            (Some(false), _) => eprintln!("  certificate {fp} does NOT match the pin given"),
            (None, true) => eprintln!("  certificate verified"),
            (None, false) => {
                let why = t.verify_error.clone().unwrap_or_default();
                eprintln!(
                    "  certificate does not verify ({}); its fingerprint: {fp}",
                    safe(&why)
                );
                if let Some(c) = &t.certificate {
                    eprintln!(
                        "    subject {}, issuer {}",
                        safe(&c.subject),
                        safe(&c.issuer)
                    );
                }
                if terminal
                    && !fp.is_empty()
                    && Confirm::new()
                        .with_prompt("Pin this certificate (trust exactly it from now on)?")
                        .default(false)
                        .interact()?
                {
                    answers.tls_fingerprint = Some(fp);
                } else {
                    eprintln!(
                        "  (fetches will fail until you trust it: tls_ca_file or tls_fingerprint)"
                    );
                }
            }
        }
    }
    if let Some(e) = error {
        eprintln!(
            "warning: {}",
            safe(&format!("the server could not be tried: {e}"))
        );
        if terminal
            && !Confirm::new()
                .with_prompt("Write the file anyway?")
                .default(true)
                .interact()?
        {
            anyhow::bail!("nothing written");
        }
    }
    Ok(())
}

/// A TOML string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

const HEADER: &str = "\
# mailpull configuration, written by `mailpull config init`.
# Every key is described in mailpull.toml(5) (`man mailpull.toml`); `mailpull config check`
# validates this file and shows what each account resolves to.
";

/// The other keys, one commented line each, for the reader to uncomment.
fn other_keys(set: &[&str]) -> String {
    let mut o = String::from("\n# Other keys of an account (or of [defaults]):\n");
    for k in keys_of(Table::Account).filter(|k| !set.contains(&k.key)) {
        o.push_str(&commented(k));
    }
    o.push_str("\n# How read receipts are sent (or per account: receipts_transport = { ... }):\n");
    o.push_str("# [receipts]\n");
    commented_keys(&mut o, Table::Receipts);
    o.push_str("\n# OAuth 2 (Gmail, Microsoft 365): oauth2 = { provider = \"google\", client_id = \"...\" }\n");
    o.push_str("# in an account, then `mailpull auth login ACCOUNT` once. Its keys:\n");
    commented_keys(&mut o, Table::OAuth2);
    o
}

/// One commented line per key of `table`: the key, its value's form, the first sentence of
/// its documentation.
fn commented_keys(o: &mut String, table: Table) {
    for k in keys_of(table) {
        o.push_str(&commented(k));
    }
}

/// A key's commented line.
fn commented(k: &KeyDoc) -> String {
    let first = k
        .doc
        .split(". ")
        .next()
        .unwrap_or(k.doc)
        .trim_end_matches('.');
    format!("#   {:<19} {} — {}\n", k.key, k.value, first)
}

/// The file for `answers`.
fn account_file(a: &Answers) -> String {
    let mut o = String::from(HEADER);
    o.push_str("\n[defaults]\n");
    o.push_str(&match &a.deliver {
        Deliver::Maildir(p) => format!("deliver = {{ maildir = {} }}\n", quoted(p)),
        Deliver::Mbox(p) => format!("deliver = {{ mbox = {} }}\n", quoted(p)),
        Deliver::Mda(c) => format!("deliver = {{ mda = {} }}\n", quoted(c)),
    });
    o.push_str(&format!("\n[account.{}]\n", a.name));
    o.push_str(&format!("url = {}\n", quoted(&a.url)));
    let mut set = vec!["url", "deliver"];
    match &a.password {
        PasswordFrom::Command(c) => {
            o.push_str(&format!("password_command = {}\n", quoted(c)));
            set.push("password_command");
        }
        PasswordFrom::Env => o.push_str("# The password comes from MAILPULL_PASSWORD.\n"),
        PasswordFrom::Prompt => o.push_str("# The password is asked for on the terminal.\n"),
        PasswordFrom::OAuth2(t) => {
            o.push_str(&oauth::lines(t, &a.name));
            set.extend(["auth", "oauth2"]);
        }
    }
    if let Some(f) = &a.tls_ca_file {
        o.push_str(&format!("tls_ca_file = {}\n", quoted(f)));
        set.push("tls_ca_file");
    }
    if let Some(f) = &a.tls_fingerprint {
        o.push_str(&format!("tls_fingerprint = {}\n", quoted(f)));
        set.push("tls_fingerprint");
    }
    o.push_str(&other_keys(&set));
    o
}

/// The commented example: nothing active, every key mentioned.
fn example() -> String {
    let mut o = String::from(HEADER);
    o.push_str(
        "\n# Nothing below is active yet: remove the leading # of the lines you want.\n\
         # [defaults] applies to every account, [account.NAME] defines one account.\n\
         \n\
         # [defaults]\n\
         # deliver = { maildir = \"~/Maildir\" }\n\
         \n\
         # [account.work]\n\
         # url = \"pop3s://alice@mail.example.org\"\n\
         # password_command = \"pass show mail/work\"\n\
         # keep = true\n",
    );
    o.push_str(&other_keys(&["url", "deliver", "password_command", "keep"]));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_from_hosts() {
        assert_eq!(name_for("mail.example.org"), "example");
        assert_eq!(name_for("imap.gmail.com"), "gmail");
        assert_eq!(name_for("posteo.de"), "posteo");
        assert_eq!(name_for("127.0.0.1"), "mail");
    }

    #[test]
    fn strings_are_quoted_for_toml() {
        let a = Answers {
            name: "x".into(),
            url: "pop3s://a@h".into(),
            password: PasswordFrom::Command("pass show \"mail\"\\x".into()),
            deliver: Deliver::Maildir("~/Mail dir".into()),
            tls_ca_file: None,
            tls_fingerprint: None,
        };
        let text = account_file(&a);
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["account"]["x"]["password_command"].as_str(),
            Some("pass show \"mail\"\\x")
        );
    }
}
