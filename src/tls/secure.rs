//! Securing a plain connection in place: STLS (POP3, RFC 2595 §4) and STARTTLS (IMAP,
//! RFC 3501 §6.2.1) are one procedure, written once here so that its two safety rules cannot
//! drift apart between the protocols:
//!
//! 1. **Never fall back to plaintext.** A server that does not advertise the command is
//!    refused before anything is sent (`Unavailable`, exit 69): the password is never sent in
//!    clear because TLS was not on offer.
//! 2. **Nothing read before the handshake is trusted after it.** Bytes that arrived after the
//!    server's go-ahead, before the handshake, would be read as if they came over TLS (the
//!    STARTTLS command injection, CVE-2011-0411): the session ends with a protocol error.
//!
//! Then the handshake runs on the raw stream (`upgrade`, normally [`Tls::upgrade`]) and the
//! session goes on over TLS, having forgotten the capabilities it learned before (both RFCs
//! require it) and asked for them again. Each protocol supplies its own steps through
//! [`StartTls`]; [`secure`] runs them in that order. The protocol sessions' `stls` and
//! `starttls` call it, and so can the code that opens an account's session, for either
//! protocol.

use crate::source::SourceError;
#[cfg(doc)]
use crate::tls::Tls;

/// A protocol session that can switch its connection to TLS in place with a command of its
/// protocol. Implemented by the POP3 and IMAP sessions; use [`secure`], which runs the steps
/// in order with the checks around them, rather than the steps themselves.
pub trait StartTls: Sized {
    /// The connection under the session.
    type Stream;
    /// The command (`STLS`, `STARTTLS`).
    const COMMAND: &'static str;
    /// The URL scheme of the protocol with implicit TLS (`pop3s://`, `imaps://`), for advice.
    const IMPLICIT_TLS_SCHEME: &'static str;

    /// Whether the server advertised the command (in the capabilities last learned).
    fn offers_tls(&self) -> bool;

    /// Sends the command and reads the server's answer; a refusal is an error.
    fn request_tls(&mut self) -> Result<(), SourceError>;

    /// Whether bytes arrived after the server's go-ahead (read ahead into the session's buffer).
    fn read_ahead(&self) -> bool;

    /// Hands the raw stream to `upgrade` and goes on over the stream it returns, forgetting
    /// what was learned before TLS and asking for the capabilities again.
    fn resume_over<F>(self, upgrade: F) -> Result<Self, SourceError>
    where
        F: FnOnce(Self::Stream) -> Result<Self::Stream, SourceError>;
}

/// Secures `session` with its protocol's STLS or STARTTLS (see the module documentation):
/// refuses when the server does not offer it, sends it, refuses data read ahead of the
/// handshake, runs `upgrade` on the raw stream and asks for the capabilities again over TLS.
pub fn secure<P, F>(mut session: P, upgrade: F) -> Result<P, SourceError>
where
    P: StartTls,
    F: FnOnce(P::Stream) -> Result<P::Stream, SourceError>,
{
    let command = P::COMMAND;
    if !session.offers_tls() {
        return Err(SourceError::Unavailable(format!(
            "the server does not offer {command}, so the connection cannot be secured; \
             mailpull will not send your password in clear.\n  (use {} if the server has a \
             TLS port, or --insecure-no-tls on a trusted loopback connection)",
            P::IMPLICIT_TLS_SCHEME
        )));
    }
    session.request_tls()?;
    if session.read_ahead() {
        // Anything after the go-ahead would be taken as if it came over TLS (CVE-2011-0411).
        return Err(SourceError::Protocol(format!(
            "the server sent unexpected data right after accepting {command}"
        )));
    }
    session.resume_over(upgrade)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session that records the steps [`secure`] takes.
    #[derive(Default)]
    struct Fake {
        offers: bool,
        refuses: bool,
        read_ahead: bool,
        steps: Vec<&'static str>,
    }

    impl StartTls for Fake {
        type Stream = Vec<&'static str>;
        const COMMAND: &'static str = "STLS";
        const IMPLICIT_TLS_SCHEME: &'static str = "pop3s://";

        fn offers_tls(&self) -> bool {
            self.offers
        }
        fn request_tls(&mut self) -> Result<(), SourceError> {
            self.steps.push("command");
            if self.refuses {
                return Err(SourceError::Unavailable("refused".into()));
            }
            Ok(())
        }
        fn read_ahead(&self) -> bool {
            self.read_ahead
        }
        fn resume_over<F>(self, upgrade: F) -> Result<Self, SourceError>
        where
            F: FnOnce(Self::Stream) -> Result<Self::Stream, SourceError>,
        {
            let mut steps = upgrade(self.steps)?;
            steps.push("capabilities");
            Ok(Fake { steps, ..self })
        }
    }

    fn handshake(mut s: Vec<&'static str>) -> Result<Vec<&'static str>, SourceError> {
        s.push("handshake");
        Ok(s)
    }

    #[test]
    fn the_steps_run_in_order() {
        let s = Fake {
            offers: true,
            ..Fake::default()
        };
        let s = secure(s, handshake).unwrap();
        assert_eq!(s.steps, ["command", "handshake", "capabilities"]);
    }

    #[test]
    fn no_command_without_the_capability() {
        let e = secure(Fake::default(), |_| panic!("no handshake"))
            .err()
            .unwrap();
        assert!(matches!(e, SourceError::Unavailable(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("does not offer STLS"), "{msg}");
        assert!(msg.contains("pop3s://"), "{msg}");
    }

    #[test]
    fn a_refused_command_stops_before_the_handshake() {
        let s = Fake {
            offers: true,
            refuses: true,
            ..Fake::default()
        };
        let e = secure(s, |_| panic!("no handshake")).err().unwrap();
        assert!(matches!(e, SourceError::Unavailable(_)), "{e:?}");
    }

    #[test]
    fn data_read_ahead_of_the_handshake_is_refused() {
        let s = Fake {
            offers: true,
            read_ahead: true,
            ..Fake::default()
        };
        let e = secure(s, |_| panic!("no handshake")).err().unwrap();
        assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
        assert!(e.to_string().contains("right after accepting STLS"), "{e}");
    }
}
