//! Oracles shared by the importers' harnesses (`import_fetchmail`, `import_mpop`,
//! `import_getmail`), included by each with `#[path]`.

use mailpull::import::{valid_uidl, ImportError, Owner, StateList};

/// Checks a parser's answer on `text`: lists that make sense (a line within the file, ids a
/// POP3 client or an IMAP server could have given, an owner with a name), or an error that
/// names a line within the file (0: the file as a whole, only for getmail's file name).
pub fn check(text: &str, result: Result<Vec<StateList>, ImportError>) {
    let lines = text.lines().count();
    match result {
        Ok(lists) => {
            for l in lists {
                assert!(l.line >= 1 && l.line <= lines, "line {} of {lines}", l.line);
                assert!(!l.ids.is_empty(), "an empty list");
                match &l.owner {
                    Owner::Pop3 { user, host } => assert!(!user.is_empty() && !host.is_empty()),
                    Owner::Getmail { .. } => {}
                }
                for id in &l.ids {
                    if id.uidvalidity == 0 {
                        assert!(valid_uidl(&id.uid), "kept an invalid UIDL {:?}", id.uid);
                    } else {
                        let uid: u32 = id.uid.parse().expect("an IMAP UID is a number");
                        assert!(uid > 0);
                    }
                }
            }
        }
        Err(ImportError::Garbled { line, detail, .. }) => {
            assert!(line <= lines + 1, "line {line} of {lines}");
            assert!(!detail.is_empty());
        }
        Err(e) => panic!("a parser cannot fail to read: {e}"),
    }
}
