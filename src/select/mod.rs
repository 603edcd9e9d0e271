//! Choosing which new messages to download, from their headers alone: the `filter` command
//! ([`filter::FilterCommand`]) and the `--pick` prompt ([`pick::Picker`]), both
//! [`Select`]ors for the engine; and [`HeaderSummary`], the one-line view of a header block
//! that `--pick` and `mailpull list` show.
//!
//! Header values are decoded for display only (RFC 2047 encoded words, RFC 5322 dates, via
//! mail-parser) and stripped of control characters so that a hostile subject cannot drive the
//! terminal. Nothing here changes a message: delivery is byte for byte.

pub mod filter;
pub mod pick;

use mail_parser::MessageParser;

use crate::engine::{Candidate, Choice, Select};

/// What `list` and `--pick` show of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderSummary {
    /// `Name <address>`, or the address alone.
    pub from: String,
    pub subject: String,
    /// `YYYY-MM-DD HH:MM` in the sender's time zone.
    pub date: String,
    /// RFC 3339, for JSON.
    pub date_rfc3339: Option<String>,
}

impl HeaderSummary {
    /// Reads From, Subject and Date from a header block (missing fields stay empty).
    pub fn parse(header: &[u8]) -> HeaderSummary {
        let Some(msg) = MessageParser::default().parse_headers(header) else {
            return HeaderSummary::default();
        };
        let from = msg
            .from()
            .and_then(|a| a.first())
            .map(|a| match (a.name(), a.address()) {
                (Some(n), Some(addr)) if !n.trim().is_empty() => format!("{n} <{addr}>"),
                (_, Some(addr)) => addr.to_string(),
                (Some(n), None) => n.to_string(),
                (None, None) => String::new(),
            })
            .unwrap_or_default();
        let date = msg.date();
        HeaderSummary {
            from: clean(&from),
            subject: clean(msg.subject().unwrap_or_default()),
            date: date
                .map(|d| {
                    format!(
                        "{:04}-{:02}-{:02} {:02}:{:02}",
                        d.year, d.month, d.day, d.hour, d.minute
                    )
                })
                .unwrap_or_default(),
            date_rfc3339: date.map(|d| d.to_rfc3339()),
        }
    }
}

/// `s` on one line with control characters (escape sequences, line breaks) replaced by
/// spaces and runs of white space collapsed.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c.is_whitespace() {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out.trim_end().to_string()
}

/// `s` cut to `width` characters, with `…` when something was cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Several selectors in turn: each sees only the messages the ones before it chose to fetch
/// (the filter runs first, then `--pick` shows what the filter let through).
pub struct Chain(pub Vec<Box<dyn Select>>);

impl Select for Chain {
    fn select(&mut self, mailbox: &str, candidates: &[Candidate<'_>]) -> Vec<Choice> {
        let mut choices = vec![Choice::Fetch; candidates.len()];
        for select in &mut self.0 {
            let open: Vec<usize> = (0..candidates.len())
                .filter(|&i| choices[i] == Choice::Fetch)
                .collect();
            if open.is_empty() {
                break;
            }
            let offer: Vec<Candidate<'_>> = open
                .iter()
                .map(|&i| Candidate {
                    message: candidates[i].message,
                    header: candidates[i].header,
                })
                .collect();
            let undecided = std::iter::repeat(Choice::Fail("no decision".into()));
            for (&i, c) in open
                .iter()
                .zip(select.select(mailbox, &offer).into_iter().chain(undecided))
            {
                choices[i] = c;
            }
        }
        choices
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::RemoteMessage;

    #[test]
    fn summary_decodes_and_cleans() {
        let h = b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\n\
                  Subject: =?UTF-8?B?R3LDvMOfZQ==?= and\n more\x1b[31m red\n\
                  Date: Tue, 17 Nov 2026 14:03:59 +0100\n\n";
        let s = HeaderSummary::parse(h);
        assert_eq!(s.from, "Jürgen <j@example.org>");
        assert_eq!(s.subject, "Grüße and more [31m red");
        assert_eq!(s.date, "2026-11-17 14:03");
        assert_eq!(s.date_rfc3339.as_deref(), Some("2026-11-17T14:03:59+01:00"));
    }

    #[test]
    fn summary_of_nothing_is_empty() {
        assert_eq!(HeaderSummary::parse(b""), HeaderSummary::default());
        let s = HeaderSummary::parse(b"X-Other: 1\n\n");
        assert_eq!((s.from.as_str(), s.subject.as_str()), ("", ""));
    }

    #[test]
    fn fit_cuts_with_ellipsis() {
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("äöüß", 2), "ä…");
    }

    struct Fixed(Vec<Choice>, Vec<usize>);
    impl Select for Fixed {
        fn select(&mut self, _: &str, c: &[Candidate<'_>]) -> Vec<Choice> {
            self.1.push(c.len());
            self.0.drain(..c.len().min(self.0.len())).collect()
        }
    }

    #[test]
    fn chain_offers_only_what_the_previous_one_kept() {
        let msgs: Vec<RemoteMessage> = (1..=4)
            .map(|n| RemoteMessage {
                number: n,
                uid: n.to_string(),
                size: 10,
                flagged_deleted: false,
            })
            .collect();
        let cands: Vec<Candidate<'_>> = msgs
            .iter()
            .map(|m| Candidate {
                message: m,
                header: None,
            })
            .collect();
        let mut chain = Chain(vec![
            Box::new(Fixed(
                vec![Choice::Fetch, Choice::Leave, Choice::Fetch, Choice::Delete],
                vec![],
            )),
            // Answers for one fewer than offered: the last one is undecided.
            Box::new(Fixed(vec![Choice::Leave], vec![])),
        ]);
        let got = chain.select("", &cands);
        assert_eq!(
            got,
            vec![
                Choice::Leave,
                Choice::Leave,
                Choice::Fail("no decision".into()),
                Choice::Delete
            ]
        );
    }
}
