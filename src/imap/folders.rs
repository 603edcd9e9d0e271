//! Resolving the configured folders (names and LIST patterns) into the server's mailboxes, in
//! the server's hierarchy separator: a name or pattern is listed as written; one that matches
//! nothing and holds a `/` the server does not use as its separator is listed again with the
//! separator in its place (`Lists/*` finds `Lists.rust` on a server whose separator is `.`);
//! one that still matches nothing is reported with the separator and the folders that exist
//! (at most [`SHOWN`], made terminal-safe), and skipped.
//!
//! Floor 2 (imap): uses the session, [`super::pattern`] and [`crate::text`].

use std::io::{Read, Write};

use super::pattern;
use super::session::{MailboxName, Session};
use crate::source::SourceError;
use crate::text::safe;

/// The most folder names a warning shows.
pub const SHOWN: usize = 20;

/// Whether `m` answers `pattern` (a name is a pattern without wildcards).
fn answers(pattern: &str, m: &MailboxName) -> bool {
    let delimiter = m.delimiter.and_then(|d| u8::try_from(d).ok());
    pattern::list_answers(pattern.as_bytes(), m.name.as_bytes(), delimiter)
}

/// The mailboxes to fetch for `folders`, in the order found (see the module documentation).
pub fn resolve<S: Read + Write>(
    session: &mut Session<S>,
    folders: &[String],
) -> Result<Vec<String>, SourceError> {
    let mut found = session.list(folders)?;
    let mut missing: Vec<&String> = folders
        .iter()
        .filter(|p| !found.iter().any(|m| answers(p, m)))
        .collect();
    if missing.is_empty() {
        return Ok(found.into_iter().map(|m| m.name).collect());
    }
    let separator = match found.iter().find_map(|m| m.delimiter) {
        Some(d) => Some(d),
        None => session
            .list(&["INBOX".to_string()])?
            .first()
            .and_then(|m| m.delimiter),
    };
    if let Some(sep) = separator {
        let retry: Vec<(&String, String)> = missing
            .iter()
            .filter_map(|p| pattern::with_separator(p, sep).map(|t| (*p, t)))
            .collect();
        if !retry.is_empty() {
            let patterns: Vec<String> = retry.iter().map(|(_, t)| t.clone()).collect();
            let more = session.list(&patterns)?;
            for (original, translated) in &retry {
                if more.iter().any(|m| answers(translated, m)) {
                    log::debug!(
                        "folder {original:?} read as {translated:?}: the server's hierarchy \
                         separator is {sep:?}"
                    );
                    missing.retain(|p| p != original);
                }
            }
            for m in more {
                if !found.iter().any(|f| f.name == m.name) {
                    found.push(m);
                }
            }
        }
    }
    if !missing.is_empty() {
        warn_missing(session, &missing, separator)?;
    }
    Ok(found.into_iter().map(|m| m.name).collect())
}

/// Warns about names and patterns that match nothing, with the folders there are.
fn warn_missing<S: Read + Write>(
    session: &mut Session<S>,
    missing: &[&String],
    separator: Option<char>,
) -> Result<(), SourceError> {
    let all = session.list(&["*".to_string()])?;
    let mut names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    let more = names.len().saturating_sub(SHOWN);
    let mut shown = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        shown.push_str(&format!(" and {more} more"));
    }
    let sep = match separator {
        Some(c) => format!("the hierarchy separator is \"{c}\""),
        None => "there is no hierarchy".to_string(),
    };
    for p in missing {
        log::warn!(
            "{}",
            safe(&format!(
                "{p:?} matches no folder on the server ({sep}); skipping it. Folders there: \
                 {shown}"
            ))
        );
    }
    Ok(())
}
