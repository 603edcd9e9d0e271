//! A real SMTP server for the read-receipt tests: Debian's `python3-aiosmtpd`, run with
//! `/usr/bin/python3` (the `python3` on PATH may be another interpreter without it).
//!
//! Each received message is written to the server's directory as `N.json` (envelope sender,
//! recipients, whether the session was encrypted, the authenticated user) and `N.eml` (the
//! data, byte for byte). Modes: STARTTLS required (`smtp://`), implicit TLS (`smtps://`), both
//! with a throw-away certificate made by `openssl` (trust it with [`Smtp::ca_file`]); a login
//! `alice` / `secret` is accepted. An OAuth server ([`Smtp::start_oauth`]) offers only XOAUTH2
//! and accepts `alice` with one access token; any other token gets Google's error challenge,
//! and what the client answered to it is recorded ([`Smtp::xoauth2_error_answers`]). A stalling
//! server accepts the data and never answers the
//! final dot (it writes `N.stalled` first), to kill the client while it is sending.
//!
//! [`Smtp::start`] returns `None` (after printing `skipped: python3-aiosmtpd not installed`)
//! when aiosmtpd cannot be imported, unless `MAILPULL_REQUIRE_TOOLS=1`, in which case it panics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PYTHON: &str = "/usr/bin/python3";

const SERVER: &str = r#"
import asyncio, base64, json, os, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, MISSING

out, mode, stall, cert, key = sys.argv[1], sys.argv[2], sys.argv[3] == "stall", sys.argv[4], sys.argv[5]
# With a token: XOAUTH2 only, accepting alice with this token.
token = sys.argv[6].encode() if len(sys.argv) > 6 else None
counter = [0]

class Handler:
    async def handle_DATA(self, server, session, envelope):
        counter[0] += 1
        n = counter[0]
        base = os.path.join(out, str(n))
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "auth": session.auth_data.decode() if isinstance(session.auth_data, bytes) else None,
        }
        if stall:
            open(base + ".stalled", "w").close()
            await asyncio.sleep(3600)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK queued as " + str(n)

class OAuthHandler(Handler):
    async def auth_XOAUTH2(self, server, args):
        if len(args) == 2:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except Exception:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        fields = blob.split(b"\x01")
        if fields[0] == b"user=alice" and b"auth=Bearer " + token in fields[1:2]:
            return AuthResult(success=True, auth_data=b"alice")
        # Google's error challenge; the client must answer with an empty line.
        answer = await server.challenge_auth(json.dumps(
            {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}))
        with open(os.path.join(out, "xoauth2-error-answers"), "a") as f:
            f.write(repr(answer) + "\n")
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"alice" and auth_data.password == b"secret"
    return AuthResult(success=ok, auth_data=auth_data.login if ok else None)

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)

def factory():
    handler = OAuthHandler() if token else Handler()
    exclude = ["PLAIN", "LOGIN"] if token else []
    if mode == "starttls":
        return SMTP(handler, hostname="localhost", tls_context=ctx, require_starttls=True,
                    authenticator=authenticator, auth_require_tls=True,
                    auth_exclude_mechanism=exclude)
    return SMTP(handler, hostname="localhost", authenticator=authenticator,
                auth_require_tls=False, auth_exclude_mechanism=exclude)

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host="127.0.0.1", port=0,
                                      ssl=ctx if mode == "tls" else None)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"#;

/// How the server talks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `smtp://`: STARTTLS required before MAIL.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
}

/// A received message.
#[derive(Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub tls: bool,
    pub auth: Option<String>,
    pub data: Vec<u8>,
}

pub struct Smtp {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    mode: Mode,
}

fn missing() -> Option<Smtp> {
    if std::env::var("MAILPULL_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("MAILPULL_REQUIRE_TOOLS=1 but python3-aiosmtpd is not installed for {PYTHON} (apt-get install python3-aiosmtpd)");
    }
    eprintln!("skipped: python3-aiosmtpd not installed");
    None
}

impl Smtp {
    pub fn start(mode: Mode) -> Option<Smtp> {
        Smtp::start_with(mode, false, None)
    }

    /// A server that never answers the end of the data.
    pub fn start_stalling(mode: Mode) -> Option<Smtp> {
        Smtp::start_with(mode, true, None)
    }

    /// A server that offers only AUTH XOAUTH2 and accepts `alice` with `token`.
    pub fn start_oauth(mode: Mode, token: &str) -> Option<Smtp> {
        Smtp::start_with(mode, false, Some(token))
    }

    fn start_with(mode: Mode, stall: bool, token: Option<&str>) -> Option<Smtp> {
        let have = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd.smtp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !have {
            return missing();
        }
        let dir = tempfile::Builder::new()
            .prefix("mailpull-smtp")
            .tempdir()
            .unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            if std::env::var("MAILPULL_REQUIRE_TOOLS").as_deref() == Ok("1") {
                panic!("openssl failed to make a test certificate");
            }
            eprintln!("skipped: openssl not installed");
            return None;
        }
        let out = dir.path().join("received");
        std::fs::create_dir(&out).unwrap();
        let script = dir.path().join("server.py");
        std::fs::write(&script, SERVER).unwrap();
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .arg(&out)
            .arg(match mode {
                Mode::StartTls => "starttls",
                Mode::ImplicitTls => "tls",
            })
            .arg(if stall { "stall" } else { "normal" })
            .arg(&cert)
            .arg(&key)
            .args(token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("server.log")).unwrap(),
            ))
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "the SMTP server did not start ({line:?}):\n{}",
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                )
            });
        Some(Smtp {
            dir,
            child,
            port,
            mode,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL for `[receipts] smtp`, with or without the user `alice`.
    pub fn url(&self, user: bool) -> String {
        format!(
            "{}://{}127.0.0.1:{}",
            match self.mode {
                Mode::StartTls => "smtp",
                Mode::ImplicitTls => "smtps",
            },
            if user { "alice@" } else { "" },
            self.port
        )
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("received")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut v = Vec::new();
        for n in 1.. {
            let base = self.out().join(n.to_string());
            let Ok(meta) = std::fs::read(base.with_extension("json")) else {
                if base.with_extension("stalled").exists() {
                    continue;
                }
                break;
            };
            let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
            v.push(Received {
                mail_from: meta["mail_from"].as_str().unwrap_or_default().to_string(),
                rcpt_tos: meta["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect(),
                tls: meta["tls"].as_bool().unwrap_or(false),
                auth: meta["auth"].as_str().map(str::to_string),
                data: std::fs::read(base.with_extension("eml")).unwrap(),
            });
        }
        v
    }

    /// What the client answered to each XOAUTH2 error challenge (Python reprs: `b''` is the
    /// empty response RFC 7628 §3.2.3 asks for).
    pub fn xoauth2_error_answers(&self) -> Vec<String> {
        std::fs::read_to_string(self.out().join("xoauth2-error-answers"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Whether a stalling server has received the data of a message.
    pub fn stalled(&self) -> bool {
        self.out().join("1.stalled").exists()
    }

    /// Waits until `cond` holds, for at most `limit`.
    pub fn wait_for(&self, limit: Duration, cond: impl Fn(&Smtp) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if cond(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        cond(self)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
