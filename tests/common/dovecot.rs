//! A private Dovecot (POP3 + IMAP, plain/STARTTLS and implicit TLS) on loopback ports, with its
//! own configuration, users, self-signed certificate and Maildirs in a temp dir.
//!
//! `Dovecot::start()` returns `None` (after printing `skipped: dovecot not installed`) when the
//! `dovecot` binary cannot be found, unless `MAILPULL_REQUIRE_DOVECOT=1`, in which case it
//! panics. Every instance is independent, so tests may run in parallel.
//!
//! Users: `alice` and `bob`, both with password `secret`, and `carol` (see [`USERS`]).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The users every instance has and their passwords: `alice` and `bob` have [`PASSWORD`];
/// `carol` has a distinctive one, for checking that it never shows up in output.
pub const USERS: &[(&str, &str)] = &[
    ("alice", PASSWORD),
    ("bob", PASSWORD),
    ("carol", CAROL_PASSWORD),
];
/// carol's password.
pub const CAROL_PASSWORD: &str = "Zebra-7f3a9-Quux";
/// The password of every user.
pub const PASSWORD: &str = "secret";

/// A running private Dovecot. Dropping it stops the server and removes its directory.
pub struct Dovecot {
    dir: tempfile::TempDir,
    conf: PathBuf,
    child: Option<Child>,
    pop3: u16,
    pop3s: u16,
    imap: u16,
    imaps: u16,
    mail_uid: u32,
    mail_gid: u32,
    counter: AtomicU64,
}

/// Where the `dovecot` binary is, if anywhere.
pub fn dovecot_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("dovecot");
            if is_executable(&p) {
                return Some(p);
            }
        }
    }
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `None` (with the skip notice) or a panic, per `MAILPULL_REQUIRE_DOVECOT`.
fn missing(what: &str) -> Option<Dovecot> {
    if std::env::var("MAILPULL_REQUIRE_DOVECOT").as_deref() == Ok("1") {
        panic!("MAILPULL_REQUIRE_DOVECOT=1 but {what} is not installed (apt-get install dovecot-pop3d dovecot-imapd openssl)");
    }
    eprintln!("skipped: {what} not installed");
    None
}

/// Four distinct free loopback ports (all held at once while choosing, so they differ).
fn free_ports() -> [u16; 4] {
    let ls: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    let p: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    [p[0], p[1], p[2], p[3]]
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chown(p: &Path, uid: u32, gid: u32) {
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    std::os::unix::fs::chown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// getpwnam & co. return pointers into static storage: one caller at a time.
static PASSWD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn user_name(uid: u32) -> String {
    let _g = PASSWD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy out at once.
    unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() {
            panic!("no passwd entry for uid {uid}");
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

fn group_name(gid: u32) -> String {
    let _g = PASSWD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: getgrgid returns a pointer into static storage or null; we copy out at once.
    unsafe {
        let gr = libc::getgrgid(gid);
        if gr.is_null() {
            panic!("no group entry for gid {gid}");
        }
        std::ffi::CStr::from_ptr((*gr).gr_name)
            .to_string_lossy()
            .into_owned()
    }
}

fn user_exists(name: &str) -> bool {
    let c = std::ffi::CString::new(name).unwrap();
    let _g = PASSWD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: getpwnam with a valid C string.
    unsafe { !libc::getpwnam(c.as_ptr()).is_null() }
}

impl Dovecot {
    /// Starts a Dovecot with the default configuration.
    pub fn start() -> Option<Dovecot> {
        Dovecot::start_with("")
    }

    /// Starts a Dovecot with `extra` appended to its configuration (e.g. `pop3_lock_session =
    /// yes`).
    pub fn start_with(extra: &str) -> Option<Dovecot> {
        Dovecot::start_opts(true, extra)
    }

    /// Starts a Dovecot without any TLS: `ssl = no`, so no STLS/STARTTLS is offered, and no
    /// pop3s/imaps listeners (their ports refuse connections).
    pub fn start_without_tls() -> Option<Dovecot> {
        Dovecot::start_opts(false, "")
    }

    fn start_opts(tls: bool, extra: &str) -> Option<Dovecot> {
        let Some(bin) = dovecot_binary() else {
            return missing("dovecot");
        };
        if Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return missing("openssl");
        }
        // A port picked free can be taken by someone else before Dovecot binds it: retry.
        let mut last = String::new();
        for _ in 0..3 {
            match Dovecot::try_start(&bin, tls, extra) {
                Ok(d) => return Some(d),
                Err(log) => last = log,
            }
        }
        panic!("dovecot did not start; log:\n{last}");
    }

    fn try_start(bin: &Path, tls: bool, extra: &str) -> Result<Dovecot, String> {
        let dir = tempfile::Builder::new()
            .prefix("mailpull-dovecot")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();

        let is_root = unsafe { libc::geteuid() } == 0;
        let (mail_uid, mail_gid, internal_user, login_user) = if is_root {
            let internal = if user_exists("dovecot") {
                "dovecot"
            } else {
                "nobody"
            };
            let login = if user_exists("dovenull") {
                "dovenull"
            } else {
                "nobody"
            };
            (65534, 65534, internal.to_string(), login.to_string())
        } else {
            let uid = unsafe { libc::getuid() };
            let gid = unsafe { libc::getgid() };
            let me = user_name(uid);
            (uid, gid, me.clone(), me)
        };

        // Certificate.
        let cert = root.join("cert.pem");
        let key = root.join("key.pem");
        run_ok(
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", "/CN=localhost"])
                .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
            "openssl req",
        );
        std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o644)).unwrap();

        // Users, homes and Maildirs.
        let mut passwd = String::new();
        for (u, password) in USERS {
            let home = root.join("home").join(u);
            std::fs::create_dir_all(&home).unwrap();
            chown(&home, mail_uid, mail_gid);
            let md = root.join("mail").join(u);
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(md.join(sub)).unwrap();
                chown(&md.join(sub), mail_uid, mail_gid);
            }
            chown(&md, mail_uid, mail_gid);
            passwd.push_str(&format!(
                "{u}:{{PLAIN}}{password}:{mail_uid}:{mail_gid}::{}::\n",
                home.display()
            ));
        }
        let passwd_file = root.join("passwd");
        std::fs::write(&passwd_file, passwd).unwrap();
        std::fs::set_permissions(&passwd_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::create_dir_all(root.join("mail")).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::fs::set_permissions(root.join("mail"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::set_permissions(root.join("home"), std::fs::Permissions::from_mode(0o755))
            .unwrap();

        let [pop3, pop3s, imap, imaps] = free_ports();
        let r = root.display();
        let nonroot = if is_root {
            String::new()
        } else {
            // Without root there is no chroot and no privilege separation.
            format!(
                "first_valid_uid = {mail_uid}\nfirst_valid_gid = {mail_gid}\n\
                 default_internal_group = {}\n\
                 service anvil {{\n  chroot =\n}}\n\
                 service auth {{\n  user = {internal_user}\n}}\n",
                group_name(mail_gid)
            )
        };
        let login_chroot = if is_root { "" } else { "  chroot =\n" };
        let ssl = if tls { "yes" } else { "no" };
        // Port 0 disables a listener.
        let (pop3s_listen, imaps_listen) = if tls { (pop3s, imaps) } else { (0, 0) };
        let conf_text = format!(
            "\
# Private Dovecot for mailpull tests.
protocols = pop3 imap
listen = 127.0.0.1
base_dir = {r}/run
state_dir = {r}/state
instance_name = mailpull-test-{pop3}
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
debug_log_path = {r}/dovecot.log
default_internal_user = {internal_user}
default_login_user = {login_user}
ssl = {ssl}
ssl_cert = <{r}/cert.pem
ssl_key = <{r}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{r}/mail/%u
pop3_uidl_format = %08Xu%08Xv
mail_max_userip_connections = 100
# No growing penalty for repeated failed logins from 127.0.0.1 (tests fail logins on purpose);
# the fixed auth_failure_delay (2 s) stays.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = {r}/passwd
}}
userdb {{
  driver = passwd-file
  args = {r}/passwd
}}
service pop3-login {{
{login_chroot}  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s_listen}
    ssl = yes
  }}
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_listen}
    ssl = yes
  }}
}}
{nonroot}
{extra}
"
        );
        let conf = root.join("dovecot.conf");
        std::fs::write(&conf, conf_text).unwrap();

        let out = std::fs::File::create(root.join("dovecot.out")).unwrap();
        let mut cmd = Command::new(bin);
        // If the test process dies without dropping us (SIGKILL, timeout), the server goes too.
        // (The signal follows the spawning thread, which owns this value until it is dropped.)
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;

        let mut d = Dovecot {
            dir,
            conf,
            child: Some(child),
            pop3,
            pop3s,
            imap,
            imaps,
            mail_uid,
            mail_gid,
            counter: AtomicU64::new(0),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ports: &[u16] = if tls {
                &[pop3, pop3s, imap, imaps]
            } else {
                &[pop3, imap]
            };
            if ports.iter().all(|p| port_open(*p)) && d.greets() {
                return Ok(d);
            }
            let exited = d.child.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let text = d.logs();
                return Err(format!(
                    "dovecot {} (exit {exited:?}):\n{text}",
                    if exited.is_some() {
                        "exited"
                    } else {
                        "did not open its ports within 10 s"
                    }
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The POP3 greeting arrives on the plain port (the login process is really serving).
    fn greets(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.pop3)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 64];
        let ok = matches!(s.read(&mut buf), Ok(n) if n >= 3 && &buf[..3] == b"+OK");
        let _ = s.write_all(b"QUIT\r\n");
        ok
    }

    /// The contents of the server's log and its stdout/stderr (for failure messages).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["dovecot.out", "dovecot.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.path().join(f)) {
                s.push_str(&format!("--- {f}\n{t}"));
            }
        }
        s
    }

    /// The temp dir holding everything.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pop3_port(&self) -> u16 {
        self.pop3
    }
    pub fn pop3s_port(&self) -> u16 {
        self.pop3s
    }
    pub fn imap_port(&self) -> u16 {
        self.imap
    }
    pub fn imaps_port(&self) -> u16 {
        self.imaps
    }

    /// `pop3://USER@127.0.0.1:PORT` (plain port; STLS offered).
    pub fn pop3_url(&self, user: &str) -> String {
        format!("pop3://{user}@127.0.0.1:{}", self.pop3)
    }

    /// `pop3s://USER@127.0.0.1:PORT` (implicit TLS).
    pub fn pop3s_url(&self, user: &str) -> String {
        format!("pop3s://{user}@127.0.0.1:{}", self.pop3s)
    }

    /// The server's self-signed certificate (PEM), usable as `--tls-ca-file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// `sha256:HEX` of the server certificate's DER encoding, for `--tls-fingerprint`.
    pub fn cert_sha256(&self) -> String {
        use sha2::Digest;
        let out = Command::new("openssl")
            .args(["x509", "-outform", "der", "-in"])
            .arg(self.ca_file())
            .output()
            .expect("run openssl x509");
        assert!(out.status.success(), "openssl x509 failed");
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&out.stdout)))
    }

    /// The user's Maildir on the server.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user)
    }

    /// Puts a message into the user's mailbox (written to tmp/, then renamed into new/, owned
    /// by the mail user). Dovecot sees it at the next session. Returns the file's path.
    pub fn add_message(&self, user: &str, raw: &[u8]) -> PathBuf {
        self.add_message_with(user, |w| w.write_all(raw))
    }

    /// Like [`Dovecot::add_message`], but the message is written by `write` (for messages too
    /// big to hold in memory).
    pub fn add_message_with<F>(&self, user: &str, write: F) -> PathBuf
    where
        F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
    {
        let md = self.maildir(user);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let name = format!(
            "{}.M{}P{}Q{n}.harness",
            t.as_secs(),
            t.subsec_micros(),
            std::process::id()
        );
        let tmp = md.join("tmp").join(&name);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
        write(&mut f).unwrap();
        f.into_inner().unwrap();
        chown(&tmp, self.mail_uid, self.mail_gid);
        let dest = md.join("new").join(&name);
        std::fs::rename(&tmp, &dest).unwrap();
        dest
    }

    /// Adds many messages.
    pub fn add_messages<I, M>(&self, user: &str, msgs: I)
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        for m in msgs {
            self.add_message(user, m.as_ref());
        }
    }

    /// Every message still in the user's mailbox on the server (new/ and cur/), sorted.
    pub fn server_messages(&self, user: &str) -> Vec<Vec<u8>> {
        let md = self.maildir(user);
        let mut v = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(md.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                // Dovecot may rename new/ -> cur/ concurrently; a vanished file is not an error.
                if let Ok(b) = std::fs::read(e.path()) {
                    v.push(b);
                }
            }
        }
        v.sort();
        v
    }

    /// Deletes (behind Dovecot's back, as another client or an expiry job would) every message
    /// of `user` whose raw content matches `pred`. Returns how many went.
    pub fn remove_messages_where(&self, user: &str, pred: impl Fn(&[u8]) -> bool) -> usize {
        let md = self.maildir(user);
        let mut n = 0;
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(md.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    if pred(&b) && std::fs::remove_file(e.path()).is_ok() {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Number of messages on the server for `user`.
    pub fn server_count(&self, user: &str) -> usize {
        let md = self.maildir(user);
        ["new", "cur"]
            .iter()
            .map(|s| {
                std::fs::read_dir(md.join(s))
                    .map(|r| r.count())
                    .unwrap_or(0)
            })
            .sum()
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM lets the master stop its children cleanly.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn port_open(port: u16) -> bool {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("dovecot log ({}):\n{}", self.conf.display(), self.logs());
        }
    }
}

/// A realistic, unique message of about `size` bytes (CRLF line ends), identified by an
/// `X-Serial` header. Some body lines start with `.` to exercise dot-stuffing.
pub fn generated_message(serial: u64, size: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <sender{serial}@example.org>\r\n\
         From: Sender {serial} <sender{serial}@example.org>\r\n\
         To: alice@example.org\r\n\
         Subject: generated message {serial}\r\n\
         Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
         Message-ID: <{serial}.{}@mailpull.test>\r\n\
         X-Serial: {serial}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n",
        rng.u64(..)
    )
    .into_bytes();
    const WORDS: &[&str] = &[
        "lorem", "ipsum", "dolor", "sit", "amet", "mail", "fetch", "ledger", "maildir", "pop3",
        "never", "lost", "twice", "über", "ça", "naïve", "0123", "-", "--", "=",
    ];
    while m.len() < size {
        let mut line = String::new();
        if rng.u8(..) < 8 {
            line.push('.');
        }
        let target = rng.usize(10..78);
        while line.len() < target {
            line.push_str(WORDS[rng.usize(..WORDS.len())]);
            line.push(' ');
        }
        m.extend_from_slice(line.trim_end().as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// Panics with a readable summary (not megabytes of bytes) unless the two multisets of
/// messages are equal. Both are sorted first.
pub fn assert_same_messages(what: &str, mut actual: Vec<Vec<u8>>, mut expected: Vec<Vec<u8>>) {
    actual.sort();
    expected.sort();
    if actual == expected {
        return;
    }
    use std::collections::BTreeMap;
    let count = |v: &[Vec<u8>]| {
        let mut m: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for x in v {
            *m.entry(x.clone()).or_default() += 1;
        }
        m
    };
    let (a, e) = (count(&actual), count(&expected));
    let show = |b: &[u8]| {
        let head: String = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
        format!("{} bytes: {head:?}", b.len())
    };
    let mut report = format!(
        "{what}: {} messages delivered, {} expected\n",
        actual.len(),
        expected.len()
    );
    let mut n = 0;
    for (m, k) in &e {
        let got = a.get(m).copied().unwrap_or(0);
        if got != *k && n < 10 {
            n += 1;
            report.push_str(&format!("expected {k}x, got {got}x: {}\n", show(m)));
        }
    }
    for (m, k) in &a {
        if !e.contains_key(m) && n < 20 {
            n += 1;
            report.push_str(&format!("unexpected {k}x: {}\n", show(m)));
        }
    }
    panic!("{report}");
}

// ---------------------------------------------------------------------------------------------
// IMAP helpers: URLs, folders, UIDs, flags and logins (through `doveadm` with this instance's
// configuration, so they work while the server runs).

/// A message as Dovecot lists it: its UID, its flags, and its Maildir file's base name (the
/// file name without the `:2,FLAGS` part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMessage {
    pub uid: u32,
    pub flags: Vec<String>,
    pub file: String,
}

impl Dovecot {
    /// `imap://USER@127.0.0.1:PORT` (plain port; STARTTLS offered unless started without TLS).
    pub fn imap_url(&self, user: &str) -> String {
        format!("imap://{user}@127.0.0.1:{}", self.imap)
    }

    /// `imaps://USER@127.0.0.1:PORT` (implicit TLS).
    pub fn imaps_url(&self, user: &str) -> String {
        format!("imaps://{user}@127.0.0.1:{}", self.imaps)
    }

    /// The server's configuration file (for `doveadm -c`).
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }

    /// Runs `doveadm -c CONF ARGS...` and returns its stdout; panics if it fails.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run doveadm: {e}"));
        assert!(
            out.status.success(),
            "doveadm {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates the folder `name` (UTF-8; hierarchy separator `.` with the default Maildir++
    /// layout) unless it is INBOX, and returns its Maildir directory.
    pub fn create_mailbox(&self, user: &str, name: &str) -> PathBuf {
        if name != "INBOX" {
            self.doveadm(&["mailbox", "create", "-u", user, name]);
        }
        self.mailbox_dir(user, name)
    }

    /// The Maildir directory of a folder (`INBOX` is the user's Maildir root).
    pub fn mailbox_dir(&self, user: &str, name: &str) -> PathBuf {
        if name == "INBOX" {
            return self.maildir(user);
        }
        let out = self.doveadm(&["mailbox", "path", "-u", user, name]);
        PathBuf::from(out.trim())
    }

    /// Puts a message into the Maildir directory `dir` of a folder (see
    /// [`Dovecot::mailbox_dir`]), like [`Dovecot::add_message`] does for INBOX.
    pub fn add_message_in_dir(&self, dir: &Path, raw: &[u8]) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let name = format!(
            "{}.M{}P{}Q{n}.harness",
            t.as_secs(),
            t.subsec_micros(),
            std::process::id()
        );
        let tmp = dir.join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        chown(&tmp, self.mail_uid, self.mail_gid);
        let dest = dir.join("new").join(&name);
        std::fs::rename(&tmp, &dest).unwrap();
        dest
    }

    /// Puts a message into folder `mailbox` of `user` (which must exist).
    pub fn add_message_in(&self, user: &str, mailbox: &str, raw: &[u8]) -> PathBuf {
        self.add_message_in_dir(&self.mailbox_dir(user, mailbox), raw)
    }

    /// Every message (file) in a folder's Maildir directory, sorted; messages flagged
    /// `\Deleted` but not expunged are still there.
    pub fn mailbox_messages(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        let dir = self.mailbox_dir(user, mailbox);
        let mut v = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    v.push(b);
                }
            }
        }
        v.sort();
        v
    }

    /// The folder's UIDVALIDITY, as Dovecot reports it.
    pub fn uidvalidity(&self, user: &str, mailbox: &str) -> u32 {
        let out = self.doveadm(&[
            "-f",
            "tab",
            "mailbox",
            "status",
            "-u",
            user,
            "uidvalidity",
            mailbox,
        ]);
        let line = out
            .lines()
            .nth(1)
            .unwrap_or_else(|| panic!("no status: {out:?}"));
        line.rsplit('\t')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
    }

    /// The folder's messages as Dovecot lists them (UID order).
    pub fn server_uids(&self, user: &str, mailbox: &str) -> Vec<ServerMessage> {
        let out = self.doveadm(&[
            "-f",
            "tab",
            "fetch",
            "-u",
            user,
            "uid flags guid",
            "mailbox",
            mailbox,
            "ALL",
        ]);
        out.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 3, "bad doveadm fetch line {l:?}");
                ServerMessage {
                    uid: f[0].parse().unwrap(),
                    flags: f[1].split_whitespace().map(str::to_owned).collect(),
                    file: f[2].to_string(),
                }
            })
            .collect()
    }

    /// Adds `flags` (e.g. `\Deleted`) to message `uid` of a folder, as another client would.
    pub fn add_flags(&self, user: &str, mailbox: &str, uid: u32, flags: &str) {
        let uid = uid.to_string();
        self.doveadm(&[
            "flags", "add", "-u", user, flags, "mailbox", mailbox, "uid", &uid,
        ]);
    }

    /// Gives a folder a new UIDVALIDITY and its messages new UIDs (`uid_of(content)`, called
    /// once per message file in no particular order; the UIDs must be distinct and non-zero),
    /// as a server does after rebuilding its indexes: rewrites the Maildir's `dovecot-uidlist`
    /// and removes the indexes. No session may be open. Checks
    /// through doveadm that Dovecot took the new numbers.
    pub fn reassign_uids(
        &self,
        user: &str,
        mailbox: &str,
        uidvalidity: u32,
        mut uid_of: impl FnMut(&[u8]) -> u32,
    ) {
        let dir = self.mailbox_dir(user, mailbox);
        let mut rows: Vec<(u32, String)> = Vec::new();
        for sub in ["new", "cur"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let base = name.split(':').next().unwrap().to_string();
                rows.push((uid_of(&std::fs::read(e.path()).unwrap()), base));
            }
        }
        rows.sort();
        let mut uids: Vec<u32> = rows.iter().map(|r| r.0).collect();
        uids.dedup();
        assert!(
            uids.len() == rows.len() && uids.first() != Some(&0),
            "reassign_uids: UIDs must be distinct and non-zero"
        );
        let next = uids.last().copied().unwrap_or(0) + 1;
        let mut text = format!("3 V{uidvalidity} N{next}\n");
        for (uid, base) in &rows {
            text.push_str(&format!("{uid} :{base}\n"));
        }
        let list = dir.join("dovecot-uidlist");
        std::fs::write(&list, text).unwrap();
        chown(&list, self.mail_uid, self.mail_gid);
        // The folder's indexes, and the mailbox list index (it caches UIDVALIDITYs).
        for (d, prefix) in [
            (dir.clone(), "dovecot.index"),
            (self.maildir(user), "dovecot.list.index"),
        ] {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix) {
                    std::fs::remove_file(e.path()).unwrap();
                }
            }
        }
        assert_eq!(
            self.uidvalidity(user, mailbox),
            uidvalidity,
            "UIDVALIDITY not taken"
        );
        let got: Vec<(u32, String)> = self
            .server_uids(user, mailbox)
            .into_iter()
            .map(|m| (m.uid, m.file))
            .collect();
        assert_eq!(got, rows, "Dovecot did not take the new UIDs");
    }

    /// How many IMAP logins of `user` the server has logged so far.
    pub fn imap_logins(&self, user: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
        let needle = format!("Login: user=<{user}>");
        log.lines()
            .filter(|l| l.contains("imap-login:") && l.contains(&needle))
            .count()
    }
}

/// Messages that exercise IMAP literals and the conversion to LF: lines starting with dots
/// and `From `, lines that look like IMAP responses or literal announcements, CRLF and bare
/// LF input, 8-bit headers, long lines, no final newline, an empty body. Each has a distinct
/// Message-ID.
pub fn tricky_imap_messages() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"From: a@example.org\r\nSubject: dots\r\nMessage-ID: <dots@t>\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n...\r\nend\r\n.\r\n".to_vec(),
        b"From: b@example.org\r\nSubject: from lines\r\nMessage-ID: <from@t>\r\n\r\nFrom the start\r\nFrom someone@example.org Mon Jan  1 00:00:00 2024\r\n>From quoted\r\n>>From twice\r\n".to_vec(),
        // Body lines that an IMAP reader could mistake for protocol.
        b"From: c@example.org\r\nSubject: protocol lookalikes\r\nMessage-ID: <proto@t>\r\n\r\n* 1 FETCH (UID 1 BODY[] {12}\r\nA0001 OK done\r\n)\r\n* BYE\r\nliteral at the end {5}\r\n{0}\r\n".to_vec(),
        b"From: d@example.org\nSubject: bare lf\nMessage-ID: <lf@t>\n\nline one\n.dotted\nFrom here\nlast\n".to_vec(),
        "From: Jürgen Groß <j@example.org>\r\nSubject: Grüße aus Köln – ✓\r\nMessage-ID: <utf8@t>\r\n\r\nUTF-8 body: naïve café\r\n"
            .as_bytes()
            .to_vec(),
        b"From: Fran\xe7ois <f@example.org>\r\nSubject: caf\xe9 cr\xe8me\r\nMessage-ID: <latin1@t>\r\n\r\nLatin-1 body: \xe0 bient\xf4t\r\n".to_vec(),
        b"From: g@example.org\r\nSubject: no final newline\r\nMessage-ID: <nofinal@t>\r\n\r\nthe last line has no end".to_vec(),
        b"From: h@example.org\r\nSubject: empty body\r\nMessage-ID: <empty@t>\r\n\r\n".to_vec(),
    ];
    let mut long =
        b"From: i@example.org\r\nSubject: long line\r\nMessage-ID: <long@t>\r\n\r\n.".to_vec();
    long.extend(std::iter::repeat_n(b'x', 9999));
    long.extend_from_slice(b"\r\nshort line\r\n");
    v.push(long);
    let mut long_lf = b"From: j@example.org\nSubject: long lf\nMessage-ID: <longlf@t>\n\n".to_vec();
    long_lf.extend((0..6000).map(|i| b"abcdefghij"[i % 10]));
    v.push(long_lf);
    v
}
