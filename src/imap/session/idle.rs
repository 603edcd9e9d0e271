//! Waiting for new mail with IDLE (RFC 2177): until an event, a timeout, or the caller's stop
//! check, which [`Session::idle_until`] makes at a regular tick by shortening the connection's
//! read timeout (the [`ReadTimeout`] contract).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use imap_codec::imap_types::response::{Response, Status};

use super::command::{refusal, Fail};
use super::Session;
use crate::imap::wire::{closed, io_error};
use crate::source::SourceError;
use crate::tls::ReadTimeout;

/// What ended an [`Session::idle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleEvent {
    /// The mailbox has more messages than before (`* N EXISTS`).
    NewMail { exists: u32 },
    /// Messages were expunged by someone else.
    Expunged,
    /// The time ran out.
    Timeout,
}

impl<S: Read + Write + ReadTimeout> Session<S> {
    /// Like [`Session::idle`], but also ends (as [`IdleEvent::Timeout`], after DONE) once
    /// `stop()` returns true. While nothing arrives the socket's read timeout is shortened to
    /// `tick`, so `stop` is checked at least that often; the connection's own read timeout is
    /// restored before any response is read, so a slow server is not mistaken for a dead one.
    pub fn idle_until(
        &mut self,
        timeout: Duration,
        tick: Duration,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<IdleEvent, SourceError> {
        let normal = self
            .conn
            .get_ref()
            .read_timeout()
            .map_err(|e| io_error("setting up IDLE", e))?;
        let tick = tick.max(Duration::from_millis(1));
        let result = self.idle_inner(timeout, stop, &mut |s, waiting| {
            s.set_read_timeout(if waiting { Some(tick) } else { normal })
        });
        // Whatever happened, the connection gets its own timeout back.
        let _ = self.conn.get_ref().set_read_timeout(normal);
        result
    }
}

impl<S: Read + Write> Session<S> {
    /// Waits for changes to the selected mailbox with IDLE (RFC 2177) for at most `timeout`
    /// (keep it under 29 minutes), then ends the IDLE with DONE.
    ///
    /// The wait is measured in reads: a read that times out on the connection (its read
    /// timeout) counts as "nothing happened yet", so the effective wait is `timeout` rounded up
    /// to the connection's read timeout; without a read timeout, it lasts until the server
    /// says something. New mail is counted from the number of messages known before IDLE was
    /// sent, so an `EXISTS` that arrives with the continuation request counts too.
    pub fn idle(&mut self, timeout: Duration) -> Result<IdleEvent, SourceError> {
        self.idle_inner(timeout, &mut || false, &mut |_, _| Ok(()))
    }

    /// Sends IDLE, waits for an event, the `timeout` or `stop()`, and ends the IDLE with DONE.
    /// `wait(stream, true)` is called before each wait for the server and `wait(stream,
    /// false)` after it, before a response is read.
    fn idle_inner(
        &mut self,
        timeout: Duration,
        stop: &mut dyn FnMut() -> bool,
        wait: &mut dyn FnMut(&S, bool) -> io::Result<()>,
    ) -> Result<IdleEvent, SourceError> {
        if !self.caps.has("IDLE") {
            return Err(SourceError::Unavailable(
                "the server does not offer IDLE".into(),
            ));
        }
        let ctx = "waiting for new mail (IDLE)";
        let start_exists = self.exists;
        let tag = self.tag();
        self.write_line(&format!("{tag} IDLE"), &format!("{tag} IDLE"));
        self.flush(ctx)?;
        loop {
            let (resp, _) = self.next_response(ctx, None)?;
            match resp {
                Response::CommandContinuationRequest(_) => break,
                Response::Status(Status::Tagged(t)) if t.tag.as_ref() == tag => {
                    return Err(refusal(ctx, &t.body, Fail::Protocol));
                }
                Response::Status(Status::Tagged(t)) => {
                    return Err(self.unexpected_tag(ctx, t.tag.as_ref()))
                }
                _ => {}
            }
        }
        self.expunged.clear();
        let start = Instant::now();
        let event = loop {
            if self.exists > start_exists {
                break IdleEvent::NewMail {
                    exists: self.exists,
                };
            }
            if !self.expunged.is_empty() {
                break IdleEvent::Expunged;
            }
            if start.elapsed() >= timeout || stop() {
                break IdleEvent::Timeout;
            }
            wait(self.conn.get_ref(), true).map_err(|e| io_error(ctx, e))?;
            let got = match self.conn.fill_buf() {
                Ok(b) => Ok(!b.is_empty()),
                Err(e) => Err(e),
            };
            wait(self.conn.get_ref(), false).map_err(|e| io_error(ctx, e))?;
            match got {
                Ok(false) => return Err(closed(ctx, "the server closed the connection")),
                Ok(true) => {
                    let (resp, _) = self.next_response(ctx, None)?;
                    if let Response::Status(Status::Tagged(t)) = resp {
                        return Err(SourceError::Protocol(format!(
                            "{ctx}: the server ended IDLE by itself: {}",
                            t.body.text.as_ref()
                        )));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(io_error(ctx, e)),
            }
        };
        self.write_line("DONE", "DONE");
        self.flush(ctx)?;
        self.wait_tagged(&tag, ctx, Fail::Protocol, &mut |_| Ok(()))?;
        Ok(event)
    }
}
