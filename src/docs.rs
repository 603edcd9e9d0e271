//! Shell completions and man pages, generated from the clap definitions in [`crate::cli`].
//!
//! The generated files are committed (`completions/`, `man/`) so that packagers and users need
//! no build step; `tests/docs.rs` fails when they no longer match the command line. Regenerate
//! them with `cargo run -- generate .` (the hidden `generate` subcommand calls [`generate`]).
//!
//! The man pages come from `clap_mangen`, except that a command's after-help text (for the
//! top-level command: exit status, environment, files, examples) is turned into proper man page
//! sections: every unindented line ending in `:` starts a section (`Exit status:` becomes
//! `.SH EXIT STATUS`), indented lines keep their layout, other lines are filled as paragraphs.
//! Nothing that changes between runs (dates, paths) goes into the output; only the crate version
//! does.

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The shells completions are written for, with their file names under `completions/`.
const SHELLS: [(Shell, &str); 5] = [
    (Shell::Bash, "mailpull.bash"),
    (Shell::Zsh, "_mailpull"),
    (Shell::Fish, "mailpull.fish"),
    (Shell::Elvish, "mailpull.elv"),
    (Shell::PowerShell, "_mailpull.ps1"),
];

/// Every generated file: its path relative to the output directory (with `/` separators) and
/// its contents.
pub fn files() -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for (shell, name) in SHELLS {
        let mut cmd = visible_command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "mailpull", &mut buf);
        out.push((format!("completions/{name}"), buf));
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    man_pages(&cmd, &mut out)?;
    out.push(("man/mailpull.toml.5".into(), config_man_page().into_bytes()));
    Ok(out)
}

/// Writes the completions into `dir/completions/` and the man pages into `dir/man/`, creating
/// the directories if needed.
pub fn generate(dir: &Path) -> io::Result<()> {
    for (name, contents) in files()? {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, contents)?;
    }
    Ok(())
}

/// The command line as completions should see it: clap_complete also offers hidden
/// subcommands, so this is `Cli` rebuilt without them (`generate` is for developers).
fn visible_command() -> clap::Command {
    let full = Cli::command();
    clap::Command::new("mailpull")
        .about(full.get_about().cloned().unwrap_or_default())
        .after_long_help(full.get_after_long_help().cloned().unwrap_or_default())
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(full.is_propagate_version_set())
        .subcommand_required(full.is_subcommand_required_set())
        .arg_required_else_help(full.is_arg_required_else_help_set())
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// Renders the man page of `cmd` and of each of its visible subcommands, recursively.
fn man_pages(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> io::Result<()> {
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|t| t.to_string());
    // clap_mangen would put the after-help text, unformatted, under "EXTRA"; render it here.
    let bare = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let man = clap_mangen::Man::new(bare);
    let mut page = Vec::new();
    man.render(&mut page)?;
    let mut page = String::from_utf8(page).map_err(io::Error::other)?;
    if let Some(text) = after {
        let extra = sections(&text);
        match page.find("\n.SH VERSION\n") {
            Some(at) => page.insert_str(at + 1, &extra),
            None => page.push_str(&extra),
        }
    }
    out.push((format!("man/{}", man.get_filename()), page.into_bytes()));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, out)?;
    }
    Ok(())
}

/// Turns help text into man page sections (see the module documentation).
fn sections(text: &str) -> String {
    let mut out = String::new();
    let mut in_section = false;
    let mut nofill = false;
    let mut paragraph = false;
    for line in text.lines() {
        let indented = line.starts_with(' ');
        if line.trim().is_empty() {
            paragraph = true;
            continue;
        }
        if !indented && line.ends_with(':') {
            end_nofill(&mut out, &mut nofill);
            out.push_str(&format!(
                ".SH \"{}\"\n",
                escape(&line[..line.len() - 1].to_uppercase())
            ));
            in_section = true;
            paragraph = false;
            continue;
        }
        if !in_section {
            out.push_str(".SH NOTES\n");
            in_section = true;
            paragraph = false;
        }
        if paragraph {
            end_nofill(&mut out, &mut nofill);
            out.push_str(".PP\n");
            paragraph = false;
        }
        if indented {
            if !nofill {
                out.push_str(".nf\n");
                nofill = true;
            }
            out.push_str(&escape(line.strip_prefix("  ").unwrap_or(line)));
        } else {
            end_nofill(&mut out, &mut nofill);
            out.push_str(&escape(line));
        }
        out.push('\n');
    }
    end_nofill(&mut out, &mut nofill);
    out
}

fn end_nofill(out: &mut String, nofill: &mut bool) {
    if *nofill {
        out.push_str(".fi\n");
        *nofill = false;
    }
}

/// Escapes a line of text for roff, the way clap_mangen does (its output defines `\*(Aq`).
fn escape(line: &str) -> String {
    let text = line
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq");
    if text.starts_with('.') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// mailpull.toml(5): the configuration file, every key from [`crate::config::docs::KEYS`].
pub fn config_man_page() -> String {
    use crate::config::docs::{keys_of, Table};
    let mut p = String::new();
    p.push_str(".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n");
    p.push_str(&format!(
        ".TH mailpull.toml 5  \"mailpull {}\" \n",
        env!("CARGO_PKG_VERSION")
    ));
    p.push_str(".SH NAME\nmailpull.toml \\- the configuration file of mailpull\n");
    p.push_str(".SH SYNOPSIS\n");
    p.push_str(&escape(
        "~/.config/mailpull/config.toml ($XDG_CONFIG_HOME/mailpull/config.toml), or the file \
         given with --config or MAILPULL_CONFIG.",
    ));
    p.push_str("\n.SH DESCRIPTION\n");
    for (i, para) in [
        "A TOML file. The [defaults] table applies to every account; each [account.NAME] table \
         defines an account, fetched with mailpull fetch NAME (mailpull fetch alone fetches \
         every account); the [receipts] table says how read receipts are sent. Flags on the \
         command line win over the file, and MAILPULL_PASSWORD wins over password.",
        "Unknown keys, wrong types and bad values are reported with the file, the line and the \
         key (exit 78). mailpull config check validates the file and prints what every account \
         resolves to; mailpull config init writes a commented starter file.",
        "Durations are seconds or \"30s\", \"2m\", \"1h\" (at most 366 days); sizes are bytes or \
         \"500k\", \"10MB\" (at most 1 PiB).",
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            p.push_str(".PP\n");
        }
        p.push_str(&escape(para));
        p.push('\n');
    }
    for (title, table) in [
        ("TABLES", Table::Top),
        ("ACCOUNT KEYS", Table::Account),
        ("RECEIPT KEYS", Table::Receipts),
        ("OAUTH2 KEYS", Table::OAuth2),
    ] {
        p.push_str(&format!(".SH \"{title}\"\n"));
        if table == Table::Account {
            p.push_str(&escape(
                "In [defaults] and in [account.NAME] tables (url in accounts only); an \
                 account's value wins over the default.",
            ));
            p.push('\n');
        }
        if table == Table::Receipts {
            p.push_str(&escape(
                "In the top-level [receipts] table, or in an account's receipts_transport.",
            ));
            p.push('\n');
        }
        if table == Table::OAuth2 {
            p.push_str(&escape(
                "In the inline table oauth2 = { ... } of [defaults] or an account.",
            ));
            p.push('\n');
        }
        for k in keys_of(table) {
            p.push_str(&format!(
                ".TP\n\\fB{}\\fR = {}\n{}\n",
                escape(k.key),
                escape(k.value),
                escape(k.doc)
            ));
        }
    }
    p.push_str(".SH EXAMPLE\n.nf\n");
    for line in [
        "[defaults]",
        "deliver = { maildir = \"~/Maildir\" }",
        "",
        "[account.work]",
        "url = \"pop3s://alice@mail.example.org\"",
        "password_command = \"pass show mail/work\"",
        "keep = true",
        "delete_after_days = 30",
        "",
        "[account.lists]",
        "url = \"imaps://alice@lists.example.net\"",
        "folders = [\"INBOX\", \"Lists/*\"]",
        "deliver = { mda = \"/usr/bin/procmail -d %u\" }",
    ] {
        p.push_str(&escape(line));
        p.push('\n');
    }
    p.push_str(".fi\n.SH \"SEE ALSO\"\n");
    p.push_str(&escape(
        "mailpull(1), mailpull-config(1), mailpull-probe(1)",
    ));
    p.push_str("\n.SH VERSION\n");
    p.push_str(&format!("v{}\n", env!("CARGO_PKG_VERSION")));
    p
}
