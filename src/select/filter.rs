//! The `filter` command: decides from a new message's headers, before anything is downloaded,
//! whether to fetch it.
//!
//! For each new message the command runs through `sh -c` with the message's header block
//! (local line ends, ending with the blank line) on its standard input and these variables in
//! its environment: `MAILPULL_ACCOUNT` (the account's label), `MAILPULL_FOLDER` (the IMAP
//! folder; empty for POP3), `MAILPULL_UID` (POP3 UIDL or IMAP UID) and `MAILPULL_SIZE` (bytes,
//! as the server announced). Its exit status decides:
//!
//! | status | meaning |
//! |---|---|
//! | 0 | fetch it |
//! | 1 | delete it on the server without downloading it (delete mode only; in keep mode it is left) |
//! | 2 | skip it: leave it on the server, it stays new and is offered again next run |
//! | anything else, a signal, or running past `filter_timeout` | an error: the message is left alone and the run exits 74 |
//!
//! The command may stop reading its input early (a filter that decides from the first lines is
//! fine). Its standard output is discarded and the end of its standard error goes into the
//! error message.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use crate::command::{self, Finished};
use crate::engine::{Candidate, Choice, Select};

/// A `filter` command for one account.
pub struct FilterCommand {
    command: String,
    timeout: Duration,
    account: String,
}

impl FilterCommand {
    pub fn new(command: String, timeout: Duration, account: String) -> FilterCommand {
        FilterCommand {
            command,
            timeout,
            account,
        }
    }

    /// Runs the command for one message.
    fn decide(&self, mailbox: &str, c: &Candidate<'_>) -> Choice {
        let Some(header) = c.header else {
            return Choice::Fail(
                "the server did not send its headers, so the filter could not run".into(),
            );
        };
        let uid = OsString::from(&c.message.uid);
        let size = OsString::from(c.message.size.to_string());
        let env: [(&str, &OsStr); 4] = [
            ("MAILPULL_ACCOUNT", OsStr::new(&self.account)),
            ("MAILPULL_FOLDER", OsStr::new(mailbox)),
            ("MAILPULL_UID", &uid),
            ("MAILPULL_SIZE", &size),
        ];
        let input = Box::new(std::io::Cursor::new(header.to_vec()));
        let finished = command::run(OsString::from(&self.command), input, &env, self.timeout);
        let Finished { status, stderr, .. } = match finished {
            Ok(f) => f,
            Err(e) => return Choice::Fail(format!("filter `{}`: {e}", self.command)),
        };
        let what = match status {
            Some(s) => match s.code() {
                Some(0) => return Choice::Fetch,
                Some(1) => return Choice::Delete,
                Some(2) => return Choice::Leave,
                _ => command::describe_status(s),
            },
            None => format!("timed out after {}", command::seconds(self.timeout)),
        };
        let stderr = if stderr.is_empty() {
            String::new()
        } else {
            format!("; stderr: {stderr}")
        };
        Choice::Fail(format!(
            "filter `{}` {what} (0 = fetch, 1 = delete, 2 = leave){stderr}",
            self.command
        ))
    }
}

impl Select for FilterCommand {
    fn select(&mut self, mailbox: &str, candidates: &[Candidate<'_>]) -> Vec<Choice> {
        candidates.iter().map(|c| self.decide(mailbox, c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::RemoteMessage;

    fn choose(cmd: &str, header: Option<&[u8]>) -> Choice {
        let m = RemoteMessage {
            number: 3,
            uid: "UID-3".into(),
            size: 1234,
            flagged_deleted: false,
        };
        let mut f = FilterCommand::new(cmd.into(), Duration::from_secs(10), "work".into());
        let c = Candidate {
            message: &m,
            header,
        };
        let mut got = f.select("Lists/rust", &[c]);
        assert_eq!(got.len(), 1);
        got.remove(0)
    }

    const H: &[u8] = b"From: a@example.org\nSubject: hello\n\n";

    #[test]
    fn exit_codes_map_to_choices() {
        assert_eq!(choose("exit 0", Some(H)), Choice::Fetch);
        assert_eq!(choose("exit 1", Some(H)), Choice::Delete);
        assert_eq!(choose("exit 2", Some(H)), Choice::Leave);
        match choose("echo oops >&2; exit 3", Some(H)) {
            Choice::Fail(e) => {
                assert!(e.contains("exited with status 3"), "{e}");
                assert!(e.contains("oops"), "{e}");
            }
            c => panic!("{c:?}"),
        }
        match choose("kill -TERM $$", Some(H)) {
            Choice::Fail(e) => assert!(e.contains("signal 15"), "{e}"),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn headers_and_environment_reach_the_command() {
        let cmd = r#"grep -q '^Subject: hello$' &&
            [ "$MAILPULL_ACCOUNT" = work ] && [ "$MAILPULL_FOLDER" = Lists/rust ] &&
            [ "$MAILPULL_UID" = UID-3 ] && [ "$MAILPULL_SIZE" = 1234 ] && exit 0; exit 2"#;
        assert_eq!(choose(cmd, Some(H)), Choice::Fetch);
        assert_eq!(choose(cmd, Some(b"Subject: other\n\n")), Choice::Leave);
    }

    #[test]
    fn no_header_is_a_failure_without_running() {
        assert!(matches!(choose("exit 0", None), Choice::Fail(_)));
    }

    #[test]
    fn timeout_is_a_failure() {
        let m = RemoteMessage {
            number: 1,
            uid: "1".into(),
            size: 1,
            flagged_deleted: false,
        };
        let mut f = FilterCommand::new("sleep 30".into(), Duration::from_millis(200), "a".into());
        let got = f.select(
            "",
            &[Candidate {
                message: &m,
                header: Some(H),
            }],
        );
        match &got[0] {
            Choice::Fail(e) => assert!(e.contains("timed out"), "{e}"),
            c => panic!("{c:?}"),
        }
    }
}
