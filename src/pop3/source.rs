//! The POP3 session as a [`Source`] for the fetch engine (mirroring `imap/source.rs`).
//!
//! A POP3 maildrop is one mailbox, named `""`. Opening it lists the messages (UIDL and LIST,
//! RFC 1939 §7 and §5; the listing is always complete and has no UIDVALIDITY, so `0`; a
//! UIDL listing equal to the last one delivered in full is handed on empty, without a LIST,
//! see [`Source::open_since`]);
//! headers are read with `TOP n 0`; the transfer sends RETR for the messages wanted and DELE for
//! exactly the messages the engine releases (after durable delivery and recording), in the same
//! session, pipelined when the server allows it ([`super::transfer`]). [`Source::finish`] sends
//! QUIT, which is when the server makes the deletions (RFC 1939 §6): a session that fell out of
//! step never sends it, so nothing is deleted then (see [`super::session`]).

use std::io::{Read, Write};

use super::session::Session;
use super::transfer::Maildrop;
use crate::source::{Listing, RemoteMessage, Resume, Sink, Source, SourceError, TransferReport};

impl<S: Read + Write> Source for Session<S> {
    fn mailboxes(&mut self) -> Result<Vec<String>, SourceError> {
        Ok(vec![String::new()])
    }

    fn open(&mut self, _mailbox: &str, _write: bool) -> Result<Listing, SourceError> {
        self.list(None).map(listing)
    }

    /// The whole UIDL listing is read as always; when it has the digest of `resume`, the one
    /// whose every message was delivered, no message of it is new: LIST is not sent, and the
    /// listing is handed on empty and partial, so that the engine has nothing to compare.
    fn open_since(
        &mut self,
        _mailbox: &str,
        _write: bool,
        resume: Resume,
    ) -> Result<Listing, SourceError> {
        self.list(resume.listing.as_ref()).map(listing)
    }

    fn headers(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<Vec<u8>>>, SourceError> {
        self.top_headers(msgs)
    }

    fn transfer(
        &mut self,
        delete_now: &[RemoteMessage],
        retrieve: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<TransferReport, SourceError> {
        self.transfer_pipelined(delete_now, retrieve, sink)
    }

    fn finish(&mut self) -> Result<(), SourceError> {
        self.quit()
    }
}

/// The listing the engine gets from what [`Session::list`] found: every message, or, for a
/// listing with the digest asked about, none (partial, with the maildrop's size).
fn listing(listed: Maildrop) -> Listing {
    let Some(messages) = listed.messages else {
        log::debug!(
            "the listing of {} messages is the one the last complete run delivered in full: \
             nothing new",
            listed.count
        );
        return Listing {
            uidvalidity: 0,
            partial: true,
            on_server: Some(listed.count as u64),
            digest: Some(listed.digest),
            ..Listing::default()
        };
    };
    Listing {
        uidvalidity: 0,
        messages,
        digest: Some(listed.digest),
        ..Listing::default()
    }
}
