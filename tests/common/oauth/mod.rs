//! A local OAuth 2 authorization server for the tests (`server.py` beside this file: token,
//! device authorization, authorize and introspection endpoints, plus test-control endpoints),
//! a tiny HTTP/1.1 client to drive it, and a Dovecot whose `oauth2` passdb checks every
//! XOAUTH2/OAUTHBEARER token against that server's introspection endpoint.
//!
//! `OAuthServer::start()` runs `/usr/bin/python3 server.py` on a free loopback port; dropping
//! the value kills it. Every instance is independent, so tests may run in parallel.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::dovecot::Dovecot;

/// The client id the tests configure unless they say otherwise.
pub const CLIENT_ID: &str = "mailpull-test";

/// A running authorization server. Dropping it kills the server.
pub struct OAuthServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// A token pair the server issued.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// An HTTP answer: status, headers (names lower-cased), body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/oauth/server.py")
}

impl OAuthServer {
    /// Starts a server on a free port and waits until it listens.
    pub fn start() -> OAuthServer {
        let dir = tempfile::Builder::new()
            .prefix("mailpull-oauth")
            .tempdir()
            .expect("temp dir");
        // Dovecot's auth process (another user when the tests run as root) reads files here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new("/usr/bin/python3");
        // If the test process dies without dropping us, the server goes too.
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .arg(script())
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run /usr/bin/python3 tests/common/oauth/server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the server's port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("oauth server.py did not print its port (got {line:?})")
        });
        OAuthServer { child, port, dir }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    pub fn token_url(&self) -> String {
        self.url("token")
    }
    pub fn auth_url(&self) -> String {
        self.url("authorize")
    }
    pub fn device_url(&self) -> String {
        self.url("device")
    }
    pub fn introspect_url(&self) -> String {
        self.url("introspect")
    }

    /// A directory that lives as long as the server (for Dovecot's oauth2 file, scripts, …).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// POST /control/WHAT with a JSON body; panics unless the answer is 200.
    pub fn control(&self, what: &str, arg: Value) -> Value {
        let r = http(
            "POST",
            &self.url(&format!("control/{what}")),
            "application/json",
            arg.to_string().as_bytes(),
        );
        assert_eq!(
            r.status,
            200,
            "control/{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }

    /// Everything the server knows: settings, counters, tokens.
    pub fn state(&self) -> Value {
        http_get(&self.url("control/state")).json()
    }

    /// Approves the pending device code `user_code` (or every pending one) for `user`;
    /// returns how many were approved.
    pub fn approve_device(&self, user_code: Option<&str>, user: &str) -> u64 {
        self.control(
            "approve_device",
            json!({"user_code": user_code, "user": user}),
        )["approved"]
            .as_u64()
            .unwrap()
    }

    /// Denies the pending device code `user_code` (or every pending one).
    pub fn deny_device(&self, user_code: Option<&str>) {
        self.control("deny_device", json!({ "user_code": user_code }));
    }

    /// From now on, approves every device code and authorize request at once for `user`
    /// (`None`: off).
    pub fn auto_approve(&self, user: Option<&str>) {
        self.control("auto_approve", json!({ "user": user }));
    }

    /// Approves the authorize request with `state` (or the next one) for `user`; the user
    /// `"!deny"` makes it redirect with `error=access_denied`.
    pub fn approve_authorize(&self, state: Option<&str>, user: &str) {
        self.control("approve_authorize", json!({"state": state, "user": user}));
    }

    /// Revokes one refresh token.
    pub fn revoke(&self, refresh_token: &str) -> u64 {
        self.control("revoke", json!({ "refresh_token": refresh_token }))["revoked"]
            .as_u64()
            .unwrap()
    }

    /// Revokes every refresh token of `user`.
    pub fn revoke_user(&self, user: &str) -> u64 {
        self.control("revoke", json!({ "user": user }))["revoked"]
            .as_u64()
            .unwrap()
    }

    /// Changes settings: `access_lifetime` (s), `rotate` (bool), `token_delay` (s, before the
    /// token endpoint answers), `device_interval` (s), `device_lifetime` (s).
    pub fn settings(&self, s: Value) {
        self.control("settings", s);
    }
    pub fn set_access_lifetime(&self, secs: u64) {
        self.settings(json!({ "access_lifetime": secs }));
    }
    pub fn set_rotate(&self, on: bool) {
        self.settings(json!({ "rotate": on }));
    }
    pub fn set_token_delay(&self, secs: f64) {
        self.settings(json!({ "token_delay": secs }));
    }

    /// Makes `client_id` a confidential client that must present `secret`.
    pub fn require_secret(&self, client_id: &str, secret: &str) {
        self.control(
            "client",
            json!({"client_id": client_id, "client_secret": secret}),
        );
    }

    /// Mints a token pair for `user` directly (as if a flow had run), for [`CLIENT_ID`].
    pub fn mint(&self, user: &str) -> TokenPair {
        self.mint_with(user, CLIENT_ID, None)
    }

    /// Mints a token pair for `user` and `client_id`, optionally with its own lifetime.
    pub fn mint_with(&self, user: &str, client_id: &str, lifetime: Option<u64>) -> TokenPair {
        let v = self.control(
            "mint",
            json!({"user": user, "client_id": client_id, "access_lifetime": lifetime}),
        );
        TokenPair {
            access_token: v["access_token"].as_str().unwrap().to_string(),
            refresh_token: v["refresh_token"].as_str().unwrap().to_string(),
            expires_in: v["expires_in"].as_u64().unwrap(),
        }
    }

    /// Token requests received (counted before any delay) with this grant type:
    /// `refresh_token`, `authorization_code` or `device_code`.
    pub fn token_requests(&self, grant: &str) -> u64 {
        let grant = if grant == "device_code" {
            "urn:ietf:params:oauth:grant-type:device_code"
        } else {
            grant
        };
        self.state()["counters"]["token_requests"][grant]
            .as_u64()
            .unwrap_or(0)
    }

    /// Token requests received, all grant types.
    pub fn all_token_requests(&self) -> u64 {
        self.state()["counters"]["token_requests"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum()
    }

    /// Introspection requests (Dovecot's token checks).
    pub fn introspections(&self) -> u64 {
        self.state()["counters"]["introspections"].as_u64().unwrap()
    }

    /// The refresh tokens presented to the token endpoint, in order.
    pub fn refresh_tokens_used(&self) -> Vec<String> {
        self.state()["refresh_used"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// Whether the server still accepts `refresh_token`.
    pub fn refresh_active(&self, refresh_token: &str) -> bool {
        self.state()["refresh"][refresh_token]["active"]
            .as_bool()
            .unwrap_or(false)
    }

    /// Every access and refresh token the server ever issued (for "never shown" checks).
    pub fn all_tokens(&self) -> Vec<String> {
        let s = self.state();
        let mut v = Vec::new();
        for table in ["access", "refresh"] {
            v.extend(s[table].as_object().unwrap().keys().cloned());
        }
        v
    }

    /// Writes Dovecot's oauth2 passdb file (introspection against this server) and returns
    /// its path.
    pub fn dovecot_oauth2_file(&self) -> PathBuf {
        let path = self.dir().join("dovecot-oauth2.conf.ext");
        let text = format!(
            "introspection_mode = post\n\
             introspection_url = {}\n\
             force_introspection = yes\n\
             username_attribute = username\n\
             active_attribute = active\n\
             active_value = true\n",
            self.introspect_url()
        );
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Dovecot that also offers XOAUTH2 and OAUTHBEARER and checks those tokens against
/// `server`'s introspection endpoint (passwords keep working for PLAIN/LOGIN). `None` when
/// Dovecot is not installed (see `Dovecot::start`).
pub fn dovecot_with_oauth(server: &OAuthServer) -> Option<Dovecot> {
    let file = server.dovecot_oauth2_file();
    Dovecot::start_with(&format!(
        "auth_mechanisms = plain login xoauth2 oauthbearer\n\
         passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}\n}}\n",
        file.display()
    ))
}

/// GET `url` (no redirects followed).
pub fn http_get(url: &str) -> HttpReply {
    http("GET", url, "", b"")
}

/// POST a form (`application/x-www-form-urlencoded`) to `url`.
pub fn http_post_form(url: &str, form: &[(&str, &str)]) -> HttpReply {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    http(
        "POST",
        url,
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    )
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`); plain http only.
pub fn http(method: &str, url: &str, content_type: &str, body: &[u8]) -> HttpReply {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("only http:// URLs: {url}"));
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        req.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read {url}: {e}"));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP header from {url}: {}",
                String::from_utf8_lossy(&raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line from {url}: {head}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}
