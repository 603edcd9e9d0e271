//! Mutation testing of the real `mailpull` binary against the scripted IMAP server
//! (`common::scripted_imap`): a valid session — greeting, CAPABILITY, LOGIN or AUTHENTICATE,
//! LIST, SELECT or EXAMINE of two folders, the `UID FETCH` listings, the `UID FETCH` of the
//! bodies, STORE, EXPUNGE, LOGOUT — with one seeded change to what the server sends: a byte
//! flipped, a line deleted, duplicated or inserted, a number changed, a literal length
//! changed, or the connection cut (see `scripted_imap::Mutation`).
//!
//! Oracles, for every case: mailpull does not panic or abort (exit never 101 or 134), ends
//! within a generous deadline, stays within bounded memory; the Maildir holds only whole
//! server messages, none twice; no message is flagged `\Deleted` on the server before it is in
//! the Maildir, and none is expunged that was not delivered; in keep mode nothing on the
//! server changes. Then a clean run against the honest server must deliver every message
//! exactly once, none lost — a message recorded under a wrong key would be missing, or
//! delivered twice.
//!
//! `cargo test` runs [`DEFAULT_CASES`] cases from fixed seeds (about a minute or two);
//! `IMAP_MUTATION_CASES=N` runs N, `IMAP_MUTATION_SEED=S` starts at another seed.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fault::{delivered_messages, in_maildir, run_sampled};
use common::run::{self, Sandbox};
use common::scripted_imap::{
    self as imap, key, Config, Fault, Folder, Key, Message, Mutation, ScriptedImap, Stats,
    CAPS_FULL, CAPS_MINIMAL, INBOX, LISTS,
};

/// Cases run by `cargo test`.
const DEFAULT_CASES: usize = 500;
/// Cases run at once (most of a case's time is spent waiting for a timeout).
const WORKERS: usize = 6;
/// mailpull must end within this, whatever the server sends (`--timeout 2`).
const LIMIT: Duration = Duration::from_secs(40);
/// Peak anonymous memory a run may use, KiB.
const MAX_ANON_KIB: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Mode {
    Delete,
    Keep,
}

/// The server's behaviour in a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Variant {
    /// CAPS_MINIMAL (LOGIN, synchronizing literals, SEARCH and EXPUNGE) instead of CAPS_FULL.
    minimal: bool,
    /// Capabilities only on request (a CAPABILITY command).
    caps_later: bool,
    /// UIDs after the body in FETCH responses.
    uid_last: bool,
    mode: Mode,
}

impl Variant {
    fn config(&self) -> Config {
        let mut c = Config::with_caps(if self.minimal {
            CAPS_MINIMAL
        } else {
            CAPS_FULL
        });
        c.caps_in_greeting = !self.caps_later;
        c.uid_last = self.uid_last;
        c
    }
}

fn message(folder: &str, uid: u32, body: &str) -> Message {
    Message::new(
        uid,
        format!(
            "From: Bob <bob@example.org>\r\nSubject: {folder} {uid}\r\n\
             Message-ID: <{uid}.{folder}@mutation.test>\r\n\r\n{body}"
        ),
    )
}

/// Two folders; bodies that look like protocol, one of 20 KB.
fn folders() -> Vec<Folder> {
    let mut big = String::new();
    for i in 0..300 {
        big.push_str(&format!(
            "line {i:04} of a longer message, 0123456789 abcdef\r\n"
        ));
        if i % 40 == 0 {
            big.push_str(")\r\n* 9 FETCH (UID 9 BODY[] {12}\r\nA0007 OK done\r\n");
        }
    }
    vec![
        Folder::new(
            INBOX,
            1000,
            vec![
                message(INBOX, 3, "First.\r\n"),
                message(INBOX, 5, &big),
                message(INBOX, 6, "Third {5}\r\n)\r\n"),
                message(INBOX, 9, "Fourth, see you ok\r\n"),
            ],
        ),
        Folder::new(
            LISTS,
            77,
            vec![message(LISTS, 1, "l1\r\n"), message(LISTS, 2, "l2 )\r\n")],
        ),
    ]
}

/// Lines a mutation may insert.
const INSERTS: &[&[u8]] = &[
    b"* 4294967295 EXISTS\r\n",
    b"* 0 EXISTS\r\n",
    b"* 1 EXPUNGE\r\n",
    b"* 4294967295 EXPUNGE\r\n",
    b"* 1 FETCH (UID 3 FLAGS (\\Seen))\r\n",
    b"* 2 FETCH (UID 3 RFC822.SIZE 10)\r\n",
    b"* 1 FETCH (UID 5 BODY[] {5}\r\nhello)\r\n",
    b"* LIST () \".\" Private\r\n",
    b"* BYE\r\n",
    b"* BYE shutting down\r\n",
    b"* OK [ALERT] look\r\n",
    b"* NO something\r\n",
    b"* CAPABILITY IMAP4rev1\r\n",
    b"A0003 OK done\r\n",
    b"A9999 OK done\r\n",
    b"+ go ahead\r\n",
    b"HELLO WORLD\r\n",
    b"\r\n",
    b")\r\n",
    b"* 1 FETCH (BODY[] {99999999999}\r\n",
    b"\xff\xfe\x00\r\n",
];

/// Numbers a mutation may put in place of another.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "12",
    "4294967295",
    "4294967296",
    "99999999999999999999",
];

/// Draws the mutation of case `seed` for a session of `lines` protocol lines.
fn draw(rng: &mut fastrand::Rng, lines: usize) -> Mutation {
    let line = rng.usize(..lines.max(1));
    match rng.u8(..8) {
        0 => Mutation::Flip {
            line,
            at: rng.usize(..200),
            mask: 1 << rng.u8(..8),
        },
        1 => Mutation::Delete { line },
        2 => Mutation::Duplicate { line },
        3 => {
            let bytes = if rng.bool() {
                INSERTS[rng.usize(..INSERTS.len())].to_vec()
            } else {
                let mut b: Vec<u8> = (0..rng.usize(1..40)).map(|_| rng.u8(..)).collect();
                b.extend_from_slice(b"\r\n");
                b
            };
            Mutation::Insert { line, bytes }
        }
        4 | 5 => Mutation::Number {
            line,
            nth: rng.usize(..6),
            value: if rng.bool() {
                NUMBERS[rng.usize(..NUMBERS.len())].to_string()
            } else {
                rng.u32(..30).to_string()
            },
        },
        6 => Mutation::LiteralLength {
            // Six bodies, and their header literals when the session reads any.
            literal: rng.usize(..6),
            by: [-100, -5, -3, -2, -1, 1, 2, 5, 100, 1_000_000][rng.usize(..10)],
        },
        _ => Mutation::Cut {
            line,
            at: rng.usize(..300),
        },
    }
}

/// One mailpull run.
struct Run {
    code: i32,
    stderr: String,
    stats: Stats,
    peak_anon_kib: u64,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {}, {} KiB\ncommands: {:#?}\nviolations: {:#?}\nstderr:\n{}",
            self.code,
            self.peak_anon_kib,
            self.stats
                .commands
                .iter()
                .map(|c| c.line.as_str())
                .collect::<Vec<_>>(),
            self.stats.violations,
            self.stderr
        )
    }
}

/// A server, a sandbox and what the server started with.
struct Fx {
    server: ScriptedImap,
    sandbox: Sandbox,
    initial: Vec<Folder>,
    mode: Mode,
}

impl Fx {
    fn new(v: Variant) -> Fx {
        let sandbox = Sandbox::new();
        let initial = folders();
        let server = ScriptedImap::with_config(v.config(), initial.clone());
        server.set_delete_check(delivered_check(sandbox.maildir(), &initial));
        Fx {
            server,
            sandbox,
            initial,
            mode: v.mode,
        }
    }

    fn fetch(&self) -> Run {
        let before = self.server.stats();
        let mut cmd = self.sandbox.cmd(Some(imap::PASSWORD));
        cmd.arg("-v")
            .arg("fetch")
            .arg(self.server.url())
            .args(["--insecure-no-tls", "--timeout", "2", "--folder", "*"])
            .arg("--maildir")
            .arg(self.sandbox.maildir());
        if self.mode == Mode::Delete {
            cmd.arg("--no-keep");
        }
        let s = run_sampled(cmd, LIMIT);
        self.server.wait_idle(Duration::from_secs(20));
        let code = s.output.status.code().unwrap_or_else(|| {
            panic!(
                "killed by a signal ({:?}); stderr:\n{}",
                s.output.status,
                String::from_utf8_lossy(&s.output.stderr)
            )
        });
        Run {
            code,
            stderr: String::from_utf8_lossy(&s.output.stderr).into_owned(),
            stats: self.server.stats().since(&before),
            peak_anon_kib: s.peak_anon_kib,
        }
    }

    fn all(&self) -> BTreeSet<Key> {
        self.initial
            .iter()
            .flat_map(|f| f.messages.iter().map(|m| key(&f.wire, m.uid)))
            .collect()
    }

    /// The Maildir against the server; returns what was delivered.
    fn check(&self, ctx: &str) -> BTreeSet<Key> {
        let expected: BTreeMap<Vec<u8>, Key> = self
            .initial
            .iter()
            .flat_map(|f| {
                f.messages
                    .iter()
                    .map(|m| (run::expected_delivery(&m.raw), key(&f.wire, m.uid)))
            })
            .collect();
        let delivered = delivered_messages(&self.sandbox.maildir(), &expected, ctx, |k| {
            format!("{k:?}")
        });
        let on_server = self.server.keys();
        for gone in self.all().difference(&on_server) {
            assert!(
                delivered.contains(gone),
                "{ctx}: {gone:?} expunged but never delivered"
            );
        }
        for f in self.server.folders() {
            for m in f.messages.iter().filter(|m| m.has_flag("\\Deleted")) {
                let k = key(&f.wire, m.uid);
                assert!(
                    delivered.contains(&k),
                    "{ctx}: {k:?} flagged \\Deleted but not delivered"
                );
            }
        }
        if self.mode == Mode::Keep {
            assert_eq!(on_server, self.all(), "{ctx}: keep mode removed messages");
        }
        delivered
    }
}

/// A STORE check: a message flagged `\Deleted` must already be in the Maildir.
fn delivered_check(maildir: PathBuf, folders: &[Folder]) -> imap::StoreCheck {
    let expected: HashMap<Key, Vec<u8>> = folders
        .iter()
        .flat_map(|f| {
            f.messages
                .iter()
                .map(|m| (key(&f.wire, m.uid), run::expected_delivery(&m.raw)))
        })
        .collect();
    Arc::new(move |k: &Key| match expected.get(k) {
        Some(want) if !in_maildir(&maildir, want) => {
            Err("flagged \\Deleted before the message was in the Maildir".to_string())
        }
        _ => Ok(()),
    })
}

/// The number of protocol lines of a clean session of `v` (what a mutation can aim at).
fn lines_of(v: Variant, cache: &Mutex<HashMap<Variant, usize>>) -> usize {
    if let Some(&n) = cache.lock().unwrap().get(&v) {
        return n;
    }
    let fx = Fx::new(v);
    fx.server.fault_next(Fault::Mutate(Mutation::None));
    let r = fx.fetch();
    assert_eq!(r.code, 0, "clean session of {v:?}\n{}", r.describe());
    assert!(r.stats.violations.is_empty(), "{}", r.describe());
    let n = r.stats.lines_out;
    cache.lock().unwrap().insert(v, n);
    n
}

/// Runs case `seed`; panics with its description when an oracle fails. Returns the exit code
/// of the mutated run.
fn case(seed: u64, cache: &Mutex<HashMap<Variant, usize>>) -> i32 {
    let mut rng = fastrand::Rng::with_seed(seed);
    let v = Variant {
        minimal: rng.bool(),
        caps_later: rng.u8(..4) == 0,
        uid_last: rng.u8(..4) == 0,
        mode: if rng.bool() { Mode::Delete } else { Mode::Keep },
    };
    let lines = lines_of(v, cache);
    let m = draw(&mut rng, lines);
    let fx = Fx::new(v);
    fx.server.fault_next(Fault::Mutate(m.clone()));
    let r1 = fx.fetch();
    let ctx = format!("case {seed}: {v:?}, {m:?}");
    assert!(
        !matches!(r1.code, 101 | 134) && !r1.stderr.contains("panicked"),
        "{ctx}: mailpull crashed\n{}",
        r1.describe()
    );
    assert!(
        r1.peak_anon_kib < MAX_ANON_KIB,
        "{ctx}: {} KiB of memory\n{}",
        r1.peak_anon_kib,
        r1.describe()
    );
    let premature: Vec<&String> = r1
        .stats
        .violations
        .iter()
        .filter(|v| v.contains("before the message was in the Maildir"))
        .collect();
    assert!(premature.is_empty(), "{ctx}\n{}", r1.describe());
    if v.mode == Mode::Keep {
        for name in ["UID STORE", "UID EXPUNGE", "EXPUNGE", "CLOSE"] {
            assert!(
                r1.stats.commands_with(name).is_empty(),
                "{ctx}: {name} in keep mode\n{}",
                r1.describe()
            );
        }
    }
    fx.check(&format!("{ctx}, mutated run"));

    let r2 = fx.fetch();
    let ctx2 = format!("{ctx}, clean re-run\nmutated run:\n{}", r1.describe());
    assert_eq!(r2.code, 0, "{ctx2}\nre-run:\n{}", r2.describe());
    assert_eq!(
        fx.check(&ctx2),
        fx.all(),
        "{ctx2}: not every message delivered\nre-run:\n{}",
        r2.describe()
    );
    if v.mode == Mode::Delete {
        assert!(fx.server.keys().is_empty(), "{ctx2}: messages left");
    }
    if std::env::var_os("IMAP_MUTATION_TRACE").is_some() {
        eprintln!("{ctx}: exit {}", r1.code);
    }
    r1.code
}

#[test]
fn mutated_sessions_keep_every_promise() {
    let cases: usize = std::env::var("IMAP_MUTATION_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let base: u64 = std::env::var("IMAP_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let cache = Mutex::new(HashMap::new());
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let codes = Mutex::new(BTreeMap::<i32, usize>::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= cases {
                    return;
                }
                let seed = base + i as u64;
                let r =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(seed, &cache)));
                match r {
                    Ok(code) => *codes.lock().unwrap().entry(code).or_default() += 1,
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        failures.lock().unwrap().push((seed, msg));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{cases} mutated sessions from seed {base}: {} failed; exit codes of the mutated runs \
         that passed: {:?}",
        failures.len(),
        codes.into_inner().unwrap()
    );
    if let Some((seed, msg)) = failures.first() {
        panic!(
            "{} of {cases} cases failed (seeds {:?}); the first, seed {seed}:\n{msg}",
            failures.len(),
            failures.iter().map(|(s, _)| s).collect::<Vec<_>>()
        );
    }
}
