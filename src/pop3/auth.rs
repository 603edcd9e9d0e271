//! POP3 login with an OAuth 2 access token: `AUTH XOAUTH2` and `AUTH OAUTHBEARER` (RFC 5034,
//! RFC 7628), the responses built by [`crate::sasl`].
//!
//! The mechanism must be on CAPA's `SASL` line (RFC 2449 §6.3); a server that does not list it
//! gets nothing (exit 69, as IMAP without `AUTH=`). The response goes on the AUTH line as an
//! initial response when the whole command fits in 255 octets (RFC 5034 §4), else after the
//! server's empty `+ ` challenge. A server that refuses the token sends an error challenge
//! (base64 JSON); it is decoded, answered with the mechanism's dummy response (XOAUTH2: an
//! empty line, OAUTHBEARER: `%x01`), and the `-ERR` that follows becomes an authentication
//! error (exit 77) that says why and what to do. Both the AUTH line and the response are
//! logged redacted. Every line the server sends is matched to what was asked: anything else
//! desynchronises the session (no QUIT).

use std::io::{Read, Write};

use super::proto::{self, quote};
use super::session::{refusal, Session};
use crate::sasl::{self, OAuthChallenge, OAuthMechanism};
use crate::source::SourceError;

/// The longest command line with its CRLF (RFC 5034 §4, RFC 2449 §4).
const MAX_COMMAND: usize = 255;

/// A line of the server during a SASL exchange.
enum Reply {
    /// `+ [base64]` (RFC 5034 §4): a challenge, with its data.
    Challenge(Vec<u8>),
    /// `+OK` / `-ERR`.
    Status(proto::Status),
}

impl<S: Read + Write> Session<S> {
    /// The error for a SASL mechanism that is not on CAPA's `SASL` line (exit 69).
    pub(super) fn sasl_not_offered(&self, name: &str) -> SourceError {
        let offered = match self.caps.args("SASL") {
            Some(m) if !m.is_empty() => format!("it offers {}", quote(m.join(" ").as_bytes())),
            _ => "its CAPA lists no SASL mechanisms".to_string(),
        };
        SourceError::Unavailable(format!(
            "the server does not offer SASL {name} ({offered}); choose another --auth method"
        ))
    }

    /// Logs in with `mech`, the access token `token` (see the module documentation).
    pub(super) fn auth_oauth(
        &mut self,
        mech: OAuthMechanism,
        user: &str,
        token: &str,
    ) -> Result<(), SourceError> {
        let name = mech.name();
        if !self.caps.sasl(name) {
            return Err(self.sasl_not_offered(name));
        }
        let response = mech.response(user, token);
        let ctx = format!("authenticating with {name}");
        let with_ir = format!("AUTH {name} {response}");
        if with_ir.len() + 2 <= MAX_COMMAND {
            self.send_secret(&with_ir, &format!("AUTH {name} <redacted>"));
            self.flush(&ctx)?;
        } else {
            self.send(&format!("AUTH {name}"));
            self.flush(&ctx)?;
            match self.sasl_reply(&ctx)? {
                Reply::Challenge(_) => {
                    self.send_secret(&response, "<redacted>");
                    self.flush(&ctx)?;
                }
                Reply::Status(st) if !st.ok => return Err(self.oauth_refusal(mech, None, &st)),
                Reply::Status(_) => {
                    return Err(self.protocol(format!(
                        "{ctx}: the server answered +OK before the response was sent"
                    )))
                }
            }
        }
        let challenge = match self.sasl_reply(&ctx)? {
            Reply::Status(st) if st.ok => return Ok(()),
            Reply::Status(st) => return Err(self.oauth_refusal(mech, None, &st)),
            Reply::Challenge(data) => OAuthChallenge::decode(&data),
        };
        // The error challenge: answer with the dummy response; the server then fails.
        self.send_secret(mech.error_response(), "<error response>");
        self.flush(&ctx)?;
        match self.sasl_reply(&ctx)? {
            Reply::Status(st) if st.ok => Ok(()),
            Reply::Status(st) => Err(self.oauth_refusal(mech, Some(&challenge), &st)),
            Reply::Challenge(_) => {
                // Cancel (RFC 5034 §4) and take the -ERR.
                self.send("*");
                self.flush(&ctx)?;
                match self.sasl_reply(&ctx)? {
                    Reply::Status(st) if !st.ok => {
                        Err(self.oauth_refusal(mech, Some(&challenge), &st))
                    }
                    _ => Err(self.protocol(format!(
                        "{ctx}: the server went on with the exchange after it was cancelled"
                    ))),
                }
            }
        }
    }

    /// Reads a challenge or a status line.
    fn sasl_reply(&mut self, ctx: &str) -> Result<Reply, SourceError> {
        self.read_line(ctx, "the server closed the connection")?;
        log::debug!("S: {}", String::from_utf8_lossy(&self.line));
        if self.line == b"+" {
            return Ok(Reply::Challenge(Vec::new()));
        }
        if let Some(data) = self.line.strip_prefix(b"+ ") {
            return Ok(Reply::Challenge(data.to_vec()));
        }
        match proto::parse_status(&self.line) {
            Some(st) => Ok(Reply::Status(st)),
            None => {
                let q = quote(&self.line);
                Err(self.protocol(format!(
                    "{ctx}: expected +OK, -ERR or a challenge, got {q:?}"
                )))
            }
        }
    }

    /// The error for a `-ERR` ending an OAuth 2 exchange: the response codes keep their meaning
    /// (LOGIN-DELAY, IN-USE, SYS/TEMP, …); an authentication failure says why the token was
    /// refused.
    fn oauth_refusal(
        &self,
        mech: OAuthMechanism,
        challenge: Option<&OAuthChallenge>,
        st: &proto::Status,
    ) -> SourceError {
        match refusal("the server refused the login", st, true) {
            SourceError::Auth(_) => {
                let said = match &st.code {
                    Some(c) => format!("-ERR [{c}] {}", st.quoted()),
                    None => format!("-ERR {}", st.quoted()),
                };
                SourceError::Auth(sasl::oauth_refused(mech, challenge, &said))
            }
            e => e,
        }
    }
}
