//! `fetch --pick`: the user chooses on the terminal which new messages to download.
//!
//! A multi-select list (dialoguer, on stderr) shows each new message as date, sender, subject
//! and size; space toggles, `a` toggles all, enter downloads the selected ones, escape or `q`
//! downloads none. Messages not selected stay on the server and stay new: they are offered
//! again next time. Nothing is selected at first, so that an accidental enter fetches nothing.

use dialoguer::console::Term;
use dialoguer::MultiSelect;

use super::{fit, HeaderSummary};
use crate::engine::{Candidate, Choice, Select};

/// Asks on the terminal.
pub struct Picker {
    account: String,
}

impl Picker {
    pub fn new(account: String) -> Picker {
        Picker { account }
    }
}

/// One line of the list: `2026-11-17 14:03  Sender Name           Subject…   12.3 KiB`.
pub fn item_line(c: &Candidate<'_>, width: usize) -> String {
    let s = c.header.map(HeaderSummary::parse).unwrap_or_default();
    let size = bytesize::ByteSize(c.message.size).to_string();
    // Room for the checkbox and spaces that dialoguer adds.
    let room = width
        .saturating_sub(4 + 16 + 2 + 24 + 2 + 2 + size.len())
        .max(10);
    format!(
        "{:<16}  {:<24}  {:<room$}  {size}",
        fit(&s.date, 16),
        fit(&s.from, 24),
        fit(&s.subject, room),
    )
}

impl Select for Picker {
    fn select(&mut self, mailbox: &str, candidates: &[Candidate<'_>]) -> Vec<Choice> {
        let term = Term::stderr();
        let width = term.size().1 as usize;
        // Header fields and the folder name come from the server: shown terminal-safe.
        let items: Vec<String> = candidates
            .iter()
            .map(|c| crate::text::safe(&item_line(c, width)).into_owned())
            .collect();
        let place = if mailbox.is_empty() {
            self.account.clone()
        } else {
            format!("{} {mailbox}", self.account)
        };
        let prompt = format!(
            "{}: {} new message(s). Space selects, enter fetches the selected, esc fetches none",
            crate::text::safe(&place.replace('\n', " ")),
            candidates.len()
        );
        let answer = MultiSelect::new()
            .with_prompt(prompt)
            .items(&items)
            .max_length((term.size().0 as usize).saturating_sub(4).max(5))
            .interact_on_opt(&term);
        match answer {
            Ok(Some(chosen)) => {
                let mut out = vec![Choice::Leave; candidates.len()];
                for i in chosen {
                    if let Some(c) = out.get_mut(i) {
                        *c = Choice::Fetch;
                    }
                }
                out
            }
            Ok(None) => vec![Choice::Leave; candidates.len()],
            Err(e) => {
                vec![Choice::Fail(format!("the --pick prompt failed: {e}")); candidates.len()]
            }
        }
    }
}
