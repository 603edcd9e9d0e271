//! Fuzz harness: the configuration loader (`config::parse_file`, then `config::accounts`) on
//! any text, as if it were `~/.config/mailpull/config.toml`.
//!
//! Oracles: no panic, however wrong the file; an error of the loader names the file and a
//! line (`error in PATH, line N: …`); resolving the accounts of a file that loaded either gives
//! accounts that make sense (a host, a user, a non-zero port, a timeout within the documented
//! range) or an error — never a panic.

use std::path::Path;

use mailpull::config::{accounts, parse_file, Overrides, MAX_DURATION};

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A path that does not exist: the permission check of a file holding a password finds no
    // file and passes, as for a private file.
    let path = Path::new("/nonexistent/mailpull-fuzz/config.toml");
    match parse_file(path, text.to_string()) {
        Ok(file) => match accounts(&file, &[], &Overrides::default(), None) {
            Ok(list) => {
                for a in list {
                    assert!(!a.host.is_empty() && !a.user.is_empty());
                    assert_ne!(a.port, 0);
                    assert!(!a.timeout.is_zero() && a.timeout <= MAX_DURATION);
                    if let Some(p) = a.poll_interval {
                        assert!(p <= MAX_DURATION);
                    }
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        },
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains(&path.display().to_string()), "no file: {m}");
            assert!(m.contains(", line "), "no line: {m}");
        }
    }
}
