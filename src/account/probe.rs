//! `mailpull probe`: a server's facts, learned the way a fetch connects — greeting,
//! capabilities (before and after STLS/STARTTLS), TLS version and cipher, the certificate and
//! whether it verifies, the authentication mechanisms — and, only when asked, one login (then,
//! for IMAP, the hierarchy separator and the folders).
//!
//! Floor 5 (account): uses tls, pop3, imap and config's plain values, like [`super::connect`].
//!
//! Trust failures do not stop a probe: the TLS handshake is made with
//! [`Tls::report_only`], and the report says whether the certificate verified and why not.
//! But a password is sent only over a channel the user trusts: one that verified against the
//! system roots or `--tls-ca-file`, or whose certificate matches `--tls-fingerprint`, or a
//! plaintext one the user chose with `--insecure-no-tls`. The texts in the report come from
//! the server: the caller makes them terminal-safe before showing them.

use serde::Serialize;

use super::connect::{imap_method, pop3_method};
use crate::config::{Account, Protocol, Security};
use crate::imap::Session as ImapSession;
use crate::pop3::Session as Pop3Session;
use crate::source::{Source, SourceError};
use crate::tls::{self, format_fingerprint, Conn, FirstBytes, Tls, TlsInfo, TlsOptions};

/// What a probe learned; the fields are `None`/empty as far as it did not get.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// `pop3s://HOST:PORT`, without the user.
    pub url: String,
    /// `pop3` or `imap`.
    pub protocol: &'static str,
    /// `implicit TLS`, `STLS`, `STARTTLS` or `none`.
    pub security: &'static str,
    pub host: String,
    pub port: u16,
    /// The greeting's text.
    pub greeting: Option<String>,
    /// With STLS/STARTTLS: the capabilities advertised before TLS.
    pub capabilities_before_tls: Option<Vec<String>>,
    /// The capabilities (after TLS when there is TLS).
    pub capabilities: Vec<String>,
    pub tls: Option<TlsReport>,
    /// The authentication mechanisms offered (over TLS when there is TLS).
    pub auth_mechanisms: Vec<String>,
    /// With `--login`: how it went.
    pub login: Option<LoginReport>,
}

/// The TLS part of a [`Report`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsReport {
    pub version: String,
    pub cipher: String,
    pub certificate: Option<CertReport>,
    /// Whether chain and name verified against the system roots and `--tls-ca-file`.
    pub verified: bool,
    /// Why not.
    pub verify_error: Option<String>,
    /// With `--tls-fingerprint`: whether the certificate matches the pin.
    pub pinned: Option<bool>,
}

/// The certificate part of a [`TlsReport`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct CertReport {
    pub subject: String,
    pub issuer: String,
    /// The names it is valid for (subjectAltName).
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// `sha256:HEX`, as `--tls-fingerprint` takes it.
    pub sha256: String,
}

/// The login part of a [`Report`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoginReport {
    pub ok: bool,
    /// IMAP: the hierarchy separator (of INBOX's namespace, as LIST gives it).
    pub separator: Option<String>,
    /// IMAP: every selectable folder (LIST "" "*").
    pub folders: Vec<String>,
    /// IMAP: the folders a fetch of the account would open (its `folders`, `--folder`).
    pub fetched: Vec<String>,
}

impl TlsReport {
    fn of(info: TlsInfo, opts: &TlsOptions) -> TlsReport {
        let sha = info.certificate.as_ref().map(|c| c.sha256);
        TlsReport {
            version: info.version,
            cipher: info.cipher,
            verified: info.verify_error.is_none(),
            verify_error: info.verify_error,
            pinned: opts.fingerprint.map(|pin| sha == Some(pin)),
            certificate: info.certificate.map(|c| CertReport {
                subject: c.subject,
                issuer: c.issuer,
                names: c.names,
                not_before: c.not_before,
                not_after: c.not_after,
                sha256: format_fingerprint(&c.sha256),
            }),
        }
    }

    /// Whether a password may go over this channel: the pin matches, or (without a pin) the
    /// chain and name verified.
    fn trusted(&self) -> bool {
        self.pinned.unwrap_or(self.verified)
    }
}

/// The host as it goes into a URL.
fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Probes the account's server; logs in (once) when `password` is given. Returns what was
/// learned, and the error that stopped the probe, if any (a certificate that does not verify
/// is not one, unless a password was to be sent over it).
pub fn probe(account: &Account, password: Option<&str>) -> (Report, Option<SourceError>) {
    let scheme = match (account.protocol, account.security) {
        (Protocol::Pop3, Security::Implicit) => "pop3s",
        (Protocol::Pop3, _) => "pop3",
        (Protocol::Imap, Security::Implicit) => "imaps",
        (Protocol::Imap, _) => "imap",
    };
    let mut report = Report {
        url: format!("{scheme}://{}:{}", url_host(&account.host), account.port),
        protocol: account.protocol.name(),
        security: match (account.security, account.protocol) {
            (Security::Implicit, _) => "implicit TLS",
            (Security::StartTls, Protocol::Pop3) => "STLS",
            (Security::StartTls, Protocol::Imap) => "STARTTLS",
            (Security::None, _) => "none",
        },
        host: account.host.clone(),
        port: account.port,
        ..Report::default()
    };
    let result = Tls::report_only(&account.tls)
        .map_err(|e| SourceError::Unavailable(e.0))
        .and_then(|tls| match account.protocol {
            Protocol::Pop3 => pop3(account, &tls, password, &mut report),
            Protocol::Imap => imap(account, &tls, password, &mut report),
        });
    (report, result.err())
}

/// Opens the connection: the TLS handshake for implicit TLS (recorded in the report), else a
/// plain connection whose first bytes were checked; a port that stays silent is asked with a
/// TLS hello on a second connection whether it speaks TLS from the start.
fn open(account: &Account, tls: &Tls, report: &mut Report) -> Result<Conn, SourceError> {
    let (host, port) = (account.host.as_str(), account.port);
    let tcp = tls::connect_tcp(host, port, account.timeout)?;
    if account.security == Security::Implicit {
        let conn = tls.handshake(host, tcp)?;
        report.tls = conn.tls_info().map(|i| TlsReport::of(i, &account.tls));
        return Ok(conn);
    }
    // A deliberate probe knocks sooner than a fetch would give up; a plaintext server that is
    // only slow still gets the whole timeout for its greeting afterwards.
    let wait = account.timeout.min(std::time::Duration::from_secs(3));
    let tls_port = match tls::await_greeting(&tcp, wait)? {
        FirstBytes::Plaintext => false,
        FirstBytes::TlsRecord => true,
        FirstBytes::Silence => tls::answers_tls(host, port, account.timeout),
    };
    if tls_port {
        let implicit = if account.protocol == Protocol::Pop3 {
            "pop3s"
        } else {
            "imaps"
        };
        return Err(SourceError::Unavailable(format!(
            "{host} port {port} speaks TLS from the start (implicit TLS), not plaintext: use \
             {implicit}://{}:{port}",
            url_host(host)
        )));
    }
    Ok(Conn::plain(tcp))
}

/// Refuses to log in over a channel the user does not trust (see the module documentation).
fn check_trust(account: &Account, report: &Report) -> Result<(), SourceError> {
    if account.security == Security::None {
        return Ok(());
    }
    let Some(t) = &report.tls else {
        return Err(SourceError::Unavailable(
            "not logging in: the connection is not secured".into(),
        ));
    };
    if t.trusted() {
        return Ok(());
    }
    let why = match (t.pinned, &t.verify_error) {
        (Some(false), _) => "it does not match --tls-fingerprint".to_string(),
        (_, Some(e)) => format!("it does not verify: {e}"),
        _ => "it does not verify".to_string(),
    };
    Err(SourceError::Unavailable(format!(
        "not logging in: the certificate of {} is not trusted ({why}); mailpull sends no \
         password over a channel it cannot trust.\n  (trust it with --tls-ca-file FILE, or \
         pin it with --tls-fingerprint {} once you have checked that fingerprint)",
        account.host,
        t.certificate
            .as_ref()
            .map(|c| c.sha256.as_str())
            .unwrap_or("sha256:HEX"),
    )))
}

fn pop3(
    account: &Account,
    tls: &Tls,
    password: Option<&str>,
    report: &mut Report,
) -> Result<(), SourceError> {
    let conn = open(account, tls, report)?;
    let mut s = Pop3Session::start(conn)?;
    report.greeting = Some(s.greeting().to_string());
    s.capa()?;
    if account.security == Security::StartTls {
        report.capabilities_before_tls = Some(s.capabilities().lines().to_vec());
        let mut info = None;
        s = s.stls(|c| {
            let c = tls.upgrade(&account.host, c)?;
            info = c.tls_info();
            Ok(c)
        })?;
        report.tls = info.map(|i| TlsReport::of(i, &account.tls));
    }
    let caps = s.capabilities();
    report.capabilities = caps.lines().to_vec();
    let mut mechs = caps.args("SASL").unwrap_or_default();
    if caps.has("USER") {
        mechs.push("USER".into());
    }
    report.auth_mechanisms = mechs;
    if let Some(password) = password {
        check_trust(account, report)?;
        let method = pop3_method(account.auth);
        report.login = Some(LoginReport::default());
        s.login(&account.user, password, method)?;
        report.login = Some(LoginReport {
            ok: true,
            ..LoginReport::default()
        });
    }
    s.finish()
}

fn imap(
    account: &Account,
    tls: &Tls,
    password: Option<&str>,
    report: &mut Report,
) -> Result<(), SourceError> {
    let conn = open(account, tls, report)?;
    let mut s = ImapSession::start(conn)?;
    report.greeting = Some(s.greeting().to_string());
    if account.security == Security::StartTls {
        report.capabilities_before_tls = Some(s.capabilities().names().to_vec());
        let mut info = None;
        s = s.starttls(|c| {
            let c = tls.upgrade(&account.host, c)?;
            info = c.tls_info();
            Ok(c)
        })?;
        report.tls = info.map(|i| TlsReport::of(i, &account.tls));
    }
    let names = s.capabilities().names().to_vec();
    report.auth_mechanisms = names
        .iter()
        .filter_map(|n| n.strip_prefix("AUTH=").map(str::to_string))
        .collect();
    if !names.iter().any(|n| n == "LOGINDISABLED")
        && !report.auth_mechanisms.iter().any(|m| m == "LOGIN")
    {
        report.auth_mechanisms.push("LOGIN".into());
    }
    report.capabilities = names;
    if let Some(password) = password {
        check_trust(account, report)?;
        let method = imap_method(account.auth)?;
        report.login = Some(LoginReport::default());
        if !s.is_preauth() {
            s.login(&account.user, password, method)?;
        }
        let folders = s.list(&["*".to_string()])?;
        let separator = folders
            .iter()
            .find(|f| f.name == "INBOX")
            .or(folders.first())
            .and_then(|f| f.delimiter)
            .map(String::from);
        let fetched = crate::imap::folders::resolve(&mut s, &account.folders)?;
        report.login = Some(LoginReport {
            ok: true,
            separator,
            folders: folders.into_iter().map(|f| f.name).collect(),
            fetched,
        });
    }
    s.logout()
}
