//! Sending commands and awaiting their completion: tags, the output buffer, synchronizing
//! literals (RFC 3501 §7.5), one command at a time or a window of them in flight, and the
//! classification of a tagged `NO` or `BAD` by its response code (RFC 5530).

use std::collections::VecDeque;
use std::io::{Read, Write};

use imap_codec::imap_types::response::{Response, Status, StatusBody, StatusKind};

use super::Session;
use crate::imap::proto::{self, Arg};
use crate::imap::wire::io_error;
use crate::source::SourceError;

/// Default classification of a `NO` without a telling response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fail {
    Auth,
    Unavailable,
    Protocol,
}

/// Commands in flight at most for STORE and metadata FETCH batches.
const WINDOW: usize = 16;

/// Classifies a tagged `NO` or `BAD` (RFC 3501 §7.1, RFC 5530 §3).
pub(super) fn refusal(context: &str, body: &StatusBody<'_>, default: Fail) -> SourceError {
    let code = body.code.as_ref().map(proto::code_name);
    let text = body.text.as_ref();
    let msg = match &code {
        Some(c) => format!("{context}: the server said: [{c}] {text}"),
        None => format!("{context}: the server said: {text}"),
    };
    if body.kind == StatusKind::Bad {
        return SourceError::Protocol(msg);
    }
    match code.as_deref() {
        Some("AUTHENTICATIONFAILED") | Some("AUTHORIZATIONFAILED") => {
            SourceError::Auth(format!("{msg}\n  (check the user name and password)"))
        }
        Some("EXPIRED") => SourceError::Auth(format!(
            "{msg}\n  (the password or credentials have expired [EXPIRED])"
        )),
        Some("PRIVACYREQUIRED") => SourceError::Unavailable(format!(
            "{msg}\n  (the server requires an encrypted connection [PRIVACYREQUIRED])"
        )),
        Some("CONTACTADMIN") => SourceError::Unavailable(format!(
            "{msg}\n  (the server asks you to contact its administrator [CONTACTADMIN])"
        )),
        Some("UNAVAILABLE") | Some("SERVERBUG") | Some("LIMIT") | Some("OVERQUOTA") => {
            SourceError::Temporary(msg)
        }
        Some("INUSE") => SourceError::Unavailable(format!(
            "{msg}\n  (the mailbox is in use by another session [INUSE]; try again later)"
        )),
        Some("NOPERM") | Some("NONEXISTENT") | Some("CORRUPTION") => SourceError::Unavailable(msg),
        Some("CLIENTBUG") | Some("CANNOT") | Some("PARSE") => SourceError::Protocol(msg),
        _ => match default {
            Fail::Auth => SourceError::Auth(format!("{msg}\n  (check the user name and password)")),
            Fail::Unavailable => SourceError::Unavailable(msg),
            Fail::Protocol => SourceError::Protocol(msg),
        },
    }
}

impl<S: Read + Write> Session<S> {
    pub(super) fn tag(&mut self) -> String {
        let t = format!("A{:04}", self.next_tag);
        self.next_tag += 1;
        t
    }

    pub(super) fn write_line(&mut self, line: &str, shown: &str) {
        log::debug!("C: {shown}");
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub(super) fn flush(&mut self, context: &str) -> Result<(), SourceError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stream = self.conn.get_mut();
        let r = stream.write_all(&self.out).and_then(|_| stream.flush());
        self.out.clear();
        r.map_err(|e| io_error(context, e))
    }

    /// Sends a command, waiting for continuation requests before synchronizing literals
    /// (RFC 3501 §7.5). Returns its tag; the command may still sit in the output buffer.
    fn send(&mut self, args: &[Arg<'_>], ctx: &str, fail: Fail) -> Result<String, SourceError> {
        let tag = self.tag();
        let segments = proto::encode_command(&tag, args, self.caps.has("LITERAL+"))
            .map_err(|e| SourceError::Protocol(format!("{ctx}: {e}")))?;
        for seg in segments {
            log::debug!("C: {}", seg.shown);
            self.out.extend_from_slice(&seg.bytes);
            if seg.await_continuation {
                self.flush(ctx)?;
                loop {
                    let (resp, _) = self.next_response(ctx, None)?;
                    match resp {
                        Response::CommandContinuationRequest(_) => break,
                        Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                            return Err(refusal(ctx, &t.body, fail));
                        }
                        Response::Status(Status::Tagged(t)) => {
                            return Err(self.unexpected_tag(ctx, t.tag.as_ref()))
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(tag)
    }

    /// Runs one command: sends it, hands every untagged response to `handler`, and returns
    /// the tagged OK (or the classified error for NO/BAD).
    pub(super) fn simple(
        &mut self,
        args: &[Arg<'_>],
        ctx: &str,
        fail: Fail,
        handler: &mut dyn FnMut(&Response<'static>) -> Result<(), SourceError>,
    ) -> Result<StatusBody<'static>, SourceError> {
        let tag = self.send(args, ctx, fail)?;
        self.flush(ctx)?;
        self.wait_tagged(&tag, ctx, fail, handler)
    }

    pub(super) fn wait_tagged(
        &mut self,
        tag: &str,
        ctx: &str,
        fail: Fail,
        handler: &mut dyn FnMut(&Response<'static>) -> Result<(), SourceError>,
    ) -> Result<StatusBody<'static>, SourceError> {
        loop {
            let (resp, _) = self.next_response(ctx, None)?;
            match resp {
                Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                    if t.body.kind == StatusKind::Ok {
                        return Ok(t.body);
                    }
                    return Err(refusal(ctx, &t.body, fail));
                }
                Response::Status(Status::Tagged(t)) => {
                    return Err(self.unexpected_tag(ctx, t.tag.as_ref()))
                }
                Response::CommandContinuationRequest(_) => {
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: unexpected continuation request"
                    )))
                }
                r => handler(&r)?,
            }
        }
    }

    /// Runs commands without literals, up to [`WINDOW`] in flight; the first failure is
    /// returned after all replies have been read.
    pub(super) fn pipeline(
        &mut self,
        cmds: &[String],
        ctx: &str,
        handler: &mut dyn FnMut(&Response<'static>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let mut in_flight: VecDeque<String> = VecDeque::new();
        let mut next = 0;
        let mut first_err = None;
        loop {
            while next < cmds.len() && in_flight.len() < WINDOW && first_err.is_none() {
                let tag = self.tag();
                let line = format!("{tag} {}", cmds[next]);
                self.write_line(&line, &line);
                in_flight.push_back(tag);
                next += 1;
            }
            self.flush(ctx)?;
            if in_flight.is_empty() {
                break;
            }
            let (resp, _) = self.next_response(ctx, None)?;
            match resp {
                Response::Status(Status::Tagged(t)) => {
                    let Some(pos) = in_flight.iter().position(|tag| tag == t.tag.as_ref()) else {
                        return Err(self.unexpected_tag(ctx, t.tag.as_ref()));
                    };
                    in_flight.remove(pos);
                    if t.body.kind != StatusKind::Ok && first_err.is_none() {
                        first_err = Some(refusal(ctx, &t.body, Fail::Protocol));
                    }
                }
                Response::CommandContinuationRequest(_) => {
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: unexpected continuation request"
                    )))
                }
                r => handler(&r)?,
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) fn unexpected_tag(&self, ctx: &str, tag: &str) -> SourceError {
        SourceError::Protocol(format!(
            "{ctx}: the server answered a command that was not sent (tag {tag:?})"
        ))
    }
}
