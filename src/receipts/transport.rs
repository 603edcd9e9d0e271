//! Sends a receipt: SMTP submission with lettre, or a sendmail-compatible command.
//!
//! Either way the envelope sender is null (`MAIL FROM:<>`, RFC 8098 §2.1 and RFC 5321 §4.5.5:
//! an MDN must not itself cause bounces or receipts). SMTP is `smtps://` (implicit TLS, port
//! 465, RFC 8314) or `smtp://` with STARTTLS required (port 587, RFC 3207); a server without
//! STARTTLS is refused, never used in clear. The SMTP password comes from `password_command`.
//!
//! With `auth = "xoauth2"` the login is SASL XOAUTH2 (RFC 4954 `AUTH`, Google's profile) with an
//! OAuth 2 access token: printed by `password_command`, or given by the caller through a
//! [`TokenSource`] (e.g. a built-in token store), which wins. The exchange is written here on
//! lettre's connection rather than left to lettre's `auth`, so that a refused token's error
//! challenge (`334` + base64 JSON) is decoded ([`crate::sasl`]), answered with the empty
//! response, and reported as why the token was refused. lettre 0.11 has no OAUTHBEARER (its
//! EHLO parser does not even record it), so `auth = "oauthbearer"` is refused as a
//! configuration error.
//!
//! Errors are split by what they mean for the "never two" promise: [`SendError::NotSent`]
//! (nothing was handed over: the connection, TLS, login, or the server refused the sender,
//! recipient or data) and [`SendError::Unknown`] (the transaction broke off during or after
//! the data: the receipt may have been accepted). The caller keeps an `Unknown` request in
//! state `sending` so that it is never sent again without the user's decision.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::settings::{SmtpAuth, TransportConfig};
use crate::sasl::{self, OAuthChallenge, OAuthMechanism};

/// How long one SMTP read or write may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest AUTH command line with its initial response (RFC 4954 §4: 12288 octets).
const MAX_AUTH_LINE: usize = 12288;

/// Gives the SMTP secret (an access token) when the transport logs in: a hook for a token
/// store, so that `receipts` needs no configuration types. Called once per login; its error
/// text is shown to the user (it must not hold the secret).
#[derive(Clone)]
pub struct TokenSource(std::sync::Arc<dyn Fn() -> Result<String, String> + Send + Sync>);

impl TokenSource {
    pub fn new(f: impl Fn() -> Result<String, String> + Send + Sync + 'static) -> TokenSource {
        TokenSource(std::sync::Arc::new(f))
    }
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource")
    }
}

impl PartialEq for TokenSource {
    fn eq(&self, other: &TokenSource) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TokenSource {}

/// A configured way to send receipts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Smtp {
        implicit_tls: bool,
        host: String,
        port: u16,
        user: Option<String>,
        password_command: Option<String>,
        ca_file: Option<std::path::PathBuf>,
        /// `Auto` (PLAIN or LOGIN with the password) or `Xoauth2` (never `Oauthbearer`).
        auth: SmtpAuth,
        /// Gives the secret instead of `password_command` ([`Transport::with_token_source`]).
        token_source: Option<TokenSource>,
    },
    Sendmail {
        command: String,
    },
}

/// Why a receipt was not (certainly) sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nothing was handed over; the request can be answered again.
    #[error("{0}")]
    NotSent(String),
    /// The transaction broke off after the message started to go out: it may have been sent.
    #[error("{0} (the receipt may have been sent)")]
    Unknown(String),
}

impl Transport {
    /// The transport of a `[receipts]` table, or `Ok(None)` if it configures none.
    pub fn from_config(c: &TransportConfig) -> Result<Option<Transport>, String> {
        match (c.auth, &c.sendmail) {
            (Some(SmtpAuth::Oauthbearer), _) => {
                return Err(
                    "auth = \"oauthbearer\" is not supported for sending receipts by \
                            SMTP (lettre, the SMTP library, has no OAUTHBEARER); use auth = \
                            \"xoauth2\", which Gmail and Microsoft 365 accept"
                        .into(),
                )
            }
            (Some(SmtpAuth::Xoauth2), Some(_)) if c.smtp.is_none() => {
                return Err("auth applies to smtp, not to sendmail".into())
            }
            _ => {}
        }
        match (&c.smtp, &c.sendmail) {
            (Some(_), Some(_)) => {
                Err("set either smtp or sendmail under [receipts], not both".into())
            }
            (None, Some(cmd)) if cmd.trim().is_empty() => Err("receipts.sendmail is empty".into()),
            (None, Some(cmd)) => Ok(Some(Transport::Sendmail {
                command: cmd.clone(),
            })),
            (Some(url), None) => parse_smtp_url(url, c).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The transport with its SMTP secret (an OAuth 2 access token) taken from `source`
    /// rather than from `password_command`; a sendmail transport is returned unchanged.
    pub fn with_token_source(mut self, source: TokenSource) -> Transport {
        if let Transport::Smtp { token_source, .. } = &mut self {
            *token_source = Some(source);
        }
        self
    }

    /// Sends `message` to `to` with a null envelope sender.
    pub fn send(&self, to: &str, message: &[u8]) -> Result<(), SendError> {
        match self {
            Transport::Sendmail { command } => sendmail(command, to, message),
            Transport::Smtp { .. } => self.smtp(to, message),
        }
    }

    /// How the transport is named to the user.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp {
                implicit_tls,
                host,
                port,
                ..
            } => format!(
                "{}://{host}:{port}",
                if *implicit_tls { "smtps" } else { "smtp" }
            ),
            Transport::Sendmail { command } => format!("`{command}`"),
        }
    }

    fn smtp(&self, to: &str, message: &[u8]) -> Result<(), SendError> {
        let Transport::Smtp {
            implicit_tls,
            host,
            port,
            user,
            password_command,
            ca_file,
            auth,
            token_source,
        } = self
        else {
            unreachable!()
        };
        let not_sent = |what: &str, e: &dyn std::fmt::Display| {
            SendError::NotSent(format!("{what} {host}:{port}: {e}"))
        };
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(ca) = ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| not_sent(&format!("cannot read {} for", ca.display()), &e))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                not_sent(&format!("{} is no PEM certificate for", ca.display()), &e)
            })?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_native()
            .map_err(|e| not_sent("cannot set up TLS for", &e))?;
        let hello = ClientId::default();
        let mut conn = SmtpConnection::connect(
            (host.as_str(), *port),
            Some(SMTP_TIMEOUT),
            &hello,
            implicit_tls.then_some(&tls),
            None,
        )
        .map_err(|e| not_sent("cannot connect to the SMTP server", &e))?;
        if !*implicit_tls {
            if !conn.can_starttls() {
                conn.abort();
                return Err(SendError::NotSent(format!(
                    "the SMTP server {host}:{port} does not offer STARTTLS; mailpull does not \
                     send in clear (use smtps:// if it speaks TLS on connect)"
                )));
            }
            conn.starttls(&tls, &hello)
                .map_err(|e| not_sent("STARTTLS failed with", &e))?;
        }
        if let Some(user) = user {
            let oauth = *auth == SmtpAuth::Xoauth2;
            let secret = match (token_source, password_command) {
                (Some(source), _) => (source.0)(),
                (None, Some(cmd)) if oauth => {
                    crate::command::password_from(cmd, "SMTP access token command")
                }
                (None, Some(cmd)) => crate::command::password_from(cmd, "SMTP password command"),
                (None, None) => {
                    Err("the SMTP URL names a user but [receipts] has no password_command".into())
                }
            };
            let secret = match secret {
                Ok(s) => s,
                Err(e) => {
                    conn.abort();
                    return Err(SendError::NotSent(e));
                }
            };
            if oauth {
                if let Err(e) = xoauth2(&mut conn, user, &secret) {
                    conn.abort();
                    return Err(SendError::NotSent(format!(
                        "SMTP server {host}:{port}: {e}"
                    )));
                }
            } else {
                conn.auth(
                    &[Mechanism::Plain, Mechanism::Login],
                    &Credentials::new(user.clone(), secret),
                )
                .map_err(|e| not_sent("login refused by", &e))?;
            }
        }
        let rcpt: Address = to
            .parse()
            .map_err(|e| SendError::NotSent(format!("bad receipt address {to:?}: {e}")))?;
        let envelope = Envelope::new(None, vec![rcpt])
            .map_err(|e| SendError::NotSent(format!("bad envelope: {e}")))?;
        match conn.send(&envelope, message) {
            Ok(_) => {
                let _ = conn.quit();
                Ok(())
            }
            // The server answered no (to MAIL, RCPT or the data): it did not take the message.
            Err(e) if e.is_permanent() || e.is_transient() => {
                conn.abort();
                Err(not_sent("refused by", &e))
            }
            Err(e) => {
                conn.abort();
                Err(SendError::Unknown(format!(
                    "the SMTP transaction with {host}:{port} broke off: {e}"
                )))
            }
        }
    }
}

/// SASL XOAUTH2 on an open connection (RFC 4954): the initial response on the AUTH line (it
/// fits unless the token is huge, then after the empty `334` challenge); an error challenge is
/// decoded and answered with the empty response, and the `535` that follows becomes the error,
/// which says why the token was refused. The error never holds the token.
fn xoauth2(conn: &mut SmtpConnection, user: &str, token: &str) -> Result<(), String> {
    let mech = OAuthMechanism::XOAuth2;
    if !conn
        .server_info()
        .supports_auth_mechanism(Mechanism::Xoauth2)
    {
        return Err("the server does not offer AUTH XOAUTH2".into());
    }
    let response = mech.response(user, token);
    let first = if "AUTH XOAUTH2 \r\n".len() + response.len() <= MAX_AUTH_LINE {
        conn.command(format!("AUTH XOAUTH2 {response}\r\n"))
    } else {
        match conn.command("AUTH XOAUTH2\r\n") {
            Ok(r) if r.has_code(334) => conn.command(format!("{response}\r\n")),
            other => other,
        }
    };
    let refused = |c: Option<&OAuthChallenge>, e: &dyn std::fmt::Display| {
        let said: String = e.to_string().chars().take(200).collect();
        sasl::oauth_refused(mech, c, &said)
    };
    match first {
        Ok(r) if r.has_code(235) => Ok(()),
        Ok(r) if r.has_code(334) => {
            let challenge = OAuthChallenge::decode(r.first_line().unwrap_or("").as_bytes());
            match conn.command("\r\n") {
                Ok(r) if r.has_code(235) => Ok(()),
                Ok(r) => Err(refused(
                    Some(&challenge),
                    &format!("{} {}", r.code(), r.first_line().unwrap_or("")),
                )),
                Err(e) => Err(refused(Some(&challenge), &e)),
            }
        }
        Ok(r) => Err(refused(
            None,
            &format!("{} {}", r.code(), r.first_line().unwrap_or("")),
        )),
        Err(e) => Err(refused(None, &e)),
    }
}

/// `smtps://[USER@]HOST[:PORT]` or `smtp://[USER@]HOST[:PORT]`.
fn parse_smtp_url(s: &str, c: &TransportConfig) -> Result<Transport, String> {
    let url = url::Url::parse(s);
    // Never show a password someone put in the URL.
    let s = crate::text::redact_url_password(s);
    let url = url.map_err(|e| format!("receipts.smtp {s:?}: {e}"))?;
    let implicit_tls = match url.scheme() {
        "smtps" => true,
        "smtp" => false,
        other => {
            return Err(format!(
                "receipts.smtp {s:?}: the scheme must be smtps:// or smtp:// (STARTTLS), not {other}://"
            ))
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("receipts.smtp {s:?} names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if url.password().is_some() {
        return Err(format!(
            "receipts.smtp {s:?}: do not put the password in the URL; use receipts.password_command"
        ));
    }
    let user = match url.username() {
        "" => None,
        u => Some(
            percent_encoding::percent_decode_str(u)
                .decode_utf8()
                .map_err(|_| format!("receipts.smtp {s:?}: the user name is not UTF-8"))?
                .into_owned(),
        ),
    };
    let auth = c.auth.unwrap_or_default();
    if auth == SmtpAuth::Xoauth2 && user.is_none() {
        return Err(format!(
            "receipts.smtp {s:?}: auth = \"xoauth2\" needs the user in the URL \
             (smtps://USER@HOST)"
        ));
    }
    Ok(Transport::Smtp {
        implicit_tls,
        port: url.port().unwrap_or(if implicit_tls { 465 } else { 587 }),
        host,
        user,
        password_command: c.password_command.clone(),
        ca_file: c.tls_ca_file.clone(),
        auth,
        token_source: None,
    })
}

/// Runs `sh -c 'COMMAND "$@"' -f '<>' -i -- TO` with the message on stdin (the usual
/// sendmail interface: `-f '<>'` is the null sender, `-i` keeps a lone dot from ending the
/// message). Exit status 0 means the command took the message.
fn sendmail(command: &str, to: &str, message: &[u8]) -> Result<(), SendError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$@\""))
        .arg("mailpull-sendmail")
        .args(["-f", "<>", "-i", "--", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| SendError::NotSent(format!("cannot run `{command}`: {e}")))?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(message).and_then(|_| stdin.flush()));
    let status = child
        .wait()
        .map_err(|e| SendError::Unknown(format!("lost track of `{command}`: {e}")))?;
    if !status.success() {
        return Err(SendError::NotSent(format!("`{command}` failed ({status})")));
    }
    if let Some(Err(e)) = written {
        return Err(SendError::Unknown(format!(
            "`{command}` exited successfully but did not read the whole receipt: {e}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = TransportConfig {
            smtp: Some("smtps://alice%40x@smtp.example.org".into()),
            password_command: Some("echo pw".into()),
            ..Default::default()
        };
        assert_eq!(
            Transport::from_config(&c).unwrap(),
            Some(Transport::Smtp {
                implicit_tls: true,
                host: "smtp.example.org".into(),
                port: 465,
                user: Some("alice@x".into()),
                password_command: Some("echo pw".into()),
                ca_file: None,
                auth: SmtpAuth::Auto,
                token_source: None,
            })
        );
        let c = TransportConfig {
            smtp: Some("smtp://h.example:2525".into()),
            ..Default::default()
        };
        assert!(matches!(
            Transport::from_config(&c).unwrap(),
            Some(Transport::Smtp {
                implicit_tls: false,
                port: 2525,
                user: None,
                ..
            })
        ));
        for bad in ["http://h", "smtp://u:p@h", "smtp://"] {
            let c = TransportConfig {
                smtp: Some(bad.into()),
                ..Default::default()
            };
            assert!(Transport::from_config(&c).is_err(), "{bad}");
        }
        // A password put in the URL is refused, and never shown.
        for leaky in [
            "smtp://u:hunter2@h",
            "ftp://u:hunter2@h",
            "smtp://u:hunter2@",
        ] {
            let c = TransportConfig {
                smtp: Some(leaky.into()),
                ..Default::default()
            };
            let e = Transport::from_config(&c).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
        }
        let both = TransportConfig {
            smtp: Some("smtp://h".into()),
            sendmail: Some("x".into()),
            ..Default::default()
        };
        assert!(Transport::from_config(&both).is_err());
        assert_eq!(
            Transport::from_config(&TransportConfig::default()).unwrap(),
            None
        );
    }

    #[test]
    fn oauth_settings() {
        let c = TransportConfig {
            smtp: Some("smtps://alice@smtp.gmail.com".into()),
            auth: Some(SmtpAuth::Xoauth2),
            ..Default::default()
        };
        let t = Transport::from_config(&c).unwrap().unwrap();
        assert!(matches!(
            &t,
            Transport::Smtp {
                auth: SmtpAuth::Xoauth2,
                token_source: None,
                ..
            }
        ));
        // A token store plugs in without configuration types.
        let t = t.with_token_source(TokenSource::new(|| Ok("tok".into())));
        let Transport::Smtp {
            token_source: Some(source),
            ..
        } = &t
        else {
            panic!("no token source: {t:?}")
        };
        assert_eq!((source.0)().unwrap(), "tok");
        assert!(!format!("{t:?}").contains("tok\""));
        for bad in [
            TransportConfig {
                auth: Some(SmtpAuth::Oauthbearer),
                ..c.clone()
            },
            TransportConfig {
                smtp: Some("smtps://smtp.gmail.com".into()),
                ..c.clone()
            },
        ] {
            assert!(Transport::from_config(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sendmail_gets_a_null_sender() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!(
            "f() {{ printf '%s\\n' \"$@\" > {0}.argv; cat > {0}.msg; }}; f",
            out.display()
        );
        sendmail(&cmd, "a@x.example", b"Subject: s\r\n\r\nbody\r\n").unwrap();
        let argv = std::fs::read_to_string(dir.path().join("out.argv")).unwrap();
        assert_eq!(argv, "-f\n<>\n-i\n--\na@x.example\n");
        let msg = std::fs::read(dir.path().join("out.msg")).unwrap();
        assert_eq!(msg, b"Subject: s\r\n\r\nbody\r\n");
        assert!(matches!(
            sendmail("exit 3;", "a@x.example", b"x"),
            Err(SendError::NotSent(_))
        ));
    }
}
