//! Connecting and logging in: TCP, then TLS (from the first byte, or through the protocol's
//! STLS/STARTTLS — one [`secure`] for both protocols), then the one login of the session.
//! Only [`crate::account`] calls this, with the account's lock held.

use crate::config::{Account, Auth, ConfigError, Protocol, Security};
use crate::imap::source::ImapSource;
use crate::imap::{AuthMethod as ImapAuth, Session as ImapSession};
use crate::pop3::session::AuthMethod as Pop3Auth;
use crate::pop3::Session as Pop3Session;
use crate::source::{Source, SourceError};
use crate::tls::{self, Conn, Tls};

/// The account's TLS settings, checked (CA file, fingerprint) before anything is connected;
/// `None` for `--insecure-no-tls`.
pub fn tls_for(account: &Account) -> anyhow::Result<Option<Tls>> {
    crate::exit::test_panic("account");
    Ok(match account.security {
        Security::None => None,
        _ => Some(Tls::new(&account.tls).map_err(|e| ConfigError::Usage(e.0))?),
    })
}

/// What [`secure`] needs of a protocol's session: to start on a connection, to know the
/// server's capabilities, and to upgrade the connection (POP3 STLS, IMAP STARTTLS).
trait Securable: Sized {
    fn start(conn: Conn) -> Result<Self, SourceError>;
    /// Asks for the capabilities if the greeting did not carry them.
    fn ask_capabilities(&mut self) -> Result<(), SourceError>;
    /// STLS or STARTTLS; refused (never plaintext) when the server does not offer it.
    fn upgrade<F>(self, upgrade: F) -> Result<Self, SourceError>
    where
        F: FnOnce(Conn) -> Result<Conn, SourceError>;
}

impl Securable for Pop3Session<Conn> {
    fn start(conn: Conn) -> Result<Self, SourceError> {
        Pop3Session::start(conn)
    }

    fn ask_capabilities(&mut self) -> Result<(), SourceError> {
        self.capa()
    }

    fn upgrade<F>(self, upgrade: F) -> Result<Self, SourceError>
    where
        F: FnOnce(Conn) -> Result<Conn, SourceError>,
    {
        self.stls(upgrade)
    }
}

impl Securable for ImapSession<Conn> {
    fn start(conn: Conn) -> Result<Self, SourceError> {
        ImapSession::start(conn)
    }

    fn ask_capabilities(&mut self) -> Result<(), SourceError> {
        if self.capabilities().is_empty() {
            self.capability()?;
        }
        Ok(())
    }

    fn upgrade<F>(self, upgrade: F) -> Result<Self, SourceError>
    where
        F: FnOnce(Conn) -> Result<Conn, SourceError>,
    {
        self.starttls(upgrade)
    }
}

/// Connects and secures the connection, for either protocol: TLS from the first byte for
/// `pop3s://`/`imaps://`, STLS/STARTTLS (required) for `pop3://`/`imap://`, nothing with
/// `--insecure-no-tls`. Returns the session ready to log in.
fn secure<S: Securable>(account: &Account, tls: Option<&Tls>) -> Result<S, SourceError> {
    let host = account.host.as_str();
    let tcp = open_tcp(account)?;
    if let Some(tls) = tls {
        // While the server gets ready to answer (Dovecot starts a login process per
        // connection): the rest of the TLS set-up costs no time here.
        tls.prepare()?;
    }
    let mut s = match (account.security, tls) {
        (Security::Implicit, Some(tls)) => S::start(tls.handshake(host, tcp)?)?,
        _ => {
            diagnose_tls_port(account, &tcp)?;
            S::start(Conn::plain(tcp))?
        }
    };
    s.ask_capabilities()?;
    if account.security == Security::StartTls {
        s = s.upgrade(|conn| match tls {
            Some(tls) => tls.upgrade(host, conn),
            None => Ok(conn),
        })?;
    }
    Ok(s)
}

/// Fails, with the URL to use instead, when a port that should greet in plaintext
/// (`pop3://`, `imap://`) speaks TLS from the start: at once when its first bytes are a TLS
/// record; when it stays silent for the whole timeout (what an implicit-TLS port does: it
/// waits for the client's hello), the timeout error names that explanation too.
fn diagnose_tls_port(account: &Account, tcp: &std::net::TcpStream) -> Result<(), SourceError> {
    let (host, port) = (account.host.as_str(), account.port);
    let scheme = match account.protocol {
        Protocol::Pop3 => "pop3s",
        Protocol::Imap => "imaps",
    };
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match tls::await_greeting(tcp, account.timeout)? {
        tls::FirstBytes::Plaintext => Ok(()),
        tls::FirstBytes::TlsRecord => Err(SourceError::Unavailable(format!(
            "{host} port {port} speaks TLS from the start (implicit TLS), not plaintext: use \
             {scheme}://{url_host}:{port}"
        ))),
        tls::FirstBytes::Silence => Err(SourceError::io(
            format!(
                "no greeting from {host} port {port} within {}s",
                account.timeout.as_secs()
            ),
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the server did not answer in time; if this port speaks TLS from the start \
                     (implicit TLS, usually {}), use {scheme}://{url_host}:{port} (`mailpull \
                     probe {}://{url_host}:{port}` tells)",
                    if scheme == "pop3s" { 995 } else { 993 },
                    account.protocol.name()
                ),
            ),
        )),
    }
}

/// The TCP connection to the account's server (warning when it will stay plaintext).
fn open_tcp(account: &Account) -> Result<std::net::TcpStream, SourceError> {
    let host = account.host.as_str();
    log::debug!("connecting to {host} port {}", account.port);
    let tcp = tls::connect_tcp(host, account.port, account.timeout)?;
    if account.security == Security::None {
        log::warn!(
            "talking to {host} without TLS (--insecure-no-tls): the password is sent in clear"
        );
    }
    Ok(tcp)
}

/// Connects, secures the connection and logs in: the one login of the session. `ready` is
/// asked, once the connection is secured and before the credentials are sent, whether the
/// login may go ahead (a fetch waits there for the check of its ledger).
pub(super) fn login<E: From<SourceError>>(
    account: &Account,
    tls: Option<&Tls>,
    password: &str,
    ready: impl FnOnce() -> Result<(), E>,
) -> Result<Box<dyn Source>, E> {
    match account.protocol {
        Protocol::Pop3 => {
            let method = pop3_method(account.auth);
            let mut s: Pop3Session<Conn> = secure(account, tls)?;
            ready()?;
            s.login(&account.user, password, method)?;
            Ok(Box::new(s))
        }
        Protocol::Imap => Ok(Box::new(login_imap(account, tls, password, ready)?)),
    }
}

/// Connects to an IMAP account and logs in (`mailpull watch` keeps the session to IDLE); `ready`
/// as for [`login`].
pub(super) fn login_imap<E: From<SourceError>>(
    account: &Account,
    tls: Option<&Tls>,
    password: &str,
    ready: impl FnOnce() -> Result<(), E>,
) -> Result<ImapSource<Conn>, E> {
    let method = imap_method(account.auth)?;
    let mut s: ImapSession<Conn> = secure(account, tls)?;
    ready()?;
    if !s.is_preauth() {
        s.login(&account.user, password, method)?;
    }
    Ok(ImapSource::new(
        s,
        account.folders.clone(),
        account.mark_seen,
    ))
}

/// The POP3 login method of an account's `auth`.
pub(super) fn pop3_method(auth: Auth) -> Pop3Auth {
    match auth {
        Auth::Auto => Pop3Auth::Auto,
        Auth::User => Pop3Auth::User,
        Auth::Plain => Pop3Auth::Plain,
        Auth::Apop => Pop3Auth::Apop,
        Auth::XOAuth2 => Pop3Auth::XOAuth2,
        Auth::OAuthBearer => Pop3Auth::OAuthBearer,
    }
}

/// The IMAP login method of an account's `auth`.
pub(super) fn imap_method(auth: Auth) -> Result<ImapAuth, SourceError> {
    Ok(match auth {
        Auth::Auto => ImapAuth::Auto,
        Auth::User => ImapAuth::Login,
        Auth::Plain => ImapAuth::Plain,
        Auth::XOAuth2 => ImapAuth::XOAuth2,
        Auth::OAuthBearer => ImapAuth::OAuthBearer,
        // Refused by the configuration already; never sent to a server.
        Auth::Apop => {
            return Err(SourceError::Unavailable(
                "APOP is a POP3 method; IMAP accounts use auto, login, plain, xoauth2 or \
                 oauthbearer"
                    .into(),
            ))
        }
    })
}
