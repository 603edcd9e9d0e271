//! Logging in: LOGIN (RFC 3501 §6.2.3) and AUTHENTICATE (§6.2.2) with one SASL response —
//! PLAIN (RFC 4616), XOAUTH2, OAUTHBEARER (RFC 7628) — sent as an initial response when the
//! server offers SASL-IR (RFC 4959). An OAuth 2 server's error challenge is decoded (see
//! [`crate::sasl`]) and answered with the mechanism's dummy response, and the tagged `NO` that
//! follows becomes an authentication error that says why the token was refused.

use std::io::{Read, Write};

use imap_codec::imap_types::response::{CommandContinuationRequest, Response, Status, StatusKind};

use super::command::{refusal, Fail};
use super::Session;
use crate::imap::proto::Arg;
use crate::sasl::{self, OAuthChallenge, OAuthMechanism};
use crate::source::SourceError;

/// How to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// AUTHENTICATE PLAIN when the server advertises `AUTH=PLAIN`, else LOGIN.
    Auto,
    /// LOGIN (RFC 3501 §6.2.3).
    Login,
    /// AUTHENTICATE PLAIN (RFC 4616), with SASL-IR (RFC 4959) when advertised.
    Plain,
    /// AUTHENTICATE XOAUTH2 (Google/Microsoft); the secret is an OAuth 2 access token.
    XOAuth2,
    /// AUTHENTICATE OAUTHBEARER (RFC 7628); the secret is an OAuth 2 access token.
    OAuthBearer,
}

impl<S: Read + Write> Session<S> {
    /// Logs in. `Auto` uses AUTHENTICATE PLAIN when `AUTH=PLAIN` is advertised, else LOGIN;
    /// other methods are used as asked. For XOAUTH2 and OAUTHBEARER `secret` is the access
    /// token. Afterwards the capabilities are up to date (from the OK's code, or asked for).
    pub fn login(
        &mut self,
        user: &str,
        secret: &str,
        method: AuthMethod,
    ) -> Result<(), SourceError> {
        if self.preauth {
            log::debug!("the server greeted with PREAUTH: no login needed");
            return Ok(());
        }
        let method = match method {
            AuthMethod::Auto if self.caps.auth("PLAIN") => AuthMethod::Plain,
            AuthMethod::Auto => AuthMethod::Login,
            m => m,
        };
        let before = self.caps_gen;
        match method {
            AuthMethod::Login | AuthMethod::Auto => {
                if self.caps.has("LOGINDISABLED") {
                    return Err(SourceError::Unavailable(
                        "the server does not allow LOGIN on this connection (LOGINDISABLED); \
                         it needs TLS first or another --auth method"
                            .into(),
                    ));
                }
                self.simple(
                    &[
                        Arg::Raw("LOGIN"),
                        Arg::Str(user.as_bytes()),
                        Arg::Secret(secret.as_bytes()),
                    ],
                    "logging in",
                    Fail::Auth,
                    &mut |_| Ok(()),
                )?;
            }
            AuthMethod::Plain => {
                self.authenticate("PLAIN", &sasl::sasl_plain(user, secret), None)?;
            }
            AuthMethod::XOAuth2 | AuthMethod::OAuthBearer => {
                let mech = if method == AuthMethod::XOAuth2 {
                    OAuthMechanism::XOAuth2
                } else {
                    OAuthMechanism::OAuthBearer
                };
                self.authenticate(mech.name(), &mech.response(user, secret), Some(mech))?;
            }
        }
        if self.caps_gen == before {
            self.capability()?;
        }
        Ok(())
    }

    /// AUTHENTICATE `mech` with one client response (RFC 3501 §6.2.2), as an initial response
    /// when SASL-IR is advertised (RFC 4959 §3), else after the first continuation request.
    /// Further challenges are errors: with an OAuth 2 mechanism (`oauth`) they are decoded and
    /// answered with its dummy response, else the exchange is cancelled (`*`).
    fn authenticate(
        &mut self,
        mech: &str,
        response: &str,
        oauth: Option<OAuthMechanism>,
    ) -> Result<(), SourceError> {
        if !self.caps.auth(mech) {
            return Err(SourceError::Unavailable(format!(
                "the server does not offer AUTH={mech}; choose another --auth method"
            )));
        }
        let ctx = format!("authenticating with {mech}");
        let tag = self.tag();
        let sasl_ir = self.caps.has("SASL-IR");
        if sasl_ir {
            self.write_line(
                &format!("{tag} AUTHENTICATE {mech} {response}"),
                &format!("{tag} AUTHENTICATE {mech} <redacted>"),
            );
        } else {
            self.write_line(
                &format!("{tag} AUTHENTICATE {mech}"),
                &format!("{tag} AUTHENTICATE {mech}"),
            );
        }
        self.flush(&ctx)?;
        let mut sent = sasl_ir;
        let mut challenge: Option<OAuthChallenge> = None;
        loop {
            let (resp, _) = self.next_response(&ctx, None)?;
            match resp {
                Response::CommandContinuationRequest(c) => {
                    if sent {
                        // imap-codec decodes a base64 challenge; other text stays as it is.
                        let decoded = match &c {
                            CommandContinuationRequest::Base64(d) => {
                                log::debug!("server challenge: {}", String::from_utf8_lossy(d));
                                OAuthChallenge::from_json(d)
                            }
                            CommandContinuationRequest::Basic(b) => {
                                log::debug!("server challenge: {}", b.text().inner());
                                OAuthChallenge::decode(b.text().inner().as_bytes())
                            }
                        };
                        match oauth {
                            Some(m) => {
                                challenge.get_or_insert(decoded);
                                self.write_line(m.error_response(), "<error response>");
                            }
                            None => self.write_line("*", "<cancel>"),
                        }
                    } else {
                        self.write_line(response, "<redacted>");
                        sent = true;
                    }
                    self.flush(&ctx)?;
                }
                Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                    if t.body.kind == StatusKind::Ok {
                        return Ok(());
                    }
                    let e = refusal("the server refused the login", &t.body, Fail::Auth);
                    return Err(match (oauth, e) {
                        (Some(m), SourceError::Auth(_)) => {
                            SourceError::Auth(oauth_said(m, challenge.as_ref(), &t.body))
                        }
                        (_, e) => e,
                    });
                }
                Response::Status(Status::Tagged(t)) => {
                    return Err(self.unexpected_tag(&ctx, t.tag.as_ref()))
                }
                _ => {}
            }
        }
    }
}

/// The text of a refused OAuth 2 login: the decoded challenge, the server's final words.
fn oauth_said(
    mech: OAuthMechanism,
    challenge: Option<&OAuthChallenge>,
    body: &imap_codec::imap_types::response::StatusBody<'_>,
) -> String {
    let text = body.text.as_ref();
    let said = match &body.code {
        Some(c) => format!("[{}] {text}", crate::imap::proto::code_name(c)),
        None => text.to_string(),
    };
    sasl::oauth_refused(mech, challenge, &said)
}
