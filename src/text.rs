//! Text from outside made safe to show: anything that came from a server, a message, a state
//! file or another program is never trusted to be harmless on a terminal or in a log.
//!
//! Rather than cleaning such text at each of the many places it is quoted, [`safe`] is applied
//! at the edges where text leaves for a human: the log formatter, error reports, `list`'s
//! table, `watch`'s lines, the receipts prompt and listing, `--pick`. JSON output needs none of
//! it: JSON escapes control characters itself. This module imports nothing of mailpull's, so
//! every layer may use it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: a control character (C0 but line feed and
/// tab, DEL, C1), or a character that reorders or breaks text invisibly (bidi embeddings,
/// overrides, isolates and marks; line and paragraph separators).
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Whether a line break at `i` would start a line at the left margin: our own continuation
/// lines are indented (`\n  (hint)`, `\n  caused by: …`), so a line that is not can only be
/// someone else's text trying to pass for a line of its own.
fn unindented_break(text: &str, i: usize) -> bool {
    text.as_bytes()[i] == b'\n'
        && text
            .as_bytes()
            .get(i + 1)
            .is_some_and(|b| !matches!(b, b' ' | b'\t' | b'\n'))
}

/// `text` made safe to show on a terminal or in a log: every character that could drive the
/// terminal (an escape sequence that retitles or clears it, a backspace or carriage return
/// that hides what came before) or reorder what is shown (bidi overrides) is replaced by a
/// visible escape — `\x1b`, `\x07`, `\u{202e}` — so that it is shown, not obeyed. Line feeds
/// (our own multi-line messages) and tabs are kept, but a line that would start at the left
/// margin is indented by two spaces, so that no quoted text can pass for a line of mailpull's
/// own (`mailpull: error: …`). Borrowed when there is nothing to change.
pub fn safe(text: &str) -> Cow<'_, str> {
    let clean = !text.chars().any(unsafe_char)
        && !text
            .bytes()
            .enumerate()
            .any(|(i, _)| unindented_break(text, i));
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, c) in text.char_indices() {
        if c == '\n' {
            out.push('\n');
            if unindented_break(text, i) {
                out.push_str("  ");
            }
        } else if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// `s` with the password of its user part (`scheme://user:PASSWORD@host…`) replaced by
/// `****`, for error messages (server URLs, the receipts' SMTP URL). Works on text that does
/// not parse as a URL too.
pub fn redact_url_password(s: &str) -> String {
    let Some(start) = s.find("://").map(|i| i + 3) else {
        return s.to_string();
    };
    let rest = &s[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return s.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:****{}", &s[..start], &rest[..colon], &rest[at..]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_text_shows_controls_instead_of_obeying_them() {
        assert!(matches!(
            safe("plain text, ünïcödé\n  (hint)\t."),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            safe("a\x1b]0;title\x07b\x1b[2Jc\x08\x08d\re\x7ff"),
            "a\\x1b]0;title\\x07b\\x1b[2Jc\\x08\\x08d\\x0de\\x7ff"
        );
        // C1 controls (CSI) and bidi overrides, isolates and separators.
        assert_eq!(safe("x\u{9b}2J"), "x\\x9b2J");
        assert_eq!(
            safe("\u{202e}evil\u{2066}\u{2069}\u{200f}\u{2028}"),
            "\\u{202e}evil\\u{2066}\\u{2069}\\u{200f}\\u{2028}"
        );
        assert_eq!(safe("nul\0"), "nul\\x00");
        // No line of someone else's can pass for one of ours; ours stay as they are.
        assert_eq!(
            safe("refused: x\nmailpull: error: fake\n  (hint)\n\n"),
            "refused: x\n  mailpull: error: fake\n  (hint)\n\n"
        );
        assert!(matches!(safe("a\n  b\n\tc\n"), Cow::Borrowed(_)));
        for s in ["\x1b", "\x07", "\x08", "\r", "\x7f", "\u{9b}", "\u{202e}"] {
            assert!(!safe(&format!("x{s}y")).contains(s), "{s:?}");
        }
    }
}
