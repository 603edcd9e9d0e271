//! What `mailpull import` tells the user: the human report on stderr (what was imported into
//! which account, what matched nothing, terminal-safe since it quotes other programs' files)
//! and the `--json` report on stdout.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::plan::Plan;
use super::Tool;
use crate::config::Verbosity;
use crate::exit::Exit;

pub(super) fn files_text(files: &[PathBuf]) -> String {
    match files {
        [one] => one.display().to_string(),
        _ => format!("{} files", files.len()),
    }
}

/// The human report on stderr.
pub(super) fn human(
    tool: Tool,
    files: &[PathBuf],
    ledger: &Path,
    plan: &Plan,
    added: &[usize],
    dry_run: bool,
    verbosity: Verbosity,
) {
    let quiet = verbosity == Verbosity::Quiet;
    let verb = if dry_run { "would import" } else { "imported" };
    if !quiet {
        if plan.accounts.is_empty() && plan.unmatched.is_empty() {
            eprintln!(
                "mailpull: {} lists no fetched messages: nothing to import",
                files_text(files)
            );
        }
        for (a, n) in plan.accounts.iter().zip(added) {
            let known = a.rows.len() - n;
            eprintln!(
                "mailpull: {verb} {n} message(s) from {} into account {} ({}){}",
                tool.name(),
                a.labels.join(", "),
                a.key,
                if known > 0 {
                    format!("; {known} were already in the ledger")
                } else {
                    String::new()
                }
            );
            if a.deletes && *n > 0 {
                eprintln!(
                    "mailpull: note: account {} deletes fetched mail from the server (keep is \
                     off): its next fetch deletes the imported messages still on the server \
                     without downloading them again; use --keep to leave them there",
                    a.labels.join(", ")
                );
            }
        }
        if dry_run {
            eprintln!(
                "mailpull: dry run: nothing was written to {}",
                ledger.display()
            );
        }
    }
    for a in &plan.unused_aliases {
        eprintln!(
            "mailpull: note: --as {a:?} matched no record in {}",
            files_text(files)
        );
    }
    for u in &plan.unmatched {
        // Owners and folder names come from another program's state file: shown terminal-safe.
        let line = format!(
            "mailpull: not imported: {} message id(s) of {} ({}, line {}): {}",
            u.records,
            u.owner,
            u.file.display(),
            u.line,
            u.reason
        );
        eprintln!("{}", crate::text::safe(&line));
    }
}

/// The JSON report on stdout (`--json`).
pub(super) fn json(
    tool: Tool,
    files: &[PathBuf],
    ledger: &Path,
    plan: &Plan,
    added: &[usize],
    dry_run: bool,
    exit: Exit,
) -> serde_json::Value {
    json!({
        "tool": tool.name(),
        "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "ledger": ledger.display().to_string(),
        "dry_run": dry_run,
        "accounts": plan.accounts.iter().zip(added).map(|(a, n)| json!({
            "names": a.labels,
            "protocol": a.key.protocol,
            "host": a.key.host,
            "user": a.key.user,
            "records": a.rows.len(),
            "imported": n,
            "already_known": a.rows.len() - n,
            "deletes_from_server": a.deletes,
        })).collect::<Vec<_>>(),
        "unmatched": plan.unmatched.iter().map(|u| json!({
            "file": u.file.display().to_string(),
            "line": u.line,
            "owner": u.owner,
            "records": u.records,
            "reason": u.reason,
        })).collect::<Vec<_>>(),
        "exit": exit.code(),
    })
}
