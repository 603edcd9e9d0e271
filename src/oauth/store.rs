//! The token store: one JSON record per identity (token endpoint + client id + user), either a
//! file in the store directory (`$XDG_DATA_HOME/mailpull/oauth/`, mode 0700; files 0600,
//! written to a temporary file, fsynced, renamed over the old one and the directory fsynced,
//! so that a kill at any instant leaves the old record or the new one, never none) or through
//! the user's `token_command` (`CMD get` prints the record, `CMD put` reads it on stdin,
//! `CMD delete` forgets it; the identity is in the environment, never on argv).
//!
//! A lock file per identity (`NAME.lock`, flock) serialises refreshes: accounts sharing an
//! identity refresh once, the others wait and then read the fresh record.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::settings::{OAuthSettings, StoreLocation};
use super::OAuthError;

/// The record format's version.
const VERSION: u32 = 1;
/// How long to wait for another process refreshing the same identity.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Whose tokens: the token endpoint, the client id and the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub token_url: String,
    pub client_id: String,
    pub user: String,
}

impl Identity {
    pub fn new(settings: &OAuthSettings, user: &str) -> Identity {
        Identity {
            token_url: settings.token_url.clone(),
            client_id: settings.client_id.clone(),
            user: user.to_string(),
        }
    }

    /// The file name stem: a hash of the three parts (no user name or URL in file names).
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.token_url, &self.client_id, &self.user] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// One identity's tokens.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    pub version: u32,
    pub token_url: String,
    pub client_id: String,
    pub user: String,
    pub scopes: Vec<String>,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    /// Unix seconds; `None`: unknown (the server did not say).
    pub expires_at: Option<i64>,
    /// When the refresh token was first obtained (`mailpull auth login`), Unix seconds.
    pub obtained_at: i64,
    /// When the record was last written, Unix seconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("user", &self.user)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl TokenRecord {
    pub fn new(id: &Identity, scopes: &[String], now: i64) -> TokenRecord {
        TokenRecord {
            version: VERSION,
            token_url: id.token_url.clone(),
            client_id: id.client_id.clone(),
            user: id.user.clone(),
            scopes: scopes.to_vec(),
            refresh_token: None,
            access_token: None,
            expires_at: None,
            obtained_at: now,
            updated_at: now,
        }
    }

    /// The access token, if it stays valid for at least `margin` seconds after `now`. A token
    /// whose lifetime the server did not give is used once and then refreshed, so it counts as
    /// expired here.
    pub fn valid_access(&self, now: i64, margin: i64) -> Option<&str> {
        match (&self.access_token, self.expires_at) {
            (Some(t), Some(exp)) if exp - margin > now => Some(t),
            _ => None,
        }
    }

    fn matches(&self, id: &Identity) -> bool {
        self.token_url == id.token_url && self.client_id == id.client_id && self.user == id.user
    }
}

/// Where one account's records are, resolved from its settings.
pub struct Store {
    location: StoreLocation,
}

/// The lock on one identity, held until dropped.
pub struct IdentityLock {
    _file: File,
}

impl Store {
    pub fn new(settings: &OAuthSettings) -> Store {
        Store {
            location: settings.store.clone(),
        }
    }

    fn dir(&self) -> &Path {
        match &self.location {
            StoreLocation::Dir(d) => d,
            StoreLocation::Command { locks, .. } => locks,
        }
    }

    /// Where the record of `id` lives, for `auth status`.
    pub fn describe(&self, id: &Identity) -> String {
        match &self.location {
            StoreLocation::Dir(d) => d.join(format!("{}.json", id.key())).display().to_string(),
            StoreLocation::Command { command, .. } => format!("token_command `{command}`"),
        }
    }

    fn ensure_dir(&self) -> Result<(), OAuthError> {
        let dir = self.dir();
        crate::fs::create_private_dir(dir, true)
            .map(|_| ())
            .map_err(|e| OAuthError::Store(format!("cannot create {}: {e}", dir.display())))
    }

    /// Locks `id` (waiting up to two minutes for another process refreshing it).
    pub fn lock(&self, id: &Identity) -> Result<IdentityLock, OAuthError> {
        self.ensure_dir()?;
        let path = self.dir().join(format!("{}.lock", id.key()));
        let (file, _) = crate::fs::open_or_create(&path, crate::fs::private_file().write(true))
            .map_err(|e| OAuthError::Store(format!("cannot open {}: {e}", path.display())))?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(IdentityLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(OAuthError::Busy(format!(
                        "another mailpull has been refreshing the token of {} for {} s",
                        id.user,
                        LOCK_WAIT.as_secs()
                    )))
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(OAuthError::Store(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    )))
                }
            }
        }
    }

    /// The record of `id`, if there is one.
    pub fn load(&self, id: &Identity) -> Result<Option<TokenRecord>, OAuthError> {
        let bytes = match &self.location {
            StoreLocation::Dir(d) => {
                let path = d.join(format!("{}.json", id.key()));
                match std::fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => {
                        return Err(OAuthError::Store(format!(
                            "cannot read {}: {e}",
                            path.display()
                        )))
                    }
                }
            }
            StoreLocation::Command { command, .. } => run_command(command, "get", id, None)?,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let rec: TokenRecord = serde_json::from_slice(&bytes).map_err(|e| {
            OAuthError::Store(format!(
                "the stored token record of {} is damaged ({}: line {}); run `mailpull auth \
                 logout` and `mailpull auth login` for the account",
                id.user,
                self.describe(id),
                e.line()
            ))
        })?;
        // A record for another identity (a token_command that ignores the identity) is none.
        Ok(rec.matches(id).then_some(rec))
    }

    /// Writes the record of `id` durably (see the module doc). The caller holds the
    /// identity's [`Store::lock`].
    pub fn save(&self, id: &Identity, rec: &TokenRecord) -> Result<(), OAuthError> {
        let json = serde_json::to_vec_pretty(rec).expect("a record serialises");
        match &self.location {
            StoreLocation::Dir(d) => {
                self.ensure_dir()?;
                write_atomic(d, &format!("{}.json", id.key()), &json).map_err(|e| {
                    OAuthError::Store(format!(
                        "cannot write the token record in {}: {e}",
                        d.display()
                    ))
                })
            }
            StoreLocation::Command { command, .. } => {
                run_command(command, "put", id, Some(json)).map(|_| ())
            }
        }
    }

    /// Forgets the record of `id`; whether there was one (always `true` for a command).
    pub fn remove(&self, id: &Identity) -> Result<bool, OAuthError> {
        match &self.location {
            StoreLocation::Dir(d) => {
                let path = d.join(format!("{}.json", id.key()));
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        let _ = crate::fs::sync_dir(d);
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(OAuthError::Store(format!(
                        "cannot remove {}: {e}",
                        path.display()
                    ))),
                }
            }
            StoreLocation::Command { command, .. } => {
                run_command(command, "delete", id, None).map(|_| true)
            }
        }
    }
}

/// Writes `name` in `dir`: temp file (0600), fsync, rename, fsync of the directory.
fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    // Writers hold the identity's lock, so one temporary name per record suffices, and the
    // one a killed writer left behind is replaced here.
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = crate::fs::private_file().write(true).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(name))?;
        crate::fs::sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Runs `token_command VERB` with the identity in the environment and `input` on stdin;
/// returns its standard output.
fn run_command(
    command: &str,
    verb: &str,
    id: &Identity,
    input: Option<Vec<u8>>,
) -> Result<Vec<u8>, OAuthError> {
    let failed =
        |what: String| OAuthError::Config(format!("token_command `{command} {verb}`: {what}"));
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{command} {verb}"))
        .env("MAILPULL_OAUTH_IDENTITY", id.key())
        .env("MAILPULL_OAUTH_USER", &id.user)
        .env("MAILPULL_OAUTH_CLIENT_ID", &id.client_id)
        .env("MAILPULL_OAUTH_TOKEN_URL", &id.token_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        if let Some(data) = input {
            stdin.write_all(&data)
        } else {
            Ok(())
        }
    });
    let mut out = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(1 << 20)
        .read_to_end(&mut out);
    let status = child.wait().map_err(|e| failed(format!("{e}")))?;
    let wrote = writer.join().unwrap_or(Ok(()));
    if !status.success() {
        return Err(failed(format!("failed ({status})")));
    }
    read.map_err(|e| failed(format!("reading its output: {e}")))?;
    wrote.map_err(|e| failed(format!("writing the record to it: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::oauth::settings::{ClientSecret, Provider};

    fn settings(store: StoreLocation) -> OAuthSettings {
        OAuthSettings {
            provider: Provider::Custom,
            client_id: "cid".into(),
            client_secret: ClientSecret::None,
            auth_url: None,
            token_url: "http://127.0.0.1:1/token".into(),
            device_url: None,
            scopes: vec!["mail".into()],
            store,
        }
    }

    fn record(id: &Identity) -> TokenRecord {
        let mut r = TokenRecord::new(id, &["mail".into()], 100);
        r.refresh_token = Some("rt-1".into());
        r.access_token = Some("at-1".into());
        r.expires_at = Some(1000);
        r
    }

    #[test]
    fn file_store_round_trip_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("oauth");
        let s = settings(StoreLocation::Dir(d.clone()));
        let store = Store::new(&s);
        let id = Identity::new(&s, "alice");
        assert_eq!(store.load(&id).unwrap(), None);
        // What a writer killed before its rename leaves: ignored, then replaced.
        crate::fs::create_private_dir(&d, true).unwrap();
        let leftover = d.join(format!(".{}.json.tmp", id.key()));
        std::fs::write(&leftover, "{\"half\": ").unwrap();
        assert_eq!(store.load(&id).unwrap(), None);
        store.save(&id, &record(&id)).unwrap();
        assert!(!leftover.exists());
        assert_eq!(store.load(&id).unwrap(), Some(record(&id)));
        let file = d.join(format!("{}.json", id.key()));
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o077,
            0
        );
        // No temp files left behind; another user's identity is another file.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        let bob = Identity::new(&s, "bob");
        assert_eq!(store.load(&bob).unwrap(), None);
        assert!(store.remove(&id).unwrap());
        assert!(!store.remove(&id).unwrap());
        assert_eq!(store.load(&id).unwrap(), None);
    }

    #[test]
    fn validity_has_a_margin() {
        let s = settings(StoreLocation::Dir("/nonexistent".into()));
        let id = Identity::new(&s, "alice");
        let r = record(&id);
        assert_eq!(r.valid_access(900, 60), Some("at-1"));
        assert_eq!(r.valid_access(941, 60), None);
        let mut unknown = r.clone();
        unknown.expires_at = None;
        assert_eq!(unknown.valid_access(0, 60), None);
        assert!(!format!("{r:?}").contains("at-1"));
    }

    #[test]
    fn damaged_record_is_an_error_that_does_not_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(StoreLocation::Dir(dir.path().into()));
        let id = Identity::new(&s, "alice");
        std::fs::write(
            dir.path().join(format!("{}.json", id.key())),
            "{\"refresh_token\": \"rt-secret\"",
        )
        .unwrap();
        let e = Store::new(&s).load(&id).unwrap_err().to_string();
        assert!(e.contains("damaged") && !e.contains("rt-secret"), "{e}");
    }

    #[test]
    fn command_store_gets_puts_and_deletes_through_stdin_and_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rec");
        let cmd = format!(
            "f='{}'; h() {{ case \"$1\" in get) cat \"$f\" 2>/dev/null || true;; put) cat > \"$f\";; delete) rm -f \"$f\";; esac; }}; h",
            file.display()
        );
        let s = settings(StoreLocation::Command {
            command: cmd,
            locks: dir.path().join("locks"),
        });
        let store = Store::new(&s);
        let id = Identity::new(&s, "alice");
        assert_eq!(store.load(&id).unwrap(), None);
        store.save(&id, &record(&id)).unwrap();
        assert_eq!(store.load(&id).unwrap(), Some(record(&id)));
        let _lock = store.lock(&id).unwrap();
        store.remove(&id).unwrap();
        assert_eq!(store.load(&id).unwrap(), None);
        let bad = settings(StoreLocation::Command {
            command: "false".into(),
            locks: dir.path().join("locks"),
        });
        let e = Store::new(&bad).load(&id).unwrap_err();
        assert!(e.to_string().contains("token_command"), "{e}");
    }
}
