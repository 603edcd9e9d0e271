//! The driver of `mailpull import`: the tool's files are read and parsed first (a bad file
//! stops the import before the ledger is touched), then matched against the configured
//! accounts ([`super::plan()`]), then written in one ledger transaction, then reported.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::plan::{apply, plan};
use super::{fetchmail, getmail, mpop, read_lists, report, Alias, Tool};
use crate::config::{self, ConfigError, Overrides, Verbosity};
use crate::exit::Exit;
use crate::ledger::Ledger;

/// What `mailpull import` is asked to do, in plain values.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    pub tool: Tool,
    /// The tool's state files or directories (none: the tool's default place).
    pub paths: Vec<PathBuf>,
    /// `--account`: the accounts to import into (none: every configured account).
    pub accounts: Vec<String>,
    /// `--as PEER-URL=URL`, unparsed.
    pub aliases: Vec<String>,
    pub dry_run: bool,
    /// A JSON report on stdout.
    pub json: bool,
    /// `--config`, if given.
    pub config: Option<PathBuf>,
    /// `--ledger`, if given.
    pub ledger: Option<PathBuf>,
    /// `--quiet`.
    pub quiet: bool,
}

/// The tool's state files where the tool keeps them, when none were named.
fn default_paths(tool: Tool) -> Result<Vec<PathBuf>, ConfigError> {
    let no_home = |what: &str| {
        ConfigError::Usage(format!(
            "HOME is not set: name the {what} on the command line"
        ))
    };
    Ok(vec![match tool {
        Tool::Fetchmail => fetchmail::default_path().ok_or_else(|| no_home("idfile"))?,
        Tool::Mpop => mpop::default_path().ok_or_else(|| no_home("UIDLS file"))?,
        Tool::Getmail => getmail::default_dir().ok_or_else(|| no_home("oldmail files"))?,
    }])
}

/// `mailpull import TOOL ...`: reads the tool's state, matches it against the accounts and
/// writes the ledger (one transaction), then reports.
pub fn run(req: &ImportRequest) -> anyhow::Result<Exit> {
    let tool = req.tool;
    let opts = req;
    let paths = if req.paths.is_empty() {
        default_paths(tool)?
    } else {
        req.paths.clone()
    };
    let verbosity = if req.quiet {
        Verbosity::Quiet
    } else {
        Verbosity::Normal
    };
    let paths: Vec<PathBuf> = paths.iter().map(|p| config::expand_tilde(p)).collect();

    // Parse everything first: a bad file stops the import before the ledger is touched.
    let aliases = opts
        .aliases
        .iter()
        .map(|a| Alias::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    if tool != Tool::Getmail {
        if let Some(a) = aliases.iter().find(|a| a.peer.protocol != "pop3") {
            return Err(ConfigError::Usage(format!(
                "--as {:?}: {} records POP3 mailboxes only; map pop3:// URLs",
                a.text,
                tool.name()
            ))
            .into());
        }
    }
    let (files, lists) = read_lists(tool, &paths)?;
    let file = config::load(req.config.as_deref())?;
    let accounts = config::accounts(&file, &opts.accounts, &Overrides::default(), None)?;
    let plan = plan(tool, &lists, &accounts, &aliases, crate::time::unix_now());

    let ledger_path = match &req.ledger {
        Some(p) => config::expand_tilde(p),
        None => config::default_ledger()?,
    };
    // Nothing to write, or a dry run with no ledger yet: leave the ledger alone.
    let untouched = plan.accounts.is_empty() || (opts.dry_run && !ledger_path.exists());
    let mut ledger = if untouched {
        None
    } else {
        Some(Ledger::open(&ledger_path)?)
    };
    let added = apply(&plan, ledger.as_mut(), opts.dry_run)
        .with_context(|| format!("nothing was imported into {}", ledger_path.display()))?;

    let records: usize = lists.iter().map(|l| l.ids.len()).sum();
    let exit = if records > 0 && plan.accounts.is_empty() {
        Exit::Config
    } else {
        Exit::Ok
    };
    report::human(
        tool,
        &files,
        &ledger_path,
        &plan,
        &added,
        opts.dry_run,
        verbosity,
    );
    if opts.json {
        let value = report::json(
            tool,
            &files,
            &ledger_path,
            &plan,
            &added,
            opts.dry_run,
            exit,
        );
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }
    if exit == Exit::Config {
        eprintln!(
            "mailpull: error: none of the {records} message id(s) in {} belongs to a configured \
             account: configure the account(s) first (mailpull accounts lists them), or name \
             them with --account",
            report::files_text(&files)
        );
    }
    Ok(exit)
}
