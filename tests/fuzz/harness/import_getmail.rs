//! Fuzz harness: getmail's oldmail file parser (`import::getmail::parse`) on any input: the
//! first line is the file's name (which names the account), the rest its contents.
//! Oracles: see `import_common.rs`; a file whose name does not start with `oldmail-` is
//! refused as a whole (line 0), and an IMAP file holds only IMAP ids.

#[path = "import_common.rs"]
mod common;

use mailpull::import::{ImportError, Owner};

pub fn run(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (name, text) = input.split_once('\n').unwrap_or((input, ""));
    let path = std::path::Path::new("/getmail").join(name);
    let result = mailpull::import::getmail::parse(&path, text);
    let named = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("oldmail-"));
    match &result {
        Err(ImportError::Garbled { line: 0, .. }) => assert!(!named, "refused a good name"),
        Err(_) => {}
        Ok(lists) => {
            assert!(
                named || lists.is_empty(),
                "accepted a file without oldmail- name"
            );
            for l in lists {
                if let Owner::Getmail { imap, .. } = l.owner {
                    assert!(l.ids.iter().all(|id| (id.uidvalidity > 0) == imap));
                }
            }
        }
    }
    common::check(text, result);
}
