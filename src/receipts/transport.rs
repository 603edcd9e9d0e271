//! Sends a receipt: SMTP submission with lettre, or a sendmail-compatible command.
//!
//! Either way the envelope sender is null (`MAIL FROM:<>`, RFC 8098 §2.1 and RFC 5321 §4.5.5:
//! an MDN must not itself cause bounces or receipts). SMTP is `smtps://` (implicit TLS, port
//! 465, RFC 8314) or `smtp://` with STARTTLS required (port 587, RFC 3207); a server without
//! STARTTLS is refused, never used in clear. The SMTP password comes from `password_command`.
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

use super::settings::TransportConfig;

/// How long one SMTP read or write may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

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
            let password = match password_command {
                Some(cmd) => crate::command::password_from(cmd, "SMTP password command")
                    .map_err(SendError::NotSent)?,
                None => {
                    conn.abort();
                    return Err(SendError::NotSent(
                        "the SMTP URL names a user but [receipts] has no password_command".into(),
                    ));
                }
            };
            conn.auth(
                &[Mechanism::Plain, Mechanism::Login],
                &Credentials::new(user.clone(), password),
            )
            .map_err(|e| not_sent("login refused by", &e))?;
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
    Ok(Transport::Smtp {
        implicit_tls,
        port: url.port().unwrap_or(if implicit_tls { 465 } else { 587 }),
        host,
        user,
        password_command: c.password_command.clone(),
        ca_file: c.tls_ca_file.clone(),
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
