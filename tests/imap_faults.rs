//! Fault injection against the real `mailpull` binary with the scripted IMAP server
//! (`common::scripted_imap`): cuts at every step (FIN and RST) in delete and keep mode, an
//! untagged BYE, garbage, a literal longer than announced, silent servers, refused logins,
//! servers without UIDPLUS and several folders. After every fault the Maildir must hold only
//! complete messages, each at most once, nothing may be flagged `\Deleted` before it is
//! delivered, and a clean re-run must deliver everything exactly once without downloading
//! again what was delivered before.
//!
//! Run with `--nocapture` to see the exit codes observed where the contract allows a choice
//! (lines starting with `OBSERVED`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::fault::{delivered_messages, in_maildir, observed};
use common::matrix::{self, Invocation, Mode, Suite};
use common::run::{self, Sandbox};
use common::scripted::base64_encode;
use common::scripted_imap::{
    self as imap, key, Close, Config, Fault, Folder, Imap, Key, Message, ScriptedImap, Step,
    CAPS_FULL, CAPS_MINIMAL, CAPS_NO_UIDPLUS, DRAFTS_UTF8, DRAFTS_WIRE, INBOX, LISTS,
};
use common::server::Client;

// ---------------------------------------------------------------------------------------------
// Messages

/// A small message with a Message-ID unique to its folder and UID.
fn small(folder: &str, uid: u32, subject: &str, body: &str) -> Message {
    let raw = format!(
        "From: Bob <bob@example.org>\r\nTo: Alice <alice@example.org>\r\nSubject: {subject}\r\n\
         Message-ID: <{uid}.{}@scripted.test>\r\n\r\n{body}",
        folder.replace('&', "_")
    );
    Message::new(uid, raw)
}

/// About `size` bytes of text.
fn big(folder: &str, uid: u32, size: usize) -> Message {
    let mut raw = format!(
        "From: Bob <bob@example.org>\r\nSubject: big\r\nMessage-ID: <{uid}.{folder}@scripted.test>\r\n\r\n"
    );
    let mut i = 0;
    while raw.len() < size {
        raw.push_str(&format!(
            "line {i:06} the quick brown fox jumps over the lazy dog 0123456789\r\n"
        ));
        if i % 50 == 0 {
            raw.push_str(")\r\n* 1 FETCH (UID 1 BODY[] {3}\r\n");
        }
        i += 1;
    }
    Message::new(uid, raw)
}

/// Five messages in INBOX with UIDs that are not contiguous; the second is 100 KB (for cuts in
/// the middle of a message).
fn inbox() -> Folder {
    Folder::new(
        INBOX,
        1000,
        vec![
            small(INBOX, 3, "one", "First message.\r\n"),
            big(INBOX, 5, 100_000),
            small(INBOX, 6, "three", "Third.\r\n{5}\r\n)\r\n"),
            small(INBOX, 7, "four", "Fourth message.\r\n"),
            small(INBOX, 12, "five", "Last message.\r\n"),
        ],
    )
}

/// INBOX, `Lists.a` and `Entwürfe` (modified UTF-7 on the wire).
fn three_folders() -> Vec<Folder> {
    vec![
        inbox(),
        Folder::new(
            LISTS,
            77,
            vec![
                small(LISTS, 1, "list one", "l1\r\n"),
                small(LISTS, 2, "list two", "l2\r\n"),
            ],
        ),
        Folder::new(
            DRAFTS_WIRE,
            5,
            vec![small(DRAFTS_WIRE, 40, "draft", "Entwurf\r\n")],
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixture

/// A scripted server, a sandbox and the folders the server started with.
struct Fx {
    server: ScriptedImap,
    sandbox: Sandbox,
    initial: Vec<Folder>,
    mode: Mode,
    /// `--folder` arguments (none: mailpull's default, INBOX).
    folder_args: Vec<String>,
    /// The test gives a folder a new UIDVALIDITY: keep mode may then open it read-write once
    /// (SELECT, never followed by a change; see `engine/fetch.rs`).
    new_uidvalidity: bool,
}

/// One finished mailpull run.
type Run = matrix::Run<Key>;

impl Fx {
    fn new(folders: Vec<Folder>, caps: &[&str], mode: Mode) -> Fx {
        Fx::with_config(folders, Config::with_caps(caps), mode)
    }

    fn with_config(folders: Vec<Folder>, config: Config, mode: Mode) -> Fx {
        let sandbox = Sandbox::new();
        let server = ScriptedImap::with_config(config, folders.clone());
        server.set_delete_check(delivered_check(sandbox.maildir(), &folders));
        let folder_args = if folders.len() > 1 {
            vec!["*".to_string()]
        } else {
            Vec::new()
        };
        Fx {
            server,
            sandbox,
            initial: folders,
            mode,
            folder_args,
            new_uidvalidity: false,
        }
    }

    /// Every message the server started with that mailpull should deliver (not flagged
    /// `\Deleted` by someone else).
    fn all(&self) -> BTreeSet<Key> {
        self.initial
            .iter()
            .flat_map(|f| {
                f.messages
                    .iter()
                    .filter(|m| !m.has_flag("\\Deleted"))
                    .map(|m| key(&f.wire, m.uid))
            })
            .collect()
    }

    /// Expected Maildir contents → message.
    fn expected(&self) -> BTreeMap<Vec<u8>, Key> {
        self.initial
            .iter()
            .flat_map(|f| {
                f.messages
                    .iter()
                    .map(|m| (run::expected_delivery(&m.raw), key(&f.wire, m.uid)))
            })
            .collect()
    }

    /// Checks the Maildir and the server against each other; returns the delivered messages.
    /// Every file must be exactly one of the messages, none twice, tmp/ empty, every message
    /// gone from the server or flagged `\Deleted` must have been delivered.
    fn check(&self, context: &str) -> BTreeSet<Key> {
        let delivered =
            delivered_messages(&self.sandbox.maildir(), &self.expected(), context, |k| {
                format!("{k:?}")
            });
        let all = self.all();
        let on_server = self.server.keys();
        for gone in all.difference(&on_server) {
            assert!(
                delivered.contains(gone),
                "{context}: {gone:?} was expunged but never delivered"
            );
        }
        for f in self.server.folders() {
            for uid in f
                .messages
                .iter()
                .filter(|m| m.has_flag("\\Deleted"))
                .map(|m| m.uid)
            {
                let k = key(&f.wire, uid);
                assert!(
                    !all.contains(&k) || delivered.contains(&k),
                    "{context}: {k:?} flagged \\Deleted but not delivered"
                );
            }
        }
        if self.mode == Mode::Keep {
            assert_eq!(
                on_server,
                self.initial_keys(),
                "{context}: keep mode removed messages"
            );
            assert!(
                self.flagged().is_empty(),
                "{context}: keep mode flagged messages"
            );
        }
        delivered
    }

    /// The size on the server of a message the server started with.
    fn expected_len(&self, k: &Key) -> usize {
        self.initial
            .iter()
            .filter(|f| f.wire == k.0)
            .flat_map(|f| f.messages.iter())
            .find(|m| m.uid == k.1)
            .map(|m| m.raw.len())
            .unwrap_or_else(|| panic!("no message {k:?}"))
    }

    fn initial_keys(&self) -> BTreeSet<Key> {
        self.initial
            .iter()
            .flat_map(|f| f.messages.iter().map(|m| key(&f.wire, m.uid)))
            .collect()
    }

    /// Messages flagged `\Deleted` on the server now, except those flagged from the start.
    fn flagged(&self) -> BTreeSet<Key> {
        let all = self.all();
        self.server
            .folders()
            .iter()
            .flat_map(|f| {
                f.messages
                    .iter()
                    .filter(|m| m.has_flag("\\Deleted"))
                    .map(|m| key(&f.wire, m.uid))
                    .collect::<Vec<_>>()
            })
            .filter(|k| all.contains(k))
            .collect()
    }
}

impl Suite for Fx {
    type P = Imap;

    fn server(&self) -> &ScriptedImap {
        &self.server
    }

    fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn mode_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.mode == Mode::Delete {
            args.push("--no-keep".to_string());
        }
        for f in &self.folder_args {
            args.push("--folder".to_string());
            args.push(f.clone());
        }
        args
    }

    fn keep_forbids(&self) -> &'static [&'static str] {
        if self.new_uidvalidity {
            &["UID STORE", "UID EXPUNGE", "EXPUNGE", "CLOSE"]
        } else {
            &["UID STORE", "UID EXPUNGE", "EXPUNGE", "CLOSE", "SELECT"]
        }
    }

    fn all(&self) -> BTreeSet<Key> {
        Fx::all(self)
    }

    fn initial_keys(&self) -> BTreeSet<Key> {
        Fx::initial_keys(self)
    }

    fn expected_len(&self, k: &Key) -> usize {
        Fx::expected_len(self, k)
    }

    fn check(&self, context: &str) -> BTreeSet<Key> {
        Fx::check(self, context)
    }

    /// Flagged `\Deleted` but not expunged.
    fn left_to_remove(&self, _delivered: &BTreeSet<Key>) -> BTreeSet<Key> {
        self.flagged()
    }

    fn removed_in(&self, run: &Run, k: &Key) -> bool {
        run.stats.expunged.contains(k)
    }
}

/// A STORE check: a message flagged `\Deleted` must already be in the Maildir.
fn delivered_check(maildir: PathBuf, folders: &[Folder]) -> imap::StoreCheck {
    let expected: BTreeMap<Key, Vec<u8>> = folders
        .iter()
        .flat_map(|f| {
            f.messages
                .iter()
                .map(|m| (key(&f.wire, m.uid), run::expected_delivery(&m.raw)))
        })
        .collect();
    Arc::new(move |k: &Key| {
        let Some(want) = expected.get(k) else {
            return Ok(()); // mail added later
        };
        if in_maildir(&maildir, want) {
            Ok(())
        } else {
            Err("flagged \\Deleted before the message was in the Maildir".to_string())
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The scenario: a fault, then clean re-runs

/// Runs the scenario of [`matrix::fault_then_rerun`] on the inbox.
fn fault_then_rerun(caps: &[&str], mode: Mode, fault: Fault, codes: &[i32]) {
    fault_then_rerun_with(vec![inbox()], Config::with_caps(caps), mode, fault, codes);
}

fn fault_then_rerun_with(
    folders: Vec<Folder>,
    config: Config,
    mode: Mode,
    fault: Fault,
    codes: &[i32],
) {
    let caps = config.caps.clone();
    let mut fx = Fx::with_config(folders, config, mode);
    // INBOX alone is opened without a LIST (it always exists): a fault in a LIST reply needs a
    // pattern to be asked for, one that finds the same folders.
    if fx.folder_args.is_empty() && matches!(fault.step(), Some(Step::Reply(c, _)) if *c == "LIST")
    {
        fx.folder_args = vec!["*".into()];
    }
    matrix::fault_then_rerun(&fx, fault, codes, &format!("{mode:?}, caps {caps:?}"));
}

/// Tests for a fault parameterised by the way the connection is closed.
macro_rules! cut_tests {
    ($caps:expr, $mode:expr; $($name:ident => $fault:expr, $codes:expr;)*) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn fin() {
                    fault_then_rerun($caps, $mode, ($fault)(Close::Fin), &$codes);
                }

                #[test]
                fn rst() {
                    fault_then_rerun($caps, $mode, ($fault)(Close::Rst), &$codes);
                }
            }
        )*
    };
}

/// Tests for faults without a close flavour.
macro_rules! fault_tests {
    ($caps:expr, $mode:expr; $($name:ident => $fault:expr, $codes:expr;)*) => {
        $(
            #[test]
            fn $name() {
                fault_then_rerun($caps, $mode, $fault, &$codes);
            }
        )*
    };
}

mod cut_delete_mode {
    use super::*;

    cut_tests! { CAPS_FULL, Mode::Delete;
        after_greeting => |c| Fault::CutAfter(Step::Greeting, c), [75];
        after_login => |c| Fault::CutAfter(Step::Login, c), [75];
        after_list => |c| Fault::CutAfter(Step::Reply("LIST", 1), c), [75];
        after_select => |c| Fault::CutAfter(Step::Reply("SELECT", 1), c), [75];
        after_uid_listing => |c| Fault::CutAfter(Step::Reply("UID FETCH", 1), c), [75];
        in_body_1 => |c| Fault::CutInBody { nth: 1, after_bytes: 10, close: c }, [75];
        in_body_2_middle_of_100k => |c| Fault::CutInBody { nth: 2, after_bytes: 50_000, close: c }, [75];
        in_body_last => |c| Fault::CutInBody { nth: 5, after_bytes: 10, close: c }, [75];
        in_body_last_closing_paren => |c| Fault::CutInBody { nth: 5, after_bytes: usize::MAX, close: c }, [75];
        after_body_1 => |c| Fault::CutAfterBody { nth: 1, close: c }, [75];
        after_body_3 => |c| Fault::CutAfterBody { nth: 3, close: c }, [75];
        on_store_unexecuted => |c| Fault::CutBefore(Step::Reply("UID STORE", 1), c), [75];
        store_unanswered => |c| Fault::CutUnanswered(Step::Reply("UID STORE", 1), c), [75];
        after_store => |c| Fault::CutAfter(Step::Reply("UID STORE", 1), c), [75];
        on_expunge_unexecuted => |c| Fault::CutBefore(Step::Reply("UID EXPUNGE", 1), c), [75];
        expunge_unanswered => |c| Fault::CutUnanswered(Step::Reply("UID EXPUNGE", 1), c), [75];
        expunge_untagged_only => |c| Fault::CutBeforeTagged(Step::Reply("UID EXPUNGE", 1), c), [75];
        after_expunge => |c| Fault::CutAfter(Step::Reply("UID EXPUNGE", 1), c), [0, 75];
        before_logout_reply => |c| Fault::CutBefore(Step::Reply("LOGOUT", 1), c), [0, 75];
        after_logout_reply => |c| Fault::CutAfter(Step::Reply("LOGOUT", 1), c), [0];
    }
}

/// Without UIDPLUS (and with LOGIN): `UID SEARCH DELETED`, then plain EXPUNGE.
mod cut_delete_mode_no_uidplus {
    use super::*;

    cut_tests! { CAPS_MINIMAL, Mode::Delete;
        after_login => |c| Fault::CutAfter(Step::Login, c), [75];
        in_body_2_middle_of_100k => |c| Fault::CutInBody { nth: 2, after_bytes: 50_000, close: c }, [75];
        after_store => |c| Fault::CutAfter(Step::Reply("UID STORE", 1), c), [75];
        after_search => |c| Fault::CutAfter(Step::Reply("UID SEARCH", 1), c), [75];
        on_expunge_unexecuted => |c| Fault::CutBefore(Step::Reply("EXPUNGE", 1), c), [75];
        expunge_unanswered => |c| Fault::CutUnanswered(Step::Reply("EXPUNGE", 1), c), [75];
        after_expunge => |c| Fault::CutAfter(Step::Reply("EXPUNGE", 1), c), [0, 75];
    }
}

mod cut_keep_mode {
    use super::*;

    cut_tests! { CAPS_FULL, Mode::Keep;
        after_greeting => |c| Fault::CutAfter(Step::Greeting, c), [75];
        after_login => |c| Fault::CutAfter(Step::Login, c), [75];
        after_examine => |c| Fault::CutAfter(Step::Reply("EXAMINE", 1), c), [75];
        after_uid_listing => |c| Fault::CutAfter(Step::Reply("UID FETCH", 1), c), [75];
        in_body_1 => |c| Fault::CutInBody { nth: 1, after_bytes: 10, close: c }, [75];
        in_body_2_middle_of_100k => |c| Fault::CutInBody { nth: 2, after_bytes: 50_000, close: c }, [75];
        in_body_last => |c| Fault::CutInBody { nth: 5, after_bytes: 10, close: c }, [75];
        in_body_last_closing_paren => |c| Fault::CutInBody { nth: 5, after_bytes: usize::MAX, close: c }, [75];
        after_body_3 => |c| Fault::CutAfterBody { nth: 3, close: c }, [75];
        before_logout_reply => |c| Fault::CutBefore(Step::Reply("LOGOUT", 1), c), [0, 75];
        after_logout_reply => |c| Fault::CutAfter(Step::Reply("LOGOUT", 1), c), [0];
    }
}

mod bye {
    use super::*;

    fault_tests! { CAPS_FULL, Mode::Delete;
        after_login => Fault::ByeAfter(Step::Login), [75];
        after_select => Fault::ByeAfter(Step::Reply("SELECT", 1)), [75];
        after_uid_listing => Fault::ByeAfter(Step::Reply("UID FETCH", 1)), [75];
        instead_of_body_fetch => Fault::ByeInstead(Step::Reply("UID FETCH", 2)), [75];
        after_body_fetch => Fault::ByeAfter(Step::Reply("UID FETCH", 2)), [75];
        instead_of_store => Fault::ByeInstead(Step::Reply("UID STORE", 1)), [75];
        instead_of_expunge => Fault::ByeInstead(Step::Reply("UID EXPUNGE", 1)), [75];
    }

    fault_tests! { CAPS_FULL, Mode::Keep;
        keep_after_examine => Fault::ByeAfter(Step::Reply("EXAMINE", 1)), [75];
        keep_instead_of_body_fetch => Fault::ByeInstead(Step::Reply("UID FETCH", 2)), [75];
    }
}

mod garbage {
    use super::*;

    fault_tests! { CAPS_FULL, Mode::Delete;
        greeting => Fault::GarbageAt(Step::Greeting), [76];
        login => Fault::GarbageAt(Step::Login), [76];
        list => Fault::GarbageAt(Step::Reply("LIST", 1)), [76];
        select => Fault::GarbageAt(Step::Reply("SELECT", 1)), [76];
        uid_listing => Fault::GarbageAt(Step::Reply("UID FETCH", 1)), [76];
        body_fetch => Fault::GarbageAt(Step::Reply("UID FETCH", 2)), [76];
        store => Fault::GarbageAt(Step::Reply("UID STORE", 1)), [76];
        expunge => Fault::GarbageAt(Step::Reply("UID EXPUNGE", 1)), [76];
    }

    #[test]
    fn capability() {
        let mut config = Config::with_caps(CAPS_FULL);
        config.caps_in_greeting = false;
        fault_then_rerun_with(
            vec![inbox()],
            config,
            Mode::Delete,
            Fault::GarbageAt(Step::Reply("CAPABILITY", 1)),
            &[76],
        );
    }
}

mod literal_longer_than_announced {
    use super::*;

    fault_tests! { CAPS_FULL, Mode::Delete;
        first_by_5 => Fault::LiteralShort { nth: 1, by: 5 }, [76];
        big_by_1000 => Fault::LiteralShort { nth: 2, by: 1000 }, [76];
        last_by_1 => Fault::LiteralShort { nth: 5, by: 1 }, [76];
    }

    fault_tests! { CAPS_FULL, Mode::Keep;
        keep_big_by_1000 => Fault::LiteralShort { nth: 2, by: 1000 }, [76];
    }
}

/// What a literal announced too short leads to over two runs, whatever the first run left: the
/// whole message must end up in the Maildir, or stay on the server; never only a truncated copy.
#[test]
fn short_literal_never_loses_the_rest_of_the_message() {
    for mode in [Mode::Delete, Mode::Keep] {
        let fx = Fx::new(vec![inbox()], CAPS_FULL, mode);
        fx.server.fault_next(Fault::LiteralShort { nth: 1, by: 5 });
        let r1 = fx.fetch();
        assert_eq!(r1.code, 76, "{}", r1.describe());
        let r2 = fx.fetch();
        let whole = run::expected_delivery(&inbox().messages[0].raw);
        let delivered = in_maildir(&fx.sandbox.maildir(), &whole);
        let on_server =
            fx.server.uids(INBOX).contains(&3) && !fx.flagged().contains(&key(INBOX, 3));
        assert!(
            delivered || on_server,
            "{mode:?}: UID 3 is neither delivered whole nor left on the server (re-run exit {}, \
             fetched again: {}, expunged: {})\nfirst run:\n{}\nre-run:\n{}",
            r2.code,
            r2.stats.bodies_of(INBOX, 3),
            r2.stats.expunged.contains(&key(INBOX, 3)),
            r1.describe(),
            r2.describe()
        );
    }
}

mod silent {
    use super::*;

    fault_tests! { CAPS_FULL, Mode::Delete;
        before_greeting => Fault::SilentAfter(Step::Connect), [75];
        after_greeting => Fault::SilentAfter(Step::Greeting), [75];
        after_login => Fault::SilentAfter(Step::Login), [75];
        after_select => Fault::SilentAfter(Step::Reply("SELECT", 1)), [75];
        in_body_2 => Fault::StallInBody { nth: 2, after_bytes: 50_000 }, [75];
        after_body_fetch => Fault::SilentAfter(Step::Reply("UID FETCH", 2)), [75];
        at_store => Fault::SilentBefore(Step::Reply("UID STORE", 1)), [75];
        at_expunge => Fault::SilentBefore(Step::Reply("UID EXPUNGE", 1)), [75];
        at_logout => Fault::SilentBefore(Step::Reply("LOGOUT", 1)), [0, 75];
    }

    fault_tests! { CAPS_FULL, Mode::Keep;
        keep_in_body_2 => Fault::StallInBody { nth: 2, after_bytes: 50_000 }, [75];
    }
}

mod refused {
    use super::*;

    fault_tests! { CAPS_FULL, Mode::Delete;
        greeting_bye => Fault::GreetingBye("server shutting down".into()), [69];
        authenticationfailed => Fault::LoginReply("NO [AUTHENTICATIONFAILED] Authentication failed.".into()), [77];
        plain_no => Fault::LoginReply("NO Login failed.".into()), [77];
        unavailable => Fault::LoginReply("NO [UNAVAILABLE] Temporary authentication failure".into()), [69, 75];
        select_unavailable => Fault::ReplyInstead(Step::Reply("SELECT", 1), "NO [UNAVAILABLE] try later".into()), [69, 75];
    }

    fault_tests! { CAPS_MINIMAL, Mode::Delete;
        login_authenticationfailed => Fault::LoginReply("NO [AUTHENTICATIONFAILED] Authentication failed.".into()), [77];
        login_unavailable => Fault::LoginReply("NO [UNAVAILABLE] Temporary authentication failure".into()), [69, 75];
    }
}

#[test]
fn wrong_password_is_77_and_not_shown() {
    let fx = Fx::new(vec![inbox()], CAPS_FULL, Mode::Delete);
    let r = fx.fetch_with(Invocation {
        password: "hunter2-wrong",
        verbosity: "-vv",
        ..Invocation::default()
    });
    assert_eq!(r.code, 77, "{}", r.describe());
    assert_eq!(r.stats.failed_logins, 1);
    assert!(fx.check("wrong password").is_empty());
    let r = fx.fetch_with(Invocation {
        verbosity: "-vv",
        ..Invocation::default()
    });
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(fx.check("right password"), fx.all());
}

/// The heart of it, spelled out: the connection dies after the STORE, before the expunge; the
/// next run expunges every message without downloading any again.
#[test]
fn flagged_but_not_expunged_is_expunged_next_run_without_download() {
    for caps in [CAPS_FULL, CAPS_MINIMAL] {
        for close in [Close::Fin, Close::Rst] {
            let fx = Fx::new(vec![inbox()], caps, Mode::Delete);
            fx.server
                .fault_next(Fault::CutAfter(Step::Reply("UID STORE", 1), close));
            let r1 = fx.fetch();
            assert_eq!(r1.code, 75, "{}", r1.describe());
            assert_eq!(fx.check("cut after STORE"), fx.all());
            assert_eq!(
                fx.flagged(),
                fx.all(),
                "everything flagged, nothing expunged"
            );
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{}", r2.describe());
            assert!(r2.stats.fetched.is_empty(), "{}", r2.describe());
            assert_eq!(
                r2.stats.expunged.iter().cloned().collect::<BTreeSet<_>>(),
                fx.all(),
                "{}",
                r2.describe()
            );
            assert!(fx.server.keys().is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers without UIDPLUS

/// INBOX with a message flagged `\Deleted` by another client (UID 4).
fn inbox_with_foreign_deleted() -> Folder {
    let mut f = inbox();
    f.messages.insert(
        1,
        small(INBOX, 4, "someone else's", "Flagged by another client.\r\n")
            .with_flags(&["\\Deleted"]),
    );
    f
}

#[test]
fn no_uidplus_never_expunges_a_foreign_deleted_message() {
    for caps in [CAPS_NO_UIDPLUS, CAPS_MINIMAL] {
        let fx = Fx::new(vec![inbox_with_foreign_deleted()], caps, Mode::Delete);
        let r = fx.fetch();
        observed(
            &format!("no UIDPLUS, foreign \\Deleted message, caps {caps:?}"),
            r.code,
        );
        eprintln!("OBSERVED stderr:\n{}", r.stderr);
        let d = fx.check("foreign \\Deleted");
        assert_eq!(
            d.intersection(&fx.all()).cloned().collect::<BTreeSet<_>>(),
            fx.all()
        );
        eprintln!(
            "OBSERVED foreign \\Deleted message delivered: {}",
            d.contains(&key(INBOX, 4))
        );
        assert!(
            r.stats.commands_with("EXPUNGE").is_empty()
                && r.stats.commands_with("CLOSE").is_empty()
                && r.stats.expunged.is_empty(),
            "expunged although a foreign message is flagged\n{}",
            r.describe()
        );
        assert!(fx.server.uids(INBOX).contains(&4));
        assert_eq!(fx.server.deleted_uids(INBOX), vec![3, 4, 5, 6, 7, 12]);
        assert!(
            r.stderr.contains("UIDPLUS"),
            "stderr does not say why nothing was expunged\n{}",
            r.describe()
        );
        // A second run downloads nothing again and still expunges nothing.
        let r2 = fx.fetch();
        observed(
            &format!("no UIDPLUS, foreign \\Deleted, second run, caps {caps:?}"),
            r2.code,
        );
        assert!(r2.stats.fetched.is_empty(), "{}", r2.describe());
        assert!(r2.stats.expunged.is_empty(), "{}", r2.describe());
        assert!(fx.server.uids(INBOX).contains(&4));
    }
}

/// Another client flags a message `\Deleted` while mailpull runs (it arrives flagged after
/// mailpull listed the folder): without UIDPLUS mailpull must not EXPUNGE, and must say why.
#[test]
fn no_uidplus_foreign_deleted_arriving_during_the_session() {
    for caps in [CAPS_NO_UIDPLUS, CAPS_MINIMAL] {
        let fx = Fx::new(vec![inbox()], caps, Mode::Delete);
        fx.server.fault_next(Fault::AppendAfter {
            step: Step::Reply("UID FETCH", 1),
            folder: INBOX.into(),
            raw: b"Subject: foreign\r\nMessage-ID: <foreign@scripted.test>\r\n\r\nx\r\n".to_vec(),
            flags: vec!["\\Deleted".into()],
        });
        let r = fx.fetch();
        observed(
            &format!("no UIDPLUS, foreign \\Deleted arriving mid-session, caps {caps:?}"),
            r.code,
        );
        assert_eq!(fx.check("foreign arriving"), fx.all(), "{}", r.describe());
        assert!(
            r.stats.commands_with("EXPUNGE").is_empty()
                && r.stats.commands_with("CLOSE").is_empty()
                && r.stats.expunged.is_empty(),
            "expunged although a foreign message is flagged\n{}",
            r.describe()
        );
        assert!(fx.server.uids(INBOX).contains(&13));
        assert_eq!(fx.flagged(), fx.all(), "own messages stay flagged");
        assert!(
            r.stderr.contains("UIDPLUS"),
            "stderr does not say why nothing was expunged\n{}",
            r.describe()
        );
    }
}

#[test]
fn no_uidplus_uses_plain_expunge_when_all_flagged_are_ours() {
    for caps in [CAPS_NO_UIDPLUS, CAPS_MINIMAL] {
        let fx = Fx::new(vec![inbox()], caps, Mode::Delete);
        let r = fx.fetch();
        assert_eq!(r.code, 0, "{}", r.describe());
        // UID SEARCH DELETED when the folder is opened (to leave foreign \Deleted messages
        // alone) and again right before the EXPUNGE (to catch ones flagged meanwhile).
        assert!(
            !r.stats.commands_with("UID SEARCH").is_empty(),
            "{}",
            r.describe()
        );
        assert_eq!(
            r.stats.commands_with("EXPUNGE").len(),
            1,
            "{}",
            r.describe()
        );
        assert!(r.stats.commands_with("UID EXPUNGE").is_empty());
        assert_eq!(fx.check("no UIDPLUS"), fx.all());
        assert!(fx.server.keys().is_empty());
        if caps == CAPS_MINIMAL {
            assert_eq!(r.stats.commands_with("LOGIN").len(), 1);
        } else {
            assert_eq!(r.stats.commands_with("AUTHENTICATE").len(), 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Several folders

fn several_folders(folder_args: &[&str], mode: Mode) {
    let mut fx = Fx::new(three_folders(), CAPS_FULL, mode);
    fx.folder_args = folder_args.iter().map(|s| s.to_string()).collect();
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{folder_args:?}\n{}", r.describe());
    assert_eq!(r.stats.logins, 1);
    assert_eq!(fx.check("three folders"), fx.all(), "{}", r.describe());
    let verb = if mode == Mode::Delete {
        "SELECT"
    } else {
        "EXAMINE"
    };
    let opened: Vec<&str> = r
        .stats
        .commands_with(verb)
        .iter()
        .map(|c| c.line.split_once(' ').unwrap().1)
        .collect();
    assert_eq!(opened.len(), 3, "{}", r.describe());
    assert!(
        opened.iter().any(|l| l.contains(DRAFTS_WIRE)),
        "{}",
        r.describe()
    );
    match mode {
        Mode::Delete => assert!(fx.server.keys().is_empty(), "{}", r.describe()),
        Mode::Keep => assert_eq!(fx.server.keys(), fx.initial_keys()),
    }
    let r2 = fx.fetch();
    assert_eq!(r2.code, 0, "{}", r2.describe());
    assert!(r2.stats.fetched.is_empty(), "{}", r2.describe());
    assert_eq!(fx.check("three folders, again"), fx.all());
}

#[test]
fn several_folders_by_pattern_delete() {
    several_folders(&["*"], Mode::Delete);
}

#[test]
fn several_folders_by_pattern_keep() {
    several_folders(&["*"], Mode::Keep);
}

#[test]
fn several_folders_by_utf8_names() {
    several_folders(&["INBOX", LISTS, DRAFTS_UTF8], Mode::Delete);
}

/// Cuts in the second and third folder of a session.
mod cut_in_later_folders {
    use super::*;

    fn run(fault: Fault, mode: Mode) {
        fault_then_rerun_with(
            three_folders(),
            Config::with_caps(CAPS_FULL),
            mode,
            fault,
            &[75],
        );
    }

    #[test]
    fn after_second_select() {
        for c in [Close::Fin, Close::Rst] {
            run(Fault::CutAfter(Step::Reply("SELECT", 2), c), Mode::Delete);
        }
    }

    #[test]
    fn in_body_of_second_folder() {
        for c in [Close::Fin, Close::Rst] {
            run(
                Fault::CutInBody {
                    nth: 6,
                    after_bytes: 20,
                    close: c,
                },
                Mode::Delete,
            );
            run(
                Fault::CutInBody {
                    nth: 6,
                    after_bytes: 20,
                    close: c,
                },
                Mode::Keep,
            );
        }
    }

    #[test]
    fn after_second_expunge() {
        for c in [Close::Fin, Close::Rst] {
            run(
                Fault::CutAfter(Step::Reply("UID EXPUNGE", 2), c),
                Mode::Delete,
            );
        }
    }

    #[test]
    fn store_unanswered_in_third_folder() {
        run(
            Fault::CutUnanswered(Step::Reply("UID STORE", 3), Close::Rst),
            Mode::Delete,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Other servers and situations

#[test]
fn capabilities_not_in_greeting_and_uid_after_body() {
    let mut config = Config::with_caps(CAPS_FULL);
    config.caps_in_greeting = false;
    config.uid_last = true;
    let fx = Fx::with_config(vec![inbox()], config, Mode::Delete);
    let r = fx.fetch_with(Invocation {
        verbosity: "-vv",
        ..Invocation::default()
    });
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(!r.stats.commands_with("CAPABILITY").is_empty());
    assert_eq!(fx.check("caps later, UID last"), fx.all());
    assert!(fx.server.keys().is_empty());
}

/// Many messages, pipelined: cuts while many are on the wire.
#[test]
fn two_hundred_messages_cut_while_pipelining() {
    let many = || {
        Folder::new(
            INBOX,
            9,
            (1..=200)
                .map(|i| small(INBOX, i * 2, &format!("m{i}"), &format!("message {i}\r\n")))
                .collect(),
        )
    };
    for close in [Close::Fin, Close::Rst] {
        for fault in [
            Fault::CutInBody {
                nth: 150,
                after_bytes: 40,
                close,
            },
            Fault::CutAfterBody { nth: 64, close },
            Fault::CutAfter(Step::Reply("UID STORE", 1), close),
            Fault::CutBeforeTagged(Step::Reply("UID EXPUNGE", 1), close),
        ] {
            fault_then_rerun_with(
                vec![many()],
                Config::with_caps(CAPS_FULL),
                Mode::Delete,
                fault,
                &[75],
            );
        }
    }
}

/// A cut at every byte of a body literal and of the `)` CRLF after it (FIN and RST in turn):
/// never a delivery of an incomplete literal, always exit 75, and finally a clean delivery.
#[test]
fn cut_at_every_byte_of_a_body() {
    let folder = Folder::new(
        INBOX,
        1,
        vec![small(
            INBOX,
            1,
            "every byte",
            "a\r\n\r\n)\r\n{3}\r\nend\r\n",
        )],
    );
    let len = folder.messages[0].raw.len();
    let fx = Fx::new(vec![folder], CAPS_FULL, Mode::Keep);
    for after_bytes in 0..len + 2 {
        let close = if after_bytes % 2 == 0 {
            Close::Fin
        } else {
            Close::Rst
        };
        fx.server.fault_next(Fault::CutInBody {
            nth: 1,
            after_bytes,
            close,
        });
        let r = fx.fetch();
        let ctx = format!("cut after {after_bytes} of {len} bytes ({close:?})");
        assert_eq!(r.code, 75, "{ctx}\n{}", r.describe());
        let d = fx.check(&ctx);
        if after_bytes < len {
            assert!(d.is_empty(), "{ctx}: delivered an incomplete literal");
        }
        if !d.is_empty() {
            observed(
                &format!("delivered after a cut in the closing ')' ({ctx})"),
                r.code,
            );
            break;
        }
    }
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(fx.check("after the cuts"), fx.all());
}

/// A new UIDVALIDITY (server rebuilt its index): delivered messages are recognised by their
/// Message-ID and size, not downloaded again.
#[test]
fn new_uidvalidity_does_not_download_again() {
    let mut fx = Fx::new(vec![inbox()], CAPS_FULL, Mode::Keep);
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(fx.check("first"), fx.all());
    fx.server.renumber(INBOX, 2000);
    fx.new_uidvalidity = true;
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    // Opened read-write once, to make a server that changes it in every session keep it;
    // nothing stored or removed (the keep-mode checks of every run).
    assert_eq!(r.stats.commands_with("SELECT").len(), 1, "{}", r.describe());
    assert!(
        r.stats.fetched.is_empty(),
        "downloaded again\n{}",
        r.describe()
    );
    assert!(!r.stats.headers.is_empty(), "{}", r.describe());
    let files = run::maildir_messages(&fx.sandbox.maildir());
    assert_eq!(files.len(), 5);
}

/// New mail between runs is fetched; old mail is not fetched again.
#[test]
fn new_mail_between_runs() {
    let fx = Fx::new(vec![inbox()], CAPS_FULL, Mode::Keep);
    assert_eq!(fx.fetch().code, 0);
    let raw = "Subject: new\r\nMessage-ID: <new@scripted.test>\r\n\r\nnew\r\n";
    let uid = fx.server.append(INBOX, raw);
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert_eq!(
        r.stats.fetched.keys().cloned().collect::<Vec<_>>(),
        vec![key(INBOX, uid)],
        "{}",
        r.describe()
    );
    assert!(in_maildir(
        &fx.sandbox.maildir(),
        &run::expected_delivery(raw.as_bytes())
    ));
}

// ---------------------------------------------------------------------------------------------
// The scripted server itself, driven by a raw client

/// IMAP responses, read by a raw [`Client`].
trait ImapClient {
    /// Sends a command and returns every line up to and including the tagged one (literals
    /// are read as raw bytes and shown as `{n}<bytes>` inline).
    fn cmd(&mut self, tag: &str, cmd: &str) -> Vec<String>;
    fn until(&mut self, tag: &str) -> Vec<String>;
    /// One response line, with any literal inline.
    fn response(&mut self) -> String;
}

impl ImapClient for Client {
    fn cmd(&mut self, tag: &str, cmd: &str) -> Vec<String> {
        self.send(&format!("{tag} {cmd}"));
        self.until(tag)
    }

    fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.response();
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    fn response(&mut self) -> String {
        let mut l = self.line();
        while l.ends_with('}') {
            let open = l.rfind('{').unwrap();
            let n: usize = l[open + 1..l.len() - 1].parse().unwrap();
            let mut data = vec![0; n];
            self.reader.read_exact(&mut data).unwrap();
            l.push_str(&String::from_utf8_lossy(&data));
            l.push_str(&self.line());
        }
        l
    }
}

fn login(c: &mut Client) {
    assert!(c.line().starts_with("* OK [CAPABILITY IMAP4rev1"));
    let r = c.cmd("a1", "LOGIN alice \"secret\"");
    assert!(r.last().unwrap().starts_with("a1 OK"), "{r:?}");
}

#[test]
fn scripted_server_session() {
    let server = ScriptedImap::start(three_folders());
    let mut c = Client::connect(&server);
    assert!(c.line().starts_with("* OK [CAPABILITY IMAP4rev1 LITERAL+"));
    let r = c.cmd("a0", "SELECT INBOX");
    assert!(r[0].starts_with("a0 BAD"), "{r:?}");
    let r = c.cmd("a1", "LOGIN alice wrong");
    assert!(r[0].starts_with("a1 NO [AUTHENTICATIONFAILED]"), "{r:?}");
    // SASL PLAIN with an initial response.
    let ir = base64_encode(b"\0alice\0secret");
    let r = c.cmd("a2", &format!("AUTHENTICATE PLAIN {ir}"));
    assert!(r[0].starts_with("a2 OK [CAPABILITY"), "{r:?}");
    let r = c.cmd("a3", "LIST \"\" \"*\"");
    assert_eq!(
        r,
        vec![
            "* LIST (\\HasNoChildren) \".\" INBOX",
            "* LIST (\\HasNoChildren) \".\" \"Lists.a\"",
            "* LIST (\\HasNoChildren) \".\" \"Entw&APw-rfe\"",
            "* LIST (\\Noselect \\HasChildren) \".\" \"Lists\"",
            "a3 OK LIST completed",
        ]
    );
    let r = c.cmd("a4", "LIST \"\" \"%\"");
    assert_eq!(r.len(), 4, "{r:?}");
    let r = c.cmd("a5", "LIST \"\" \"inbox\"");
    assert_eq!(r.len(), 2, "{r:?}");
    let r = c.cmd("a6", "EXAMINE \"Entw&APw-rfe\"");
    assert!(r.contains(&"* 1 EXISTS".to_string()), "{r:?}");
    assert!(r.contains(&"* OK [UIDVALIDITY 5] UIDs valid".to_string()));
    assert!(r.last().unwrap().starts_with("a6 OK [READ-ONLY]"));
    let r = c.cmd("a7", "UID STORE 40 +FLAGS.SILENT (\\Deleted)");
    assert!(r[0].starts_with("a7 NO [READ-ONLY]"), "{r:?}");
    let r = c.cmd("a8", "SELECT \"Lists\"");
    assert!(r[0].starts_with("a8 NO [NONEXISTENT]"), "{r:?}");
    let r = c.cmd("a9", "SELECT \"INBOX\"");
    assert!(r.contains(&"* 5 EXISTS".to_string()), "{r:?}");
    assert!(r.contains(&"* OK [UIDNEXT 13] Predicted next UID".to_string()));
    assert!(r.last().unwrap().starts_with("a9 OK [READ-WRITE]"));
    let r = c.cmd("b1", "UID FETCH 1:* (UID RFC822.SIZE)");
    let sizes: Vec<String> = inbox()
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "* {} FETCH (UID {} RFC822.SIZE {})",
                i + 1,
                m.uid,
                m.raw.len()
            )
        })
        .collect();
    assert_eq!(r[..5], sizes[..]);
    // Sets: 3,5:7 → UIDs 3, 5, 6, 7; 8:* includes the last message.
    let r = c.cmd("b2", "UID FETCH 3,5:7 (UID)");
    assert_eq!(r.len(), 5, "{r:?}");
    let r = c.cmd("b3", "UID FETCH 100:* UID");
    assert_eq!(r[0], "* 5 FETCH (UID 12)");
    let r = c.cmd(
        "b4",
        "UID FETCH 6 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
    );
    assert_eq!(
        r[0],
        "* 3 FETCH (UID 6 BODY[HEADER.FIELDS (MESSAGE-ID)] {39}\
         Message-ID: <6.INBOX@scripted.test>\r\n\r\n)"
    );
    // Pipelined body fetches, answered in order; bodies are byte-exact literals.
    c.writer
        .write_all(b"c1 UID FETCH 3 (UID BODY.PEEK[])\r\nc2 UID FETCH 6:7 (UID BODY.PEEK[])\r\n")
        .unwrap();
    let r1 = c.until("c1");
    let r2 = c.until("c2");
    let m3 = String::from_utf8(inbox().messages[0].raw.clone()).unwrap();
    assert_eq!(
        r1[0],
        format!("* 1 FETCH (UID 3 BODY[] {{{}}}{m3})", m3.len())
    );
    assert_eq!(r2.len(), 3, "{r2:?}");
    // Flags persist; EXPUNGE without UIDPLUS is reserved for EXPUNGE, UID EXPUNGE needs a set.
    let r = c.cmd("d1", "UID STORE 3,7 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(r, vec!["d1 OK UID STORE completed"]);
    let r = c.cmd("d2", "UID STORE 12 +FLAGS (\\Seen)");
    assert_eq!(r[0], "* 5 FETCH (UID 12 FLAGS (\\Seen))");
    let r = c.cmd("d3", "UID SEARCH DELETED");
    assert_eq!(r[0], "* SEARCH 3 7");
    let r = c.cmd("d4", "UID EXPUNGE 7");
    assert_eq!(r, vec!["* 4 EXPUNGE", "d4 OK UID EXPUNGE completed"]);
    // Cut the connection: \Deleted on UID 3 stays.
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.uids(INBOX), vec![3, 5, 6, 12]);
    assert_eq!(server.deleted_uids(INBOX), vec![3]);
    let mut c = Client::connect(&server);
    login(&mut c);
    c.cmd("e1", "SELECT INBOX");
    let r = c.cmd("e2", "EXPUNGE");
    assert_eq!(r, vec!["* 1 EXPUNGE", "e2 OK EXPUNGE completed"]);
    let r = c.cmd("e3", "LOGOUT");
    assert_eq!(r[0], "* BYE scripted IMAP server logging out");
    assert!(r[1].starts_with("e3 OK"));
    assert!(c.rest().unwrap().is_empty());
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.uids(INBOX), vec![5, 6, 12]);
    let st = server.stats();
    assert_eq!(st.logins, 2);
    assert_eq!(st.failed_logins, 1);
    assert_eq!(st.complete_of(INBOX, 3), 1);
    assert_eq!(st.complete_of(INBOX, 7), 1);
    assert_eq!(st.stored_of(INBOX, 7), 1);
    assert_eq!(st.headers.len(), 1);
    assert_eq!(st.expunged, vec![key(INBOX, 7), key(INBOX, 3)]);
    assert!(st.max_pipeline_depth >= 2);
    // SELECT before login, STORE on a read-only mailbox.
    assert_eq!(st.violations.len(), 2, "{:#?}", st.violations);
    assert!(!st
        .commands
        .iter()
        .any(|c| c.line.contains("secret") || c.line.contains(&ir)));
}

#[test]
fn scripted_server_without_uidplus_literals_and_sasl_continuation() {
    let server = ScriptedImap::with_config(Config::with_caps(CAPS_MINIMAL), three_folders());
    let mut c = Client::connect(&server);
    assert_eq!(c.line(), "* OK [CAPABILITY IMAP4rev1] scripted IMAP ready");
    // AUTH=PLAIN is not advertised.
    let r = c.cmd("a1", "AUTHENTICATE PLAIN");
    assert!(r[0].starts_with("a1 NO"), "{r:?}");
    // A synchronizing literal.
    c.send("a2 LOGIN {5}");
    assert!(c.line().starts_with("+ "));
    c.send("alice \"secret\"");
    assert!(c.until("a2")[0].starts_with("a2 OK"));
    c.cmd("a3", "SELECT \"Lists.a\"");
    let r = c.cmd("a4", "UID EXPUNGE 1");
    assert!(r[0].starts_with("a4 BAD"), "{r:?}");
    let r = c.cmd("a5", "UID FETCH 1 BODY[]");
    assert!(r[0].starts_with("* 1 FETCH (UID 1 BODY[] {"), "{r:?}");
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    let v = server.stats().violations;
    // AUTHENTICATE not advertised, UID EXPUNGE without UIDPLUS, BODY[] without PEEK.
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(server.folder(LISTS).messages[0].has_flag("\\Seen"));

    // SASL PLAIN with a continuation; capabilities not in the greeting.
    let mut config = Config::with_caps(&["IMAP4rev1", "AUTH=PLAIN"]);
    config.caps_in_greeting = false;
    server.set_config(config);
    let mut c = Client::connect(&server);
    assert_eq!(c.line(), "* OK scripted IMAP ready");
    let r = c.cmd("b1", "CAPABILITY");
    assert_eq!(r[0], "* CAPABILITY IMAP4rev1 AUTH=PLAIN");
    c.send("b2 AUTHENTICATE PLAIN");
    assert_eq!(c.line(), "+ ");
    c.send(&base64_encode(b"\0alice\0secret"));
    assert_eq!(c.until("b2"), vec!["b2 OK Logged in"]);
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.stats().violations.len(), 3);
}

#[test]
fn scripted_server_faults() {
    let server = ScriptedImap::start(three_folders());
    let m5 = inbox().messages[1].raw.clone();

    // Cut in the middle of the 2nd body literal: the response up to 10 bytes of it, then EOF.
    server.fault_next(Fault::CutInBody {
        nth: 2,
        after_bytes: 10,
        close: Close::Fin,
    });
    let mut c = Client::connect(&server);
    login(&mut c);
    c.cmd("s", "SELECT INBOX");
    c.send("f1 UID FETCH 3:5 (UID BODY.PEEK[])");
    let mut all = c.rest().unwrap();
    let head = format!("* 2 FETCH (UID 5 BODY[] {{{}}}\r\n", m5.len());
    let at = all
        .windows(head.len())
        .position(|w| w == head.as_bytes())
        .unwrap();
    let tail = all.split_off(at + head.len());
    assert_eq!(tail, m5[..10]);

    // A literal announced 5 bytes short.
    server.fault_next(Fault::LiteralShort { nth: 1, by: 5 });
    c = Client::connect(&server);
    login(&mut c);
    c.cmd("s", "SELECT INBOX");
    c.send("f1 UID FETCH 7 (UID BODY.PEEK[])");
    let l = c.line();
    let m7 = &inbox().messages[3].raw;
    assert_eq!(l, format!("* 4 FETCH (UID 7 BODY[] {{{}}}", m7.len() - 5));
    let mut data = vec![0; m7.len() + 3];
    c.reader.read_exact(&mut data).unwrap();
    assert_eq!(&data[..m7.len()], &m7[..]);
    assert_eq!(&data[m7.len()..], b")\r\n");
    drop(c);

    // RST after the greeting.
    server.fault_next(Fault::CutAfter(Step::Greeting, Close::Rst));
    c = Client::connect(&server);
    c.assert_reset();

    // STORE executed but unanswered: the flag persists.
    server.fault_next(Fault::CutUnanswered(
        Step::Reply("UID STORE", 1),
        Close::Fin,
    ));
    c = Client::connect(&server);
    login(&mut c);
    c.cmd("s", "SELECT INBOX");
    c.send("t1 UID STORE 12 +FLAGS.SILENT (\\Deleted)");
    assert!(c.rest().unwrap().is_empty());
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.deleted_uids(INBOX), vec![12]);

    // EXPUNGE's untagged responses, then the cut before the tagged OK.
    server.fault_next(Fault::CutBeforeTagged(
        Step::Reply("UID EXPUNGE", 1),
        Close::Fin,
    ));
    c = Client::connect(&server);
    login(&mut c);
    c.cmd("s", "SELECT INBOX");
    c.send("x1 UID EXPUNGE 12");
    assert_eq!(c.rest().unwrap(), b"* 5 EXPUNGE\r\n");
    drop(c);
    server.wait_idle(Duration::from_secs(5));
    assert_eq!(server.uids(INBOX), vec![3, 5, 6, 7]);

    // Garbage instead of SELECT's reply, then BYE after the next command.
    server.fault_next(Fault::GarbageAt(Step::Reply("SELECT", 1)));
    server.fault_next(Fault::ByeAfter(Step::Reply("NOOP", 1)));
    c = Client::connect(&server);
    login(&mut c);
    c.send("s SELECT INBOX");
    assert_eq!(c.line(), imap::GARBAGE);
    let r = c.cmd("n", "NOOP");
    assert_eq!(r, vec!["n OK NOOP completed"]);
    assert_eq!(c.line(), "* BYE scripted server shutting down");
    assert!(c.rest().unwrap().is_empty());

    // Login refused by a fault; a greeting BYE.
    server.fault_next(Fault::LoginReply("NO [UNAVAILABLE] try later".into()));
    c = Client::connect(&server);
    c.line();
    assert_eq!(
        c.cmd("l", "LOGIN alice secret"),
        vec!["l NO [UNAVAILABLE] try later"]
    );
    drop(c);
    server.fault_next(Fault::GreetingBye("server going down".into()));
    c = Client::connect(&server);
    assert_eq!(c.line(), "* BYE server going down");
    assert!(c.rest().unwrap().is_empty());

    // Silent after LOGIN: nothing more comes.
    server.fault_next(Fault::SilentAfter(Step::Login));
    c = Client::connect(&server);
    login(&mut c);
    c.assert_silent_after("n NOOP");
    drop(c);

    // LOGOUT unanswered.
    server.fault_next(Fault::CutBefore(Step::Reply("LOGOUT", 1), Close::Fin));
    c = Client::connect(&server);
    login(&mut c);
    c.send("o LOGOUT");
    assert!(c.rest().unwrap().is_empty());
    drop(c);

    server.wait_idle(Duration::from_secs(5));
    let st = server.stats();
    assert_eq!(st.connections, 10);
    assert!(st.violations.is_empty(), "{:#?}", st.violations);
    assert_eq!(st.bodies_of(INBOX, 5), 1);
    assert_eq!(st.complete_of(INBOX, 5), 0);
    assert_eq!(st.complete_of(INBOX, 3), 1);
}

/// With a filter, headers are fetched (BODY.PEEK[HEADER]) before any body. A connection cut
/// at any of the session's UID FETCH commands, before or in its reply, loses and doubles
/// nothing: a clean re-run delivers every message exactly once and empties the server.
#[test]
fn cut_while_reading_headers_for_a_filter() {
    for n in 1..=3 {
        for fault in [
            Fault::CutBefore(Step::Reply("UID FETCH", n), Close::Fin),
            Fault::CutBeforeTagged(Step::Reply("UID FETCH", n), Close::Rst),
        ] {
            let ctx = format!("{fault:?} with a filter");
            let fx = Fx::new(vec![inbox()], CAPS_FULL, Mode::Delete);
            let filter = Invocation {
                args: &["--filter", "cat >/dev/null; exit 0"],
                ..Invocation::default()
            };
            fx.server.fault_next(fault.clone());
            let r1 = fx.fetch_with(filter);
            assert_ne!(r1.code, 0, "{ctx}\n{}", r1.describe());
            fx.check(&ctx);
            let r2 = fx.fetch_with(Invocation {
                args: &["--filter", "cat >/dev/null; exit 0"],
                ..Invocation::default()
            });
            assert_eq!(r2.code, 0, "{ctx}: re-run\n{}", r2.describe());
            assert_eq!(fx.check(&ctx), fx.all(), "{ctx}\n{}", r2.describe());
            assert!(fx.server.keys().is_empty(), "{ctx}: server not emptied");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 11: a server is not trusted

/// Peak anonymous memory a run may use, KiB: mailpull's own need (a few MiB) plus a response
/// at its bound (8 MiB, held at most a few times over while it is parsed).
const MAX_ANON_KIB: u64 = 48 * 1024;

/// Class 2: numbers the server merely claims (`* 4294967295 EXISTS`, a FETCH of message
/// 4294967295) cost no memory: before, the session resized a vector to that length (16 GiB).
#[test]
fn claimed_message_numbers_allocate_nothing() {
    for inject in [
        "* 100000000 EXISTS\r\n",
        "* 4294967295 EXISTS\r\n",
        "* 4294967295 FETCH (UID 1 FLAGS ())\r\n",
        "* 4294967295 EXISTS\r\n* 4294967294 FETCH (UID 99 FLAGS (\\Seen))\r\n",
    ] {
        for step in [Step::Reply("SELECT", 1), Step::Reply("UID FETCH", 1)] {
            let fx = Fx::new(vec![inbox()], CAPS_FULL, Mode::Delete);
            fx.server
                .fault_next(Fault::InjectBeforeTagged(step.clone(), inject.into()));
            let r = fx.fetch();
            let ctx = format!("{inject:?} at {step:?}\n{}", r.describe());
            assert_ne!(r.code, 101, "{ctx}");
            assert_ne!(r.code, 134, "{ctx}");
            assert!(
                r.peak_anon_kib < MAX_ANON_KIB,
                "{} KiB of anonymous memory: {ctx}",
                r.peak_anon_kib
            );
            fx.check(&ctx);
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{ctx}\nre-run:\n{}", r2.describe());
            assert_eq!(fx.check(&ctx), fx.all(), "{ctx}");
        }
    }
}

/// A message whose last bytes are a space and a short word: announced 5 bytes short, the byte
/// after the announced end is the space, which a FETCH response may continue with.
fn inbox_ending_in_a_word() -> Folder {
    Folder::new(
        INBOX,
        1000,
        vec![
            small(INBOX, 3, "one", "Thanks, see you ok\r\n"),
            small(INBOX, 4, "two", "Second message.\r\n"),
            small(INBOX, 5, "three", "Third.\r\n)\r\n"),
        ],
    )
}

/// Class 3: a `BODY[]` literal announced 5 bytes short where the byte after the announced end
/// is a space. Before, the prefix was delivered and recorded, then the response failed to
/// parse (exit 76), and the next run never fetched the message again (with --no-keep the
/// original would have been expunged). Now the end of the message is reported only after the
/// rest of its FETCH response parsed.
#[test]
fn short_literal_followed_by_a_space_delivers_nothing_truncated() {
    for mode in [Mode::Delete, Mode::Keep] {
        for (nth, by) in [(1, 5), (3, 3), (2, 1)] {
            let fx = Fx::new(vec![inbox_ending_in_a_word()], CAPS_FULL, mode);
            fx.server.fault_next(Fault::LiteralShort { nth, by });
            let r1 = fx.fetch();
            let ctx = format!("{mode:?}, body {nth} short by {by}");
            assert_eq!(r1.code, 76, "{ctx}\n{}", r1.describe());
            // No truncated copy (the check panics on one), nothing flagged undelivered.
            let d1 = fx.check(&ctx);
            let k = r1.stats.fetch_log[nth - 1].clone();
            assert!(
                !d1.contains(&k),
                "{ctx}: {k:?} delivered\n{}",
                r1.describe()
            );
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{ctx}\n{}", r2.describe());
            assert_eq!(r2.stats.bodies_of(&k.0, k.1), 1, "{ctx}: not fetched again");
            assert_eq!(fx.check(&ctx), fx.all(), "{ctx}");
        }
    }
}

/// Class 6: asked for `I*` (INBOX), a server that also lists `Private` (and 50,000 more names)
/// must not get them opened, fetched or, with --no-keep, expunged.
#[test]
fn list_names_nobody_asked_for_are_ignored() {
    let private = Folder::new(
        "Private",
        7,
        vec![small("Private", 1, "secret", "Not for mailpull.\r\n")],
    );
    let mut extra = b"* LIST () \".\" Private\r\n* LIST () \".\" \"Lists.a\"\r\n".to_vec();
    for i in 0..50_000 {
        extra.extend_from_slice(format!("* LIST () \".\" \"junk{i}\"\r\n").as_bytes());
    }
    for mode in [Mode::Delete, Mode::Keep] {
        let fx = Fx::new(vec![inbox(), private.clone()], CAPS_FULL, mode);
        // A pattern that answers INBOX only (the fixture asks for `*` when there are several
        // folders; INBOX by name is opened without a LIST).
        let fx = Fx {
            folder_args: vec!["I*".into()],
            ..fx
        };
        fx.server.fault_next(Fault::InjectBeforeTagged(
            Step::Reply("LIST", 1),
            extra.clone(),
        ));
        let r = fx.fetch();
        assert_eq!(r.code, 0, "{mode:?}\n{}", r.describe());
        let opened: Vec<&str> = r
            .stats
            .commands
            .iter()
            .filter(|c| c.name == "SELECT" || c.name == "EXAMINE")
            .map(|c| c.line.as_str())
            .collect();
        assert_eq!(opened.len(), 1, "{mode:?}: {opened:?}");
        assert!(opened[0].ends_with("\"INBOX\""), "{opened:?}");
        assert_eq!(fx.server.uids("Private"), [1], "{mode:?}");
        assert!(fx.server.deleted_uids("Private").is_empty());
        assert!(
            r.stderr.contains("do not match it"),
            "{mode:?}: no warning\n{}",
            r.describe()
        );
        assert_eq!(
            r.stderr.matches("do not match it").count(),
            1,
            "{mode:?}: one warning for all the names"
        );
    }
}

/// Class 10: a 60 MiB LIST line. Before: 972 MB peak RSS and the whole name repeated in the
/// error. Now: refused once 8 MiB have arrived, a short error, little memory.
#[test]
fn a_60_mib_line_is_refused_with_little_memory_and_a_short_error() {
    let mut line = b"* LIST () \".\" \"".to_vec();
    line.resize(60 << 20, b'x');
    line.extend_from_slice(b"\"\r\n");
    let mut fx = Fx::new(vec![inbox()], CAPS_FULL, Mode::Delete);
    // A pattern, so that mailpull lists (INBOX by name is opened without a LIST).
    fx.folder_args = vec!["*".into()];
    fx.server
        .fault_next(Fault::InjectBeforeTagged(Step::Reply("LIST", 1), line));
    let r = fx.fetch();
    assert_eq!(r.code, 76, "{}", r.describe());
    assert!(
        r.peak_anon_kib < MAX_ANON_KIB,
        "{} KiB of anonymous memory",
        r.peak_anon_kib
    );
    assert!(
        r.stderr.len() < 4000,
        "{} bytes of stderr:\n{}",
        r.stderr.len(),
        &r.stderr[..r.stderr.len().min(2000)]
    );
    assert!(r.stderr.contains("longer than 8 MiB"), "{}", r.stderr);
    assert!(fx.check("60 MiB line").is_empty());
}

/// Class 12: `* BYE` without text ends the session cleanly (exit 75, "the server ended the
/// session"), not as an unparseable response.
#[test]
fn bye_without_text_is_understood() {
    for step in [
        Step::Login,
        Step::Reply("SELECT", 1),
        Step::Reply("UID FETCH", 1),
    ] {
        let fx = Fx::new(vec![inbox()], CAPS_FULL, Mode::Delete);
        fx.server.fault_next(Fault::InjectBeforeTagged(
            step.clone(),
            b"* BYE\r\n".to_vec(),
        ));
        fx.server
            .fault_next(Fault::CutAfter(step.clone(), Close::Fin));
        let r = fx.fetch();
        assert_eq!(r.code, 75, "{step:?}\n{}", r.describe());
        assert!(
            r.stderr.contains("the server ended the session"),
            "{step:?}\n{}",
            r.describe()
        );
        assert!(
            !r.stderr.contains("could not be parsed"),
            "{}",
            r.describe()
        );
        fx.check(&format!("BYE at {step:?}"));
    }
}

/// `-vv` shows whole protocol lines (a CAPABILITY line of 400 bytes); `-v` shortens them.
#[test]
fn very_verbose_shows_whole_lines() {
    let mut caps: Vec<String> = CAPS_FULL.iter().map(|s| s.to_string()).collect();
    for i in 0..40 {
        caps.push(format!("X-LONG-CAPABILITY-{i:02}"));
    }
    let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
    let fx = Fx::new(vec![inbox()], &caps, Mode::Keep);
    let whole = format!(
        "S: * OK [CAPABILITY {}] scripted IMAP ready",
        caps.join(" ")
    );
    let r = fx.fetch_with(Invocation {
        verbosity: "-vv",
        ..Invocation::default()
    });
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(r.stderr.contains(&whole), "{}", r.stderr);
    // Bodies are not shown, and the login is redacted (checked by fetch_with).
    assert!(!r.stderr.contains("First message."), "{}", r.stderr);
    let fx = Fx::new(vec![inbox()], &caps, Mode::Keep);
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(!r.stderr.contains(&whole), "{}", r.stderr);
    assert!(
        r.stderr.contains("S: * OK [CAPABILITY IMAP4rev1"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 10: UTF8=ACCEPT (RFC 6855)

/// A server that offers UTF8=ACCEPT and downgrades messages with UTF-8 header fields for
/// clients that do not enable it.
fn downgrading() -> Config {
    let mut caps: Vec<&str> = CAPS_FULL.to_vec();
    caps.extend(["ENABLE", "UTF8=ACCEPT"]);
    let mut c = Config::with_caps(&caps);
    c.downgrade = true;
    c
}

/// INBOX with a message whose header holds raw UTF-8, and a folder with a non-ASCII name.
fn utf8_folders() -> Vec<Folder> {
    vec![
        Folder::new(
            INBOX,
            1000,
            vec![
                small(INBOX, 3, "Grüße aus Köln", "Hallo.\r\n"),
                small(INBOX, 4, "plain", "ASCII only.\r\n"),
            ],
        ),
        Folder::new(
            DRAFTS_WIRE,
            5,
            vec![small(DRAFTS_WIRE, 40, "Entwurf für dich", "Entwurf\r\n")],
        ),
    ]
}

/// mailpull enables UTF8=ACCEPT where offered, so a downgrading server hands over the
/// original messages (the Maildir check fails on a downgraded copy), in both modes, by name and
/// by pattern; folder names travel in UTF-8 after ENABLE (the server records a violation for
/// a modified UTF-7 name then).
#[test]
fn utf8_accept_delivers_the_original_messages() {
    for mode in [Mode::Delete, Mode::Keep] {
        for folders in [vec!["*"], vec!["INBOX", DRAFTS_UTF8]] {
            let fx = Fx::with_config(utf8_folders(), downgrading(), mode);
            let fx = Fx {
                folder_args: folders.iter().map(|s| s.to_string()).collect(),
                ..fx
            };
            let r = fx.fetch();
            let ctx = format!("{mode:?} {folders:?}\n{}", r.describe());
            assert_eq!(r.code, 0, "{ctx}");
            let names: Vec<&str> = r.stats.commands.iter().map(|c| c.name.as_str()).collect();
            let enable = names.iter().position(|n| *n == "ENABLE");
            let list = names.iter().position(|n| *n == "LIST");
            assert!(enable.is_some() && enable < list, "{ctx}");
            assert_eq!(fx.check(&ctx), fx.all(), "{ctx}");
            let r2 = fx.fetch();
            assert_eq!(r2.code, 0, "{}", r2.describe());
            assert!(
                r2.stats.fetched.is_empty(),
                "fetched again: {}",
                r2.describe()
            );
        }
    }
}

/// A folder fetched before the server offered UTF8=ACCEPT keeps its identity after: its name
/// decodes to the same text from modified UTF-7 and from UTF-8, so nothing is fetched twice.
#[test]
fn utf8_accept_appearing_later_fetches_nothing_twice() {
    let mut plain = Config::with_caps(CAPS_FULL);
    plain.downgrade = false;
    let fx = Fx::with_config(utf8_folders(), plain, Mode::Keep);
    let r = fx.fetch();
    assert_eq!(r.code, 0, "{}", r.describe());
    assert!(r.stats.commands_with("ENABLE").is_empty());
    fx.server.set_config(downgrading());
    let r2 = fx.fetch();
    assert_eq!(r2.code, 0, "{}", r2.describe());
    assert_eq!(r2.stats.commands_with("ENABLE").len(), 1);
    assert!(
        r2.stats.fetched.is_empty(),
        "fetched again: {}",
        r2.describe()
    );
    assert_eq!(fx.check("after UTF8=ACCEPT"), fx.all());
}
