//! Fault injection against the real `mailpull` binary with the scripted POP3 server: cuts at
//! every step (FIN and RST), silent servers, garbage and error replies. After every fault the
//! Maildir must hold only complete messages, each at most once, and a clean re-run must
//! deliver everything exactly once without downloading again what was delivered before.
//!
//! Run with `--nocapture` to see the exit codes observed where the contract allows a choice
//! (lines starting with `OBSERVED`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::fault::{delivered_messages, in_maildir, observed};
use common::matrix::{self, Invocation, Mode, Suite, LIMIT};
use common::run::{self, Sandbox};
use common::scripted::{
    self, Close, Config, Fault, Message, Pop3, Scripted, Step, CAPA_FULL, CAPA_MINIMAL,
};
use common::server::Client;

// ---------------------------------------------------------------------------------------------
// Messages

/// A small message with a unique Message-ID.
fn small(uidl: &str, subject: &str, body: &str) -> Message {
    let raw = format!(
        "From: Bob <bob@example.org>\r\nTo: Alice <alice@example.org>\r\nSubject: {subject}\r\n\
         Message-ID: <{uidl}@scripted.test>\r\n\r\n{body}"
    );
    Message::new(uidl, raw)
}

/// About `size` bytes of text with some lines that need dot-stuffing.
fn big(uidl: &str, size: usize) -> Message {
    let mut raw = format!(
        "From: Bob <bob@example.org>\r\nSubject: big\r\nMessage-ID: <{uidl}@scripted.test>\r\n\r\n"
    );
    let mut i = 0;
    while raw.len() < size {
        if i % 97 == 0 {
            raw.push_str(".a line starting with a dot\r\n");
        } else if i % 131 == 0 {
            raw.push_str(".\r\n");
        } else {
            raw.push_str(&format!(
                "line {i:06} the quick brown fox jumps over the lazy dog 0123456789\r\n"
            ));
        }
        i += 1;
    }
    Message::new(uidl, raw)
}

/// Five messages; the second is 100 KB (for cuts in the middle of a message).
fn standard_messages() -> Vec<Message> {
    vec![
        small("m1-uid", "one", "First message.\r\n"),
        big("m2-uid", 100_000),
        small(
            "m3-uid",
            "three",
            "Dots:\r\n.\r\n..\r\n.leading\r\n...three\r\nend\r\n",
        ),
        small("m4-uid", "four", "Fourth message.\r\n"),
        small("m5-uid", "five", "Last message.\r\n"),
    ]
}

/// Messages that exercise the wire format: dot-stuffing, a lone `.` line (also as the very
/// last line), a long line, 8-bit bytes, a missing final line end, an empty body.
fn tricky_messages() -> Vec<Message> {
    let long_line = "x".repeat(20_000);
    let mut eight_bit = b"Subject: 8bit\r\nMessage-ID: <t5@scripted.test>\r\n\r\n".to_vec();
    eight_bit.extend_from_slice(b"caf\xc3\xa9 na\xefve \xff\xfe\x80\r\n.\xe9\r\n");
    vec![
        small("t1", "lone dot", "before\r\n.\r\nafter\r\n"),
        small("t2", "dot at end", "text\r\n.\r\n"),
        small("t3", "stuffed", "..\r\n...\r\n.x\r\n. \r\n.\r\n.\r\n"),
        small(
            "t4",
            "long line",
            &format!("{long_line}\r\n.{long_line}\r\n"),
        ),
        Message::new("t5", eight_bit),
        small("t6", "no final newline", "no newline at the end"),
        small("t7", "empty body", ""),
        small("t8", "body is a dot", "."),
        small("t9", "crlf dot crlf", "a\r\n\r\n.\r\n\r\nb\r\n"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixture

/// A scripted server, a sandbox and the messages the server started with.
struct Fx {
    server: Scripted,
    sandbox: Sandbox,
    messages: Vec<Message>,
    mode: Mode,
}

/// One finished mailpull run.
type Run = matrix::Run<String>;

impl Fx {
    fn new(messages: Vec<Message>, capa: &[&str], mode: Mode) -> Fx {
        Fx::with_config(messages, Config::with_capa(capa), mode)
    }

    /// With other server settings (the DELE check is added).
    fn with_config(messages: Vec<Message>, config: Config, mode: Mode) -> Fx {
        let sandbox = Sandbox::new();
        let server = Scripted::with_config(config, messages.clone());
        server.set_delete_check(delivered_check(sandbox.maildir(), &messages));
        Fx {
            server,
            sandbox,
            messages,
            mode,
        }
    }

    fn all_uidls(&self) -> BTreeSet<String> {
        self.messages.iter().map(|m| m.uidl.clone()).collect()
    }

    /// Checks the Maildir and the server against each other; returns the delivered unique ids.
    /// Every file must be exactly one of the messages, none twice, tmp/ empty, and every
    /// message gone from the server must have been delivered.
    fn check(&self, context: &str) -> BTreeSet<String> {
        let expected: BTreeMap<Vec<u8>, String> = self
            .messages
            .iter()
            .map(|m| (run::expected_delivery(&m.raw), m.uidl.clone()))
            .collect();
        let delivered =
            delivered_messages(&self.sandbox.maildir(), &expected, context, |u| u.clone());
        let on_server: BTreeSet<String> = self.server.uidls().into_iter().collect();
        for gone in self.all_uidls().difference(&on_server) {
            assert!(
                delivered.contains(gone),
                "{context}: {gone} was deleted from the server but never delivered"
            );
        }
        if self.mode == Mode::Keep {
            assert_eq!(
                on_server,
                self.all_uidls(),
                "{context}: keep mode removed messages"
            );
        }
        delivered
    }
}

impl Suite for Fx {
    type P = Pop3;

    fn server(&self) -> &Scripted {
        &self.server
    }

    fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn mode_args(&self) -> Vec<String> {
        match self.mode {
            Mode::Keep => vec!["--keep".into()],
            Mode::Delete => Vec::new(),
        }
    }

    fn keep_forbids(&self) -> &'static [&'static str] {
        &["DELE"]
    }

    fn all(&self) -> BTreeSet<String> {
        self.all_uidls()
    }

    fn initial_keys(&self) -> BTreeSet<String> {
        self.all_uidls()
    }

    fn expected_len(&self, k: &String) -> usize {
        let m = self.messages.iter().find(|m| m.uidl == *k);
        m.unwrap_or_else(|| panic!("no message {k}")).raw.len()
    }

    fn check(&self, context: &str) -> BTreeSet<String> {
        Fx::check(self, context)
    }

    /// Delivered but still on the server (no committed QUIT).
    fn left_to_remove(&self, delivered: &BTreeSet<String>) -> BTreeSet<String> {
        let on_server: BTreeSet<String> = self.server.uidls().into_iter().collect();
        delivered.intersection(&on_server).cloned().collect()
    }

    fn removed_in(&self, run: &Run, k: &String) -> bool {
        run.stats.deleted_of(k) == 1
    }

    fn specific_checks(&self, fault: &Fault, r1: &Run, d1: &BTreeSet<String>) {
        let all = self.all_uidls();
        let left1: BTreeSet<String> = self.server.uidls().into_iter().collect();
        let ctx = format!("{fault:?} ({:?})", self.mode);
        match fault {
            Fault::CutAfterQuitReply(_) => {
                assert_eq!(d1, &all, "{ctx}: everything delivered");
                if self.mode == Mode::Delete {
                    assert!(left1.is_empty(), "{ctx}: QUIT was committed");
                }
            }
            Fault::CutBeforeQuitReply(_) => {
                assert_eq!(d1, &all, "{ctx}: everything delivered before QUIT");
                assert_eq!(left1, all, "{ctx}: QUIT was not committed");
                if self.mode == Mode::Delete {
                    let deleted: BTreeSet<String> = r1.stats.deleted.keys().cloned().collect();
                    assert_eq!(deleted, all, "{ctx}: every message DELEted before QUIT");
                }
            }
            Fault::CutAfterDele { k, .. } => {
                assert_eq!(left1, all, "{ctx}: no QUIT, nothing committed");
                assert!(
                    r1.stats.deleted.len() >= *k,
                    "{ctx}: the fault did not strike\n{}",
                    r1.describe()
                );
            }
            _ => {}
        }
    }
}

/// A DELE check: the message must already be in the Maildir (new/ or cur/).
fn delivered_check(maildir: PathBuf, messages: &[Message]) -> scripted::DeleCheck {
    let expected: BTreeMap<String, Vec<u8>> = messages
        .iter()
        .map(|m| (m.uidl.clone(), run::expected_delivery(&m.raw)))
        .collect();
    Arc::new(move |uidl: &String| {
        let want = &expected[uidl];
        if in_maildir(&maildir, want) {
            Ok(())
        } else {
            Err("DELE sent before the message was in the Maildir".to_string())
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The scenario: a fault, then clean re-runs (see [`matrix::fault_then_rerun`])

fn fault_then_rerun(capa: &[&str], mode: Mode, fault: Fault, codes: &[i32]) {
    fault_then_rerun_with(standard_messages(), capa, mode, fault, codes);
}

/// [`fault_then_rerun`] with other messages.
fn fault_then_rerun_with(
    messages: Vec<Message>,
    capa: &[&str],
    mode: Mode,
    fault: Fault,
    codes: &[i32],
) {
    let fx = Fx::new(messages, capa, mode);
    matrix::fault_then_rerun(&fx, fault, codes, &format!("{mode:?}, CAPA {capa:?}"));
}

/// Tests for a fault parameterised by the way the connection is closed: FIN and RST, with and
/// without pipelining (CAPA_FULL uses AUTH PLAIN and pipelining, CAPA_MINIMAL USER/PASS one
/// command at a time).
macro_rules! cut_tests {
    ($mode:expr; $($name:ident => $fault:expr, $codes:expr;)*) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn fin() {
                    fault_then_rerun(CAPA_FULL, $mode, ($fault)(Close::Fin), &$codes);
                }

                #[test]
                fn rst() {
                    fault_then_rerun(CAPA_FULL, $mode, ($fault)(Close::Rst), &$codes);
                }

                #[test]
                fn fin_no_pipelining() {
                    fault_then_rerun(CAPA_MINIMAL, $mode, ($fault)(Close::Fin), &$codes);
                }

                #[test]
                fn rst_no_pipelining() {
                    fault_then_rerun(CAPA_MINIMAL, $mode, ($fault)(Close::Rst), &$codes);
                }
            }
        )*
    };
}

/// Tests for a fault without a close flavour, with and without pipelining.
macro_rules! fault_tests {
    ($mode:expr; $($name:ident => $fault:expr, $codes:expr;)*) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn pipelining() {
                    fault_then_rerun(CAPA_FULL, $mode, $fault, &$codes);
                }

                #[test]
                fn no_pipelining() {
                    fault_then_rerun(CAPA_MINIMAL, $mode, $fault, &$codes);
                }
            }
        )*
    };
}

mod cut_delete_mode {
    use super::*;

    cut_tests! { Mode::Delete;
        after_greeting => Fault::CutAfterGreeting, [75];
        after_capa => |c| Fault::CutAfter(Step::Reply("CAPA", 1), c), [75];
        after_auth => Fault::CutAfterAuth, [75];
        after_uidl => |c| Fault::CutAfter(Step::Reply("UIDL", 1), c), [75];
        after_list => |c| Fault::CutAfter(Step::Reply("LIST", 1), c), [75];
        in_retr_1 => |c| Fault::CutInRetr { nth: 1, after_bytes: 10, close: c }, [75];
        in_retr_2_middle_of_100k => |c| Fault::CutInRetr { nth: 2, after_bytes: 50_000, close: c }, [75];
        in_retr_last => |c| Fault::CutInRetr { nth: 5, after_bytes: 10, close: c }, [75];
        in_retr_last_before_terminator => |c| Fault::CutInRetr { nth: 5, after_bytes: usize::MAX, close: c }, [75];
        after_retr_3 => |c| Fault::CutAfter(Step::Reply("RETR", 3), c), [75];
        after_dele_1 => |c| Fault::CutAfterDele { k: 1, close: c }, [75];
        after_dele_2 => |c| Fault::CutAfterDele { k: 2, close: c }, [75];
        after_dele_3 => |c| Fault::CutAfterDele { k: 3, close: c }, [75];
        on_dele_2_unanswered => |c| Fault::CutBefore(Step::Reply("DELE", 2), c), [75];
        before_quit_reply => Fault::CutBeforeQuitReply, [75];
        after_quit_reply => Fault::CutAfterQuitReply, [0];
    }
}

mod cut_keep_mode {
    use super::*;

    cut_tests! { Mode::Keep;
        after_greeting => Fault::CutAfterGreeting, [75];
        after_auth => Fault::CutAfterAuth, [75];
        after_uidl => |c| Fault::CutAfter(Step::Reply("UIDL", 1), c), [75];
        in_retr_1 => |c| Fault::CutInRetr { nth: 1, after_bytes: 10, close: c }, [75];
        in_retr_2_middle_of_100k => |c| Fault::CutInRetr { nth: 2, after_bytes: 50_000, close: c }, [75];
        in_retr_last => |c| Fault::CutInRetr { nth: 5, after_bytes: 10, close: c }, [75];
        in_retr_last_before_terminator => |c| Fault::CutInRetr { nth: 5, after_bytes: usize::MAX, close: c }, [75];
        after_retr_3 => |c| Fault::CutAfter(Step::Reply("RETR", 3), c), [75];
        before_quit_reply => Fault::CutBeforeQuitReply, [75];
        after_quit_reply => Fault::CutAfterQuitReply, [0];
    }
}

mod silent {
    use super::*;

    fault_tests! { Mode::Delete;
        before_greeting => Fault::SilentAfter(Step::Connect), [75];
        after_greeting => Fault::SilentAfter(Step::Greeting), [75];
        after_auth => Fault::SilentAfter(Step::Login), [75];
        after_uidl => Fault::SilentAfter(Step::Reply("UIDL", 1)), [75];
        in_retr_2 => Fault::StallInRetr { nth: 2, after_bytes: 50_000 }, [75];
        after_retr_1 => Fault::SilentAfter(Step::Reply("RETR", 1)), [75];
        after_dele_1 => Fault::SilentAfter(Step::Reply("DELE", 1)), [75];
        at_quit => Fault::SilentAfter(Step::Reply("DELE", 5)), [75];
    }

    mod keep {
        use super::super::*;

        fault_tests! { Mode::Keep;
            in_retr_2 => Fault::StallInRetr { nth: 2, after_bytes: 50_000 }, [75];
            at_quit => Fault::SilentAfter(Step::Reply("RETR", 5)), [75];
        }
    }
}

mod garbage {
    use super::*;

    fault_tests! { Mode::Delete;
        greeting => Fault::GarbageAt(Step::Greeting), [76];
        capa => Fault::GarbageAt(Step::Reply("CAPA", 1)), [76];
        auth => Fault::GarbageAt(Step::Login), [76];
        uidl => Fault::GarbageAt(Step::Reply("UIDL", 1)), [76];
        list => Fault::GarbageAt(Step::Reply("LIST", 1)), [76];
        retr_1 => Fault::GarbageAt(Step::Reply("RETR", 1)), [76];
        retr_3 => Fault::GarbageAt(Step::Reply("RETR", 3)), [76];
        dele_1 => Fault::GarbageAt(Step::Reply("DELE", 1)), [76];
        dele_4 => Fault::GarbageAt(Step::Reply("DELE", 4)), [76];
        quit => Fault::GarbageAt(Step::Reply("QUIT", 1)), [76];
    }

    #[test]
    fn user_reply() {
        fault_then_rerun(
            CAPA_MINIMAL,
            Mode::Delete,
            Fault::GarbageAt(Step::Reply("USER", 1)),
            &[76],
        );
    }
}

mod unterminated {
    use super::*;

    // A multi-line reply whose terminating "." never comes, then the server closes: the
    // connection was lost (75) or the reply was malformed (76); both are allowed.
    fault_tests! { Mode::Delete;
        uidl => Fault::UnterminatedMultiline("UIDL"), [75, 76];
        list => Fault::UnterminatedMultiline("LIST"), [75, 76];
        retr => Fault::UnterminatedMultiline("RETR"), [75, 76];
    }

    #[test]
    fn retr_keep_mode() {
        fault_then_rerun(
            CAPA_FULL,
            Mode::Keep,
            Fault::UnterminatedMultiline("RETR"),
            &[75, 76],
        );
    }
}

mod greeting_err {
    use super::*;

    fault_tests! { Mode::Delete;
        plain => Fault::GreetingErr("-ERR server busy".into()), [69, 76];
        sys_perm => Fault::GreetingErr("-ERR [SYS/PERM] shutting down".into()), [69];
        sys_temp => Fault::GreetingErr("-ERR [SYS/TEMP] try again later".into()), [75];
        in_use => Fault::GreetingErr("-ERR [IN-USE] maildrop locked".into()), [69];
    }
}

/// The heart of it, spelled out: QUIT goes unanswered after every message was delivered and
/// DELEted; the next run deletes them all without downloading any again.
#[test]
fn cut_before_quit_reply_rerun_deletes_without_retr() {
    for close in [Close::Fin, Close::Rst] {
        let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Delete);
        fx.server.fault_next(Fault::CutBeforeQuitReply(close));
        let r1 = fx.fetch();
        assert_eq!(r1.code, 75, "{}", r1.describe());
        assert_eq!(fx.check("cut before QUIT reply"), fx.all_uidls());
        assert_eq!(fx.server.uidls().len(), 5, "nothing was committed");
        let r2 = fx.fetch();
        assert_eq!(r2.code, 0, "{}", r2.describe());
        assert!(r2.stats.fetched.is_empty(), "{}", r2.describe());
        assert_eq!(
            r2.stats.deleted.keys().cloned().collect::<BTreeSet<_>>(),
            fx.all_uidls(),
            "{}",
            r2.describe()
        );
        assert!(fx.server.uidls().is_empty());
        assert_eq!(fx.check("re-run"), fx.all_uidls());
    }
}

// ---------------------------------------------------------------------------------------------
// Login failures

#[test]
fn login_replies() {
    let cases: &[(&str, i32)] = &[
        ("-ERR [LOGIN-DELAY] wait 5 minutes", 69),
        ("-ERR [IN-USE] mailbox locked", 69),
        ("-ERR [SYS/TEMP] try later", 75),
        ("-ERR [SYS/PERM] gone", 69),
        ("-ERR [AUTH] bad password", 77),
        ("-ERR invalid password", 77),
    ];
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        for (reply, want) in cases {
            let fx = Fx::new(standard_messages(), capa, Mode::Delete);
            fx.server.fault_next(Fault::LoginReply(reply.to_string()));
            let r = fx.fetch();
            let ctx = format!("login answered {reply:?} (CAPA {capa:?})");
            assert_eq!(r.code, *want, "{ctx}\n{}", r.describe());
            assert_eq!(r.stats.logins, 0, "{ctx}");
            assert_eq!(
                r.stats.failed_logins,
                1,
                "{ctx}: exactly one login attempt\n{}",
                r.describe()
            );
            assert!(
                r.stats.fetched.is_empty() && r.stats.deleted.is_empty(),
                "{ctx}"
            );
            if *want == 77 {
                assert!(
                    r.stderr.to_lowercase().contains("authentication"),
                    "{ctx}: stderr should say authentication failed\n{}",
                    r.describe()
                );
            }
            assert!(fx.check(&ctx).is_empty());
            // The condition is gone: the next run works.
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{ctx}, re-run\n{}", r2.describe());
            assert_eq!(fx.check(&ctx), fx.all_uidls());
            assert!(fx.server.uidls().is_empty());
        }
    }
}

#[test]
fn wrong_password_is_77() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let fx = Fx::new(standard_messages(), capa, Mode::Delete);
        let r = fx.fetch_with(Invocation {
            password: "hunter2-not-it",
            ..Invocation::default()
        });
        assert_eq!(r.code, 77, "CAPA {capa:?}\n{}", r.describe());
        assert!(r.stderr.to_lowercase().contains("authentication"));
        assert_eq!(r.stats.failed_logins, 1);
        assert_eq!(fx.server.uidls().len(), 5);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors for single messages, odd listings

#[test]
fn retr_err_for_one_message() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        for mode in [Mode::Delete, Mode::Keep] {
            let fx = Fx::new(standard_messages(), capa, mode);
            fx.server.fault_next(Fault::RetrErr {
                uidl: "m3-uid".into(),
            });
            let r1 = fx.fetch();
            let ctx = format!("RETR -ERR for m3 ({mode:?}, CAPA {capa:?})");
            assert_ne!(r1.code, 0, "{ctx}\n{}", r1.describe());
            observed(&ctx, r1.code);
            assert_eq!(r1.stats.logins, 1, "{ctx}");
            let d1 = fx.check(&ctx);
            let others: BTreeSet<String> = fx
                .all_uidls()
                .into_iter()
                .filter(|u| u != "m3-uid")
                .collect();
            assert_eq!(
                d1,
                others,
                "{ctx}: the other messages are delivered\n{}",
                r1.describe()
            );
            let left: Vec<String> = fx.server.uidls();
            match mode {
                Mode::Delete => assert_eq!(
                    left,
                    vec!["m3-uid".to_string()],
                    "{ctx}: only m3 stays\n{}",
                    r1.describe()
                ),
                Mode::Keep => assert_eq!(left.len(), 5),
            }
            // Next time the server sends it.
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{ctx}, re-run\n{}", r2.describe());
            assert_eq!(
                r2.stats.fetched.keys().cloned().collect::<Vec<_>>(),
                vec!["m3-uid".to_string()],
                "{ctx}, re-run retrieves only m3\n{}",
                r2.describe()
            );
            assert_eq!(fx.check(&ctx), fx.all_uidls());
        }
    }
}

/// The server refuses to delete one message: it stays on the server, delivered once; the next
/// run deletes it without downloading it again.
#[test]
fn dele_err_for_one_message() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let fx = Fx::new(standard_messages(), capa, Mode::Delete);
        fx.server.fault_next(Fault::DeleErr {
            uidl: "m2-uid".into(),
        });
        let r1 = fx.fetch();
        let ctx = format!("DELE -ERR for m2 (CAPA {capa:?})");
        observed(&ctx, r1.code);
        assert_eq!(fx.check(&ctx), fx.all_uidls(), "{}", r1.describe());
        assert_eq!(fx.server.uidls(), vec!["m2-uid".to_string()]);
        let r2 = fx.fetch();
        assert_eq!(r2.code, 0, "{ctx}, re-run\n{}", r2.describe());
        assert!(
            r2.stats.fetched.is_empty(),
            "{ctx}: re-downloaded\n{}",
            r2.describe()
        );
        assert_eq!(r2.stats.deleted_of("m2-uid"), 1, "{}", r2.describe());
        assert!(fx.server.uidls().is_empty());
        assert_eq!(fx.check(&ctx), fx.all_uidls());
    }
}

/// QUIT answered -ERR (the server could not remove the messages): nothing was deleted, the
/// run failed, and the next run deletes everything without downloading again.
#[test]
fn quit_err_commits_nothing() {
    for reply in [
        "-ERR [SYS/TEMP] could not expunge",
        "-ERR some messages not deleted",
    ] {
        let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Delete);
        fx.server.fault_next(Fault::QuitErr(reply.into()));
        let r1 = fx.fetch();
        let ctx = format!("QUIT answered {reply:?}");
        assert_ne!(r1.code, 0, "{ctx}\n{}", r1.describe());
        observed(&ctx, r1.code);
        assert_eq!(fx.check(&ctx), fx.all_uidls());
        assert_eq!(fx.server.uidls().len(), 5);
        let r2 = fx.fetch();
        assert_eq!(r2.code, 0, "{ctx}, re-run\n{}", r2.describe());
        assert!(
            r2.stats.fetched.is_empty(),
            "{ctx}: re-downloaded\n{}",
            r2.describe()
        );
        assert!(fx.server.uidls().is_empty());
    }
}

#[test]
fn duplicate_uidl_loses_nothing() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let fx = Fx::new(standard_messages(), capa, Mode::Delete);
        fx.server.fault_next(Fault::DuplicateUidl);
        let r1 = fx.fetch();
        let ctx = format!("UIDL lists m1's id twice (CAPA {capa:?})");
        observed(&ctx, r1.code);
        // Whatever mailpull decides, messages 1 and 2 cannot both be told apart: neither may
        // be deleted unless it was delivered (fx.check), and nothing may be delivered twice.
        let _ = fx.check(&ctx);
        let r2 = fx.fetch();
        assert_eq!(r2.code, 0, "{ctx}, re-run\n{}", r2.describe());
        assert_eq!(fx.check(&ctx), fx.all_uidls());
        assert!(fx.server.uidls().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// TLS policy

#[test]
fn plain_pop3_without_stls_is_refused() {
    let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Delete);
    let r = fx.fetch_with(Invocation {
        insecure: false,
        ..Invocation::default()
    });
    assert_eq!(r.code, 69, "{}", r.describe());
    assert!(
        r.stderr.to_uppercase().contains("STLS"),
        "stderr should mention STLS\n{}",
        r.describe()
    );
    for kw in ["USER", "PASS", "AUTH", "APOP"] {
        assert!(
            r.stats.commands_with(kw).is_empty(),
            "{kw} sent without TLS\n{}",
            r.describe()
        );
    }
    assert_eq!(fx.server.uidls().len(), 5);
    assert!(fx.check("no STLS").is_empty());
}

#[test]
fn stls_refused_by_server_sends_no_password() {
    let mut capa = CAPA_FULL.to_vec();
    capa.push("STLS");
    let fx = Fx::new(standard_messages(), &capa, Mode::Delete);
    let r = fx.fetch_with(Invocation {
        insecure: false,
        ..Invocation::default()
    });
    assert_eq!(r.code, 69, "{}", r.describe());
    assert_eq!(r.stats.commands_with("STLS").len(), 1, "{}", r.describe());
    for kw in ["USER", "PASS", "AUTH", "APOP"] {
        assert!(
            r.stats.commands_with(kw).is_empty(),
            "{kw} sent without TLS\n{}",
            r.describe()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bulk and content

fn many(n: usize) -> Vec<Message> {
    (1..=n)
        .map(|i| {
            small(
                &format!("bulk-{i:04}"),
                &format!("bulk {i}"),
                &format!("Message {i}.\r\n.{i}\r\n"),
            )
        })
        .collect()
}

#[test]
fn two_hundred_messages_with_and_without_pipelining() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let fx = Fx::new(many(200), capa, Mode::Delete);
        let r = fx.fetch();
        assert_eq!(r.code, 0, "CAPA {capa:?}\n{}", r.describe());
        assert_eq!(fx.check("200 messages"), fx.all_uidls());
        assert!(fx.server.uidls().is_empty());
        assert_eq!(r.stats.fetched.len(), 200);
        assert_eq!(r.stats.deleted.len(), 200);
        eprintln!(
            "OBSERVED 200 messages, CAPA {capa:?}: {:?}, max pipeline depth {}",
            r.elapsed, r.stats.max_pipeline_depth
        );
        if !capa.contains(&"PIPELINING") {
            assert_eq!(r.stats.max_pipeline_depth, 1);
        }
    }
}

#[test]
fn two_hundred_messages_keep_mode_then_cut_and_more_mail() {
    let fx = Fx::new(many(200), CAPA_FULL, Mode::Keep);
    fx.server.fault_next(Fault::CutInRetr {
        nth: 120,
        after_bytes: 30,
        close: Close::Rst,
    });
    let r1 = fx.fetch();
    assert_eq!(r1.code, 75, "{}", r1.describe());
    let d1 = fx.check("keep, cut at RETR 120");
    assert!(d1.len() < 200);
    let r2 = fx.fetch();
    assert_eq!(r2.code, 0, "{}", r2.describe());
    assert_eq!(fx.check("keep, re-run"), fx.all_uidls());
    for u in &d1 {
        assert_eq!(r2.stats.fetched_of(u), 0, "{u} retrieved again");
    }
}

/// Cuts in a long pipelined session: many messages are on the wire (retrieved by the server,
/// maybe not yet delivered) when the connection dies.
fn two_hundred_messages_cut_at_various_points(close: Close) {
    let faults = |c: Close| {
        vec![
            Fault::CutInRetr {
                nth: 150,
                after_bytes: 40,
                close: c,
            },
            Fault::CutAfter(Step::Reply("RETR", 64), c),
            Fault::CutAfterDele { k: 50, close: c },
            Fault::CutBefore(Step::Reply("DELE", 199), c),
            Fault::CutBeforeQuitReply(c),
        ]
    };
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        for fault in faults(close) {
            fault_then_rerun_with(many(200), capa, Mode::Delete, fault, &[75]);
        }
    }
}

#[test]
fn two_hundred_messages_cut_fin() {
    two_hundred_messages_cut_at_various_points(Close::Fin);
}

#[test]
fn two_hundred_messages_cut_rst() {
    two_hundred_messages_cut_at_various_points(Close::Rst);
}

/// A cut at every byte of a RETR reply, including inside the terminating ".\r\n": never a
/// delivery of an incomplete reply, always exit 75, and finally a clean delivery.
#[test]
fn cut_at_every_byte_of_a_retr_reply() {
    let msg = small("dots", "dots", ".\r\n..\r\n.x\r\nend\r\n.\r\n");
    let wire_len = msg.wire_data().len() + 3;
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let fx = Fx::new(vec![msg.clone()], capa, Mode::Keep);
        for after_bytes in 0..wire_len - 1 {
            let close = if after_bytes % 2 == 0 {
                Close::Fin
            } else {
                Close::Rst
            };
            fx.server.fault_next(Fault::CutInRetr {
                nth: 1,
                after_bytes,
                close,
            });
            let r = fx.fetch();
            let ctx = format!("cut after {after_bytes} of {wire_len} bytes ({close:?})");
            assert_eq!(r.code, 75, "{ctx}\n{}", r.describe());
            assert!(
                fx.check(&ctx).is_empty(),
                "{ctx}: delivered an incomplete reply"
            );
        }
        let r = fx.fetch();
        assert_eq!(r.code, 0, "{}", r.describe());
        assert_eq!(fx.check("after the cuts"), fx.all_uidls());
    }
}

/// Servers often report approximate sizes in LIST; the message is what RETR sends.
#[test]
fn list_sizes_that_differ_from_the_real_size() {
    for skew in [-40, 40] {
        for capa in [CAPA_FULL, CAPA_MINIMAL] {
            let fx = Fx::new(standard_messages(), capa, Mode::Delete);
            fx.server.fault_next(Fault::ListSizeSkew(skew));
            let r = fx.fetch();
            assert_eq!(r.code, 0, "LIST sizes off by {skew}\n{}", r.describe());
            assert_eq!(fx.check("size skew"), fx.all_uidls());
            assert!(fx.server.uidls().is_empty());
        }
    }
}

#[test]
fn tricky_content_is_byte_exact() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let fx = Fx::new(tricky_messages(), capa, Mode::Delete);
        let r = fx.fetch_with(Invocation {
            verbosity: "-vv",
            ..Invocation::default()
        });
        assert_eq!(r.code, 0, "CAPA {capa:?}\n{}", r.describe());
        assert_eq!(fx.check("tricky content"), fx.all_uidls());
        assert!(fx.server.uidls().is_empty());
    }
}

#[test]
fn apop_greeting_is_harmless() {
    let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Delete);
    let mut config = Config::with_capa(CAPA_FULL);
    config.apop_timestamp = true;
    fx.server.set_config(config);
    fx.server
        .set_delete_check(delivered_check(fx.sandbox.maildir(), &fx.messages));
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(r.stats.commands_with("APOP").is_empty());
    assert_eq!(fx.check("APOP greeting"), fx.all_uidls());
}

// ---------------------------------------------------------------------------------------------
// The scripted server itself, driven by a raw client

/// POP3 replies, read by a raw [`Client`].
trait Pop3Client {
    /// Sends a command and returns its reply line (trailing spaces removed).
    fn cmd(&mut self, cmd: &str) -> String;
    /// The body of a multi-line reply, raw (still dot-stuffed), without the final `.` line.
    fn multi(&mut self) -> Vec<u8>;
}

impl Pop3Client for Client {
    fn cmd(&mut self, cmd: &str) -> String {
        self.send(cmd);
        self.line().trim_end().to_string()
    }

    fn multi(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut l = Vec::new();
            self.reader.read_until(b'\n', &mut l).unwrap();
            assert!(l.ends_with(b"\r\n"), "multi-line reply line {l:?}");
            if l == b".\r\n" {
                return out;
            }
            out.extend_from_slice(&l);
        }
    }
}

fn unstuff(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in wire.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

#[test]
fn scripted_server_session() {
    let msgs = tricky_messages();
    let server = Scripted::start(msgs.clone());
    let mut c = Client::connect(&server);
    assert!(c.line().starts_with("+OK"));
    assert!(c.cmd("CAPA").starts_with("+OK"));
    let capa = String::from_utf8(c.multi()).unwrap();
    assert!(capa.contains("SASL PLAIN\r\n") && capa.contains("PIPELINING\r\n"));
    assert!(c.cmd("RETR 1").starts_with("-ERR"));
    assert!(c.cmd("USER alice").starts_with("+OK"));
    assert!(c.cmd("PASS nope").starts_with("-ERR [AUTH]"));
    assert!(c.cmd("USER alice").starts_with("+OK"));
    assert!(c.cmd("PASS secret").starts_with("+OK"));
    assert_eq!(c.cmd("STAT").split(' ').nth(1), Some("9"));
    assert!(c.cmd("UIDL").starts_with("+OK"));
    let uidl = String::from_utf8(c.multi()).unwrap();
    assert!(uidl.starts_with("1 t1\r\n2 t2\r\n"), "{uidl}");
    assert!(c.cmd("LIST").starts_with("+OK"));
    assert_eq!(c.multi().iter().filter(|&&b| b == b'\n').count(), 9);
    for (i, m) in msgs.iter().enumerate() {
        assert!(c.cmd(&format!("RETR {}", i + 1)).starts_with("+OK"));
        let body = c.multi();
        assert_eq!(body, m.wire_data());
        assert_eq!(
            run::expected_delivery(&unstuff(&body)),
            run::expected_delivery(&m.raw)
        );
    }
    // Pipelined: several commands in one write, answered in order.
    c.writer
        .write_all(b"DELE 1\r\nDELE 2\r\nNOOP\r\nLIST 2\r\n")
        .unwrap();
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("-ERR"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    assert!(c.rest().unwrap().is_empty());
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.uidls().len(), 7);
    let st = server.stats();
    assert_eq!(st.logins, 1);
    assert_eq!(st.failed_logins, 1);
    assert_eq!(st.fetched_of("t1"), 1);
    assert_eq!(st.deleted_of("t2"), 1);
    assert_eq!(st.expunged, vec!["t1".to_string(), "t2".to_string()]);
    assert!(st.max_pipeline_depth >= 2);
    // RETR before login, LIST of a deleted message.
    assert_eq!(st.violations.len(), 2, "{:?}", st.violations);
}

#[test]
fn scripted_server_deletes_only_at_quit_and_auth_plain() {
    let server = Scripted::with_config(Config::with_capa(CAPA_FULL), standard_messages());
    // A session that ends without QUIT deletes nothing.
    let mut c = Client::connect(&server);
    c.line();
    let ir = scripted::base64_encode(b"\0alice\0secret");
    assert!(c.cmd(&format!("AUTH PLAIN {ir}")).starts_with("+OK"));
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.uidls().len(), 5);
    // AUTH PLAIN with a continuation.
    let mut c = Client::connect(&server);
    c.line();
    assert_eq!(c.cmd("AUTH PLAIN"), "+");
    assert!(c.cmd(&ir).starts_with("+OK"));
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("RSET").starts_with("+OK"));
    assert!(c.cmd("DELE 5").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.uidls(), vec!["m1-uid", "m2-uid", "m3-uid", "m4-uid"]);
    assert!(server.stats().violations.is_empty());
}

#[test]
fn scripted_server_faults() {
    let server = Scripted::with_config(Config::with_capa(CAPA_MINIMAL), standard_messages());
    let login = |c: &mut Client| {
        assert!(c.line().starts_with("+OK"));
        assert!(c.cmd("USER alice").starts_with("+OK"));
        assert!(c.cmd("PASS secret").starts_with("+OK"));
    };

    // Cut in the middle of RETR: the +OK line and exactly 10 bytes, then EOF.
    server.fault_next(Fault::CutInRetr {
        nth: 1,
        after_bytes: 10,
        close: Close::Fin,
    });
    let mut c = Client::connect(&server);
    login(&mut c);
    assert!(c.cmd("RETR 2").starts_with("+OK"));
    assert_eq!(c.rest().unwrap(), standard_messages()[1].wire_data()[..10]);

    // RST after the greeting: the client sees a reset (or the greeting, then a reset).
    server.fault_next(Fault::CutAfterGreeting(Close::Rst));
    drop(c);
    let mut c = Client::connect(&server);
    c.assert_reset();

    // Cut after the 2nd DELE, before QUIT: nothing deleted.
    server.fault_next(Fault::CutAfterDele {
        k: 2,
        close: Close::Fin,
    });
    drop(c);
    let mut c = Client::connect(&server);
    login(&mut c);
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    assert!(c.rest().unwrap().is_empty());

    // QUIT unanswered: nothing committed.
    server.fault_next(Fault::CutBeforeQuitReply(Close::Fin));
    drop(c);
    let mut c = Client::connect(&server);
    login(&mut c);
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    c.send("QUIT");
    assert!(c.rest().unwrap().is_empty());
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.uidls().len(), 5);

    // Login refused, garbage, duplicate UIDL, RETR -ERR, unterminated listing.
    server.fault_next(Fault::LoginReply("-ERR [IN-USE] locked".into()));
    let mut c = Client::connect(&server);
    c.line();
    assert!(c.cmd("USER alice").starts_with("+OK"));
    assert_eq!(c.cmd("PASS secret"), "-ERR [IN-USE] locked");
    drop(c);

    server.fault_next(Fault::DuplicateUidl);
    server.fault_next(Fault::RetrErr {
        uidl: "m3-uid".into(),
    });
    server.fault_next(Fault::GarbageAt(Step::Reply("NOOP", 1)));
    server.fault_next(Fault::UnterminatedMultiline("LIST"));
    let mut c = Client::connect(&server);
    login(&mut c);
    assert_eq!(c.cmd("NOOP"), scripted::GARBAGE);
    assert!(c.cmd("NOOP").starts_with("+OK"));
    assert!(c.cmd("UIDL").starts_with("+OK"));
    assert!(String::from_utf8(c.multi())
        .unwrap()
        .starts_with("1 m1-uid\r\n2 m1-uid\r\n"));
    assert!(c.cmd("RETR 3").starts_with("-ERR"));
    assert!(c.cmd("LIST").starts_with("+OK"));
    let rest = c.rest().unwrap();
    assert!(rest.starts_with(b"1 ") && !rest.ends_with(b".\r\n"));

    // Silent after the greeting: the greeting, then nothing (the read times out).
    server.fault_next(Fault::SilentAfter(Step::Greeting));
    drop(c);
    let mut c = Client::connect(&server);
    assert!(c.line().starts_with("+OK"));
    c.assert_silent_after("CAPA");
    drop(c);

    // A greeting -ERR.
    server.fault_next(Fault::GreetingErr("-ERR no".into()));
    let mut c = Client::connect(&server);
    assert!(c.line().starts_with("-ERR"));
    assert!(c.rest().unwrap().is_empty());

    drop(c);
    server.wait_idle(Duration::from_secs(5));
    let st = server.stats();
    assert_eq!(st.connections, 8);
    assert!(st.violations.is_empty(), "{:?}", st.violations);
    assert_eq!(server.uidls().len(), 5);
}

/// The checks themselves: a truncated file in the Maildir is caught.
#[test]
#[should_panic(expected = "a truncated copy of")]
fn check_catches_a_truncated_delivery() {
    let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Delete);
    let new = fx.sandbox.maildir().join("new");
    std::fs::create_dir_all(&new).unwrap();
    let full = run::expected_delivery(&fx.messages[1].raw);
    std::fs::write(new.join("1.truncated"), &full[..50_000]).unwrap();
    fx.check("self-test");
}

/// The checks themselves: a DELE for a message that is not in the Maildir is a violation.
#[test]
fn dele_check_catches_a_premature_dele() {
    let fx = Fx::new(standard_messages(), CAPA_MINIMAL, Mode::Delete);
    let mut c = Client::connect(&fx.server);
    assert!(c.line().starts_with("+OK"));
    assert!(c.cmd("USER alice").starts_with("+OK"));
    assert!(c.cmd("PASS secret").starts_with("+OK"));
    assert!(c.cmd("DELE 4").starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    drop(c);
    fx.server.wait_idle(Duration::from_secs(5));
    let v = fx.server.stats().violations;
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("m4-uid") && v[0].contains("before"), "{v:?}");
}

/// A server without TOP (it is optional in RFC 1939): `list` and a filter cannot read headers.
/// The error says so; nothing is downloaded or deleted, and there is one login.
#[test]
fn no_top_means_no_headers_and_nothing_touched() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let fx = Fx::new(standard_messages(), capa, Mode::Delete);
        let maildir = fx.sandbox.maildir();
        let runs: [Vec<&std::ffi::OsStr>; 2] = [
            vec!["list".as_ref()],
            vec![
                "fetch".as_ref(),
                "--filter".as_ref(),
                "exit 0".as_ref(),
                "--maildir".as_ref(),
                maildir.as_os_str(),
            ],
        ];
        for args in runs {
            let ctx = format!("{args:?}, CAPA {capa:?}");
            let before = fx.server.stats();
            let mut cmd = fx.sandbox.cmd(Some(scripted::PASSWORD));
            cmd.args(&args)
                .arg(fx.server.url())
                .args(["--insecure-no-tls", "--timeout", "3"]);
            let out = run::run_with_limit(cmd, LIMIT);
            fx.server.wait_idle(Duration::from_secs(10));
            let stats = fx.server.stats().since(&before);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(run::code(&out), 69, "{ctx}\n{stderr}");
            assert!(stderr.contains("does not support TOP"), "{ctx}\n{stderr}");
            assert!(out.stdout.is_empty(), "{ctx}");
            assert_eq!(stats.logins, 1, "{ctx}");
            assert!(stats.fetched.is_empty(), "{ctx}: {:?}", stats.fetched);
            assert_eq!(fx.server.uidls().len(), 5, "{ctx}");
            assert!(run::maildir_messages(&maildir).is_empty(), "{ctx}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile replies (issue 11): no panic, no reply under another command's name, no guess

/// The greeting that made the status parser panic (a slice inside a UTF-8 sequence).
const NOT_UTF8: &[u8] = b"\xff\xfe\r\n";

/// A status line that is not UTF-8, at every step: a protocol error (76), never a panic (101).
/// (Before the fix: exit 101 at the greeting and at the QUIT reply.)
mod not_utf8 {
    use super::*;

    fault_tests! { Mode::Delete;
        greeting => Fault::ReplaceReply(Step::Greeting, NOT_UTF8.to_vec()), [76];
        capa => Fault::ReplaceReply(Step::Reply("CAPA", 1), NOT_UTF8.to_vec()), [76];
        auth => Fault::ReplaceReply(Step::Login, NOT_UTF8.to_vec()), [76];
        uidl => Fault::ReplaceReply(Step::Reply("UIDL", 1), NOT_UTF8.to_vec()), [76];
        list => Fault::ReplaceReply(Step::Reply("LIST", 1), NOT_UTF8.to_vec()), [76];
        retr_2 => Fault::ReplaceReply(Step::Reply("RETR", 2), NOT_UTF8.to_vec()), [76];
        dele_1 => Fault::ReplaceReply(Step::Reply("DELE", 1), NOT_UTF8.to_vec()), [76];
        quit => Fault::ReplaceReply(Step::Reply("QUIT", 1), NOT_UTF8.to_vec()), [76];
        greeting_text => Fault::ReplaceReply(Step::Greeting, b"+OK \xff\xfe\xc3\r\n".to_vec()), [0];
    }
}

/// An extra multi-line reply nobody asked for.
const EXTRA_BLOCK: &[u8] = b"+OK extra\r\njunk\r\n.\r\n";

/// The reply to RETR `n` as the scripted server sends it.
fn retr_reply(m: &Message) -> Vec<u8> {
    let mut out = format!("+OK {} octets\r\n", m.raw.len()).into_bytes();
    out.extend_from_slice(&m.wire_data());
    out.extend_from_slice(b".\r\n");
    out
}

/// Replies out of step with the commands (issue 11, class 4): an extra `+OK … .` block after
/// message 1 used to shift every later reply (message 2's bytes recorded under message 3's
/// unique id, junk under message 2's, exit 0); now the run stops with 76 before recording
/// anything it cannot prove, and deletes nothing.
mod desync {
    use super::*;

    fault_tests! { Mode::Delete;
        extra_block_after_message_1 => Fault::AppendToReply(Step::Reply("RETR", 1), EXTRA_BLOCK.to_vec()), [76];
        extra_block_after_message_3 => Fault::AppendToReply(Step::Reply("RETR", 3), EXTRA_BLOCK.to_vec()), [76];
        extra_line_after_dele_1 => Fault::AppendToReply(Step::Reply("DELE", 1), b"+OK surprise\r\n".to_vec()), [76];
        // The last DELE's reply is followed by nothing the session proves but the STAT sent
        // before QUIT: an extra line there must not pass for its reply.
        extra_line_after_the_last_dele => Fault::AppendToReply(Step::Reply("DELE", 5), b"+OK surprise\r\n".to_vec()), [76];
        extra_ok_zero_after_dele_2 => Fault::AppendToReply(Step::Reply("DELE", 2), b"+OK 0 0\r\n".to_vec()), [76];
        extra_line_after_greeting => Fault::AppendToReply(Step::Greeting, b"+OK again\r\n".to_vec()), [76];
        extra_line_after_capa => Fault::AppendToReply(Step::Reply("CAPA", 1), b"+OK\r\n".to_vec()), [76];
        extra_line_after_login => Fault::AppendToReply(Step::Login, b"+OK\r\n".to_vec()), [76];
        extra_line_after_list => Fault::AppendToReply(Step::Reply("LIST", 1), b"+OK\r\n".to_vec()), [76];
        status_line_twice_in_retr_4 => Fault::ReplaceReply(Step::Reply("RETR", 4), {
            let m = &standard_messages()[3];
            let mut r = format!("+OK {} octets\r\n", m.raw.len()).into_bytes();
            r.extend_from_slice(&retr_reply(m));
            r
        }), [76];
        bytes_after_the_quit_reply => Fault::AppendToReply(Step::Reply("QUIT", 1), b"+OK extra\r\n".to_vec()), [76];
    }

    mod keep {
        use super::super::*;

        fault_tests! { Mode::Keep;
            extra_block_after_message_1 => Fault::AppendToReply(Step::Reply("RETR", 1), EXTRA_BLOCK.to_vec()), [76];
            bytes_after_the_quit_reply => Fault::AppendToReply(Step::Reply("QUIT", 1), b"-ERR extra\r\n".to_vec()), [76];
        }
    }

    /// Message 2 (100 KB) answered by a short reply that is consistent in itself: far smaller
    /// than LIST said, so it is another reply, not message 2.
    #[test]
    fn a_reply_wildly_smaller_than_listed() {
        for capa in [CAPA_FULL, CAPA_MINIMAL] {
            fault_then_rerun(
                capa,
                Mode::Delete,
                Fault::ReplaceReply(
                    Step::Reply("RETR", 2),
                    b"+OK 7 octets\r\nshort\r\n.\r\n".to_vec(),
                ),
                &[76],
            );
        }
    }

    /// The case spelled out: after the extra block the first run records nothing it
    /// cannot prove (with PIPELINING: not even message 1, whose sentinel came late), sends no
    /// QUIT, and the next run finds every message under its own unique id.
    #[test]
    fn extra_block_nothing_misfiled_nothing_deleted() {
        let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Delete);
        fx.server.fault_next(Fault::AppendToReply(
            Step::Reply("RETR", 1),
            EXTRA_BLOCK.to_vec(),
        ));
        let r1 = fx.fetch();
        assert_eq!(r1.code, 76, "{}", r1.describe());
        assert!(
            r1.stats.commands_with("QUIT").is_empty(),
            "{}",
            r1.describe()
        );
        assert!(r1.stats.deleted.is_empty(), "{}", r1.describe());
        assert!(fx.check("extra block").is_empty(), "{}", r1.describe());
        assert_eq!(fx.server.uidls().len(), 5);
        assert!(r1.stderr.contains("out of step"), "{}", r1.describe());
        let r2 = fx.fetch();
        assert_eq!(r2.code, 0, "{}", r2.describe());
        assert_eq!(fx.check("re-run"), fx.all_uidls());
        assert!(fx.server.uidls().is_empty());
    }
}

/// A UIDL listing for the standard messages as `lines` say.
fn listing(lines: &[&str]) -> Vec<u8> {
    let mut out = b"+OK\r\n".to_vec();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Malformed listings (issue 11, class 5): a message number twice (it used to be downloaded
/// twice: two files, two rows, exit 0), numbers in one listing only, zero or absurd numbers.
/// A protocol error; nothing is fetched or deleted; the next run is clean.
#[test]
fn malformed_listings_fetch_and_delete_nothing() {
    let sizes: Vec<usize> = standard_messages().iter().map(|m| m.raw.len()).collect();
    let list_lines = |numbers: &[u64]| -> Vec<String> {
        numbers
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n} {}", sizes[i.min(4)]))
            .collect()
    };
    let uidl_cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "number 1 twice with two ids",
            vec![
                "1 m1-uid",
                "1 other-uid",
                "3 m3-uid",
                "4 m4-uid",
                "5 m5-uid",
            ],
        ),
        (
            "number 1 twice, message 2 missing",
            vec!["1 m1-uid", "1 m2-uid", "3 m3-uid", "4 m4-uid", "5 m5-uid"],
        ),
        (
            "message 5 missing from UIDL",
            vec!["1 m1-uid", "2 m2-uid", "3 m3-uid", "4 m4-uid"],
        ),
        (
            "an absurd number",
            vec![
                "1 m1-uid",
                "2 m2-uid",
                "3 m3-uid",
                "4 m4-uid",
                "4294967295 m5-uid",
            ],
        ),
        (
            "a number past the count",
            vec!["1 m1-uid", "2 m2-uid", "3 m3-uid", "4 m4-uid", "6 m5-uid"],
        ),
    ];
    let mut cases: Vec<(String, Vec<Fault>)> = Vec::new();
    for (what, lines) in &uidl_cases {
        let mut faults = vec![Fault::ReplaceReply(Step::Reply("UIDL", 1), listing(lines))];
        if what.contains("absurd") {
            // LIST agrees with UIDL: only the number is wrong.
            let l = list_lines(&[1, 2, 3, 4, 4_294_967_295]);
            faults.push(Fault::ReplaceReply(
                Step::Reply("LIST", 1),
                listing(&l.iter().map(String::as_str).collect::<Vec<_>>()),
            ));
        }
        cases.push((format!("UIDL: {what}"), faults));
    }
    for (what, numbers) in [
        ("number 2 twice", vec![1, 2, 2, 3, 4, 5]),
        ("message 5 missing from LIST", vec![1, 2, 3, 4]),
        ("an extra message 6 in LIST", vec![1, 2, 3, 4, 5, 6]),
    ] {
        let l = list_lines(&numbers);
        cases.push((
            format!("LIST: {what}"),
            vec![Fault::ReplaceReply(
                Step::Reply("LIST", 1),
                listing(&l.iter().map(String::as_str).collect::<Vec<_>>()),
            )],
        ));
    }
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        for (what, faults) in &cases {
            let fx = Fx::new(standard_messages(), capa, Mode::Delete);
            for f in faults {
                fx.server.fault_next(f.clone());
            }
            let r1 = fx.fetch();
            let ctx = format!("{what} (CAPA {capa:?})");
            assert_eq!(r1.code, 76, "{ctx}\n{}", r1.describe());
            assert!(
                r1.stats.fetched.is_empty() && r1.stats.deleted.is_empty(),
                "{ctx}: fetched or deleted after a malformed listing\n{}",
                r1.describe()
            );
            assert!(fx.check(&ctx).is_empty());
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{ctx}, re-run\n{}", r2.describe());
            assert_eq!(fx.check(&ctx), fx.all_uidls());
            assert!(fx.server.uidls().is_empty());
        }
    }
}

/// A line far longer than any POP3 line: refused after a bounded read, and the error quotes only
/// a short prefix of it.
#[test]
fn overlong_lines_are_refused_with_a_short_message() {
    let mut long = b"+OK ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 5_000_000));
    long.extend_from_slice(b"\r\n");
    for step in [
        Step::Greeting,
        Step::Reply("UIDL", 1),
        Step::Reply("RETR", 1),
    ] {
        let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Delete);
        fx.server
            .fault_next(Fault::ReplaceReply(step.clone(), long.clone()));
        let r = fx.fetch();
        let ctx = format!("a 5 MB line at {step:?}");
        assert_ne!(r.code, 0, "{ctx}\n{}", r.describe());
        assert!(
            r.stderr.len() < 20_000,
            "{ctx}: {} bytes of stderr",
            r.stderr.len()
        );
        assert!(
            !r.stderr.contains(&"x".repeat(1000)),
            "{ctx}\n{}",
            r.describe()
        );
        assert!(fx.check(&ctx).is_empty() || step == Step::Reply("RETR", 1));
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 6856 UTF8 (issue 10)

/// What a server that protects old clients sends instead of a message with UTF-8 in its header:
/// a notice with the original attached as message/global, about 700 bytes larger, without a
/// Message-ID.
fn wrap_for_old_clients(original: &[u8]) -> Vec<u8> {
    let mut out = b"From: Mail System <postmaster@scripted.test>\r\n\
To: alice@example.org\r\n\
Subject: Cannot display Unicode content\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"wrapped-by-server\"\r\n\
\r\n\
--wrapped-by-server\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
This message contains characters in its header that your mail client cannot\r\n\
display. The original message is attached. Please use a mail client that\r\n\
supports internationalized email (RFC 6532) to read it as it was sent.\r\n\
If you think you received this notice in error, contact your administrator.\r\n\
\r\n\
--wrapped-by-server\r\n\
Content-Type: message/global\r\n\
Content-Disposition: attachment\r\n\
\r\n"
        .to_vec();
    out.extend_from_slice(original);
    out.extend_from_slice(b"\r\n--wrapped-by-server--\r\n");
    out
}

/// Messages with raw UTF-8 in From, To and Subject (each with its wrapped form), and one plain
/// ASCII message that a server never wraps.
fn utf8_messages(wrapped: bool) -> Vec<Message> {
    let raw = |i: usize, subject: &str| {
        format!(
            "From: J\u{fc}rgen M\u{fc}ller <juergen@example.org>\r\nTo: Ren\u{e9}e <renee@example.org>\r\n\
             Subject: {subject}\r\nMessage-ID: <utf8-{i}@scripted.test>\r\n\
             Disposition-Notification-To: juergen@example.org\r\n\r\nHallo!\r\n..\r\n.x\r\n"
        )
        .into_bytes()
    };
    let mut out: Vec<Message> = [
        "Gr\u{fc}\u{df}e aus K\u{f6}ln",
        "\u{65e5}\u{672c}\u{8a9e}\u{306e}\u{4ef6}\u{540d}",
        "caf\u{e9} \u{2615}",
    ]
    .iter()
    .enumerate()
    .map(|(i, subject)| {
        let r = raw(i, subject);
        let m = Message::new(format!("utf8-{i}"), r.clone());
        if wrapped {
            let w = wrap_for_old_clients(&r);
            assert!(
                (650..=800).contains(&(w.len() - r.len())),
                "{}",
                w.len() - r.len()
            );
            m.with_wrapped(w)
        } else {
            m
        }
    })
    .collect();
    out.push(small("ascii-1", "plain", "Nothing to convert.\r\n"));
    out
}

/// A server that advertises UTF8, wraps messages with UTF-8 headers unless the client sent
/// `UTF8`, lists the wrapped sizes (so LIST and RETR sizes differ by ~700 bytes) and discards
/// whatever arrives in the same read as PASS or AUTH: mailpull delivers the originals byte for
/// byte, in keep and delete mode, with USER/PASS and with AUTH PLAIN, and does not hang.
/// (Before the fix: UTF8 was never sent, the wrapped notices were delivered.)
#[test]
fn utf8_server_delivers_the_originals() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        for mode in [Mode::Delete, Mode::Keep] {
            let mut caps = capa.to_vec();
            caps.push("UTF8");
            let mut config = Config::with_capa(&caps);
            config.discard_after_login = true;
            let fx = Fx::with_config(utf8_messages(true), config, mode);
            let r = fx.fetch();
            let ctx = format!("UTF8 server ({mode:?}, CAPA {caps:?})");
            assert_eq!(r.code, 0, "{ctx}\n{}", r.describe());
            assert_eq!(fx.check(&ctx), fx.all_uidls(), "{ctx}\n{}", r.describe());
            let order: Vec<String> = r.stats.commands.iter().map(|c| c.name.clone()).collect();
            let login = order
                .iter()
                .position(|k| k == "PASS" || k == "AUTH")
                .expect("a login");
            let utf8 = order.iter().position(|k| k == "UTF8");
            assert_eq!(
                utf8,
                Some(login + 1),
                "{ctx}: UTF8 right after the login\n{}",
                r.describe()
            );
            assert_eq!(r.stats.commands_with("UTF8").len(), 1, "{ctx}");
            assert!(
                order.iter().position(|k| k == "UIDL") > utf8,
                "{ctx}: UTF8 before any listing"
            );
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{ctx}, second run\n{}", r2.describe());
            assert!(
                r2.stats.fetched.is_empty(),
                "{ctx}, second run\n{}",
                r2.describe()
            );
            assert_eq!(fx.check(&ctx), fx.all_uidls());
        }
    }
}

/// A server that answers `-ERR` to UTF8: the fetch goes on and works, and `-v` says so.
#[test]
fn utf8_refused_fetch_still_works() {
    for capa in [CAPA_FULL, CAPA_MINIMAL] {
        let mut caps = capa.to_vec();
        caps.push("UTF8");
        let mut config = Config::with_capa(&caps);
        config.discard_after_login = true;
        let fx = Fx::with_config(utf8_messages(false), config, Mode::Delete);
        fx.server
            .fault_next(Fault::Utf8Reply("-ERR UTF8 is not available now".into()));
        let r = fx.fetch();
        let ctx = format!("UTF8 refused (CAPA {caps:?})");
        assert_eq!(r.code, 0, "{ctx}\n{}", r.describe());
        assert_eq!(r.stats.commands_with("UTF8").len(), 1, "{ctx}");
        assert!(r.stderr.contains("refused UTF8"), "{ctx}\n{}", r.describe());
        assert_eq!(fx.check(&ctx), fx.all_uidls());
        assert!(fx.server.uidls().is_empty());
    }
}

/// Without UTF8 in CAPA, no UTF8 command.
#[test]
fn no_utf8_without_the_capability() {
    let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Keep);
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(r.stats.commands_with("UTF8").is_empty());
}

// ---------------------------------------------------------------------------------------------
// -vv

/// `-vv` shows every line of the CAPA reply and a count for the listings; `-v` only the status
/// lines. Secrets stay redacted (every run checks that).
#[test]
fn vv_shows_whole_protocol_lines() {
    let fx = Fx::new(standard_messages(), CAPA_FULL, Mode::Keep);
    let r = fx.fetch_with(Invocation {
        verbosity: "-vv",
        ..Invocation::default()
    });
    assert_eq!(r.code, 0, "{}", r.describe());
    for line in CAPA_FULL {
        assert!(
            r.stderr.contains(&format!("S: {line}\n")),
            "-vv lacks the CAPA line {line:?}\n{}",
            r.stderr
        );
    }
    for want in [
        "C: AUTH PLAIN <redacted>",
        "S: <UIDL listing of 5 messages>",
        "S: <LIST listing of 5 messages>",
        "S: +OK 1 m1-uid",
    ] {
        assert!(r.stderr.contains(want), "-vv lacks {want:?}\n{}", r.stderr);
    }
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(
        !r.stderr.contains("S: PIPELINING"),
        "-v shows CAPA lines\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("S: +OK capability list follows"));
}
