//! Listing, reading headers and transferring messages over a logged-in POP3 session: UIDL and
//! LIST, `TOP n 0`, and the pipelined window of RETR and DELE behind [`super::source`] (see
//! the module documentation of [`super::session`] for the window and how every reply is proven
//! to belong to its command).

use std::collections::VecDeque;
use std::io::{Read, Write};

use super::listing;
use super::proto::{self, quote};
use super::reply::{Ended, Expect, ProvenBody};
use super::session::{refusal, Session, DESYNC_ADVICE, MAX_BYTES_IN_FLIGHT, MAX_IN_FLIGHT};
use crate::source::{
    ListingDigest, RemoteMessage, Sink, SourceError, TransferReport, HEADER_LIMIT,
};

/// What [`Session::list`] found on the server.
pub struct Maildrop {
    /// The messages, or `None` when the UIDL listing had the digest asked about.
    pub messages: Option<Vec<RemoteMessage>>,
    /// How many messages the maildrop holds.
    pub count: usize,
    pub digest: ListingDigest,
}

enum InFlight {
    Retr(usize),
    Dele(RemoteMessage),
}

impl<S: Read + Write> Session<S> {
    /// The messages on the server (UIDL and LIST, RFC 1939 §7 and §5), in server order,
    /// validated by [`listing::merge`], and the digest of the UIDL listing (see
    /// [`listing::Digest`]).
    ///
    /// With `known`, the digest of a listing that was merged (validated) and delivered before:
    /// when the UIDL listing has that digest, it is that listing, and nothing more is asked
    /// (no LIST: the sizes of delivered messages are not needed). LIST is then sent after the
    /// UIDL listing instead of with it.
    pub fn list(&mut self, known: Option<&ListingDigest>) -> Result<Maildrop, SourceError> {
        let pipelined = self.caps.has("PIPELINING") && known.is_none();
        self.expect_idle("UIDL")?;
        self.send("UIDL");
        if pipelined {
            self.send("LIST");
        }
        self.flush("sending UIDL")?;
        let st = self.status("reading the UIDL reply")?;
        // The unique ids, one after another, and where each ends: no allocation per message
        // until they are needed.
        let mut ids: Vec<u8> = Vec::new();
        let mut uidl: Vec<(u32, usize)> = Vec::new();
        let mut digest = listing::Digest::new();
        if st.ok {
            self.multiline("reading the UIDL listing", listing::MAX_MESSAGES, |l| {
                match proto::parse_listing(l) {
                    Some((n, uid)) if proto::valid_uidl_bytes(uid) => {
                        digest.line(l);
                        ids.extend_from_slice(uid);
                        uidl.push((n, ids.len()));
                        Ok(())
                    }
                    _ => Err(format!("malformed UIDL line {:?}", quote(l))),
                }
            })?;
            log::debug!("S: <UIDL listing of {} messages>", uidl.len());
        }
        let digest = digest.finish();
        if st.ok && known == Some(&digest) {
            self.listed = uidl.len();
            self.deleted = 0;
            return Ok(Maildrop {
                messages: None,
                count: uidl.len(),
                digest,
            });
        }
        if !pipelined {
            self.expect_idle("LIST")?;
            self.send("LIST");
            self.flush("sending LIST")?;
        }
        let st_list = self.status("reading the LIST reply")?;
        if !st_list.ok {
            return Err(refusal("LIST", &st_list, false));
        }
        let mut list = Vec::new();
        self.multiline("reading the LIST listing", listing::MAX_MESSAGES, |l| {
            match proto::parse_listing(l)
                .and_then(|(n, size)| Some((n, proto::parse_number(size)?)))
            {
                Some(item) => {
                    list.push(item);
                    Ok(())
                }
                None => Err(format!("malformed LIST line {:?}", quote(l))),
            }
        })?;
        log::debug!("S: <LIST listing of {} messages>", list.len());
        if !st.ok {
            return Err(SourceError::Protocol(format!(
                "the server does not support UIDL ({}); mailpull needs unique ids to know which \
                 messages it already has",
                st.quoted()
            )));
        }
        let mut start = 0;
        let uidl: Vec<(u32, String)> = uidl
            .into_iter()
            .map(|(n, end)| {
                // Printable ASCII: the conversion cannot fail.
                let uid = String::from_utf8_lossy(&ids[start..end]).into_owned();
                start = end;
                (n, uid)
            })
            .collect();
        drop(ids);
        let messages = listing::merge(uidl, &list)
            .map_err(|e| SourceError::Protocol(format!("{e}; nothing was fetched or deleted")))?;
        self.listed = messages.len();
        self.deleted = 0;
        Ok(Maildrop {
            count: messages.len(),
            messages: Some(messages),
            digest,
        })
    }

    /// The header block of each message (`TOP n 0`, RFC 1939 §7), pipelined when the server
    /// offers PIPELINING (each with its `UIDL n` sentinel), cut at [`HEADER_LIMIT`] bytes.
    /// `None` for a message the server refuses; an error when it refuses them all and does not
    /// announce TOP (RFC 2449 §6.2).
    pub fn top_headers(
        &mut self,
        msgs: &[RemoteMessage],
    ) -> Result<Vec<Option<Vec<u8>>>, SourceError> {
        let pipelining = self.caps.has("PIPELINING");
        let window = if pipelining { MAX_IN_FLIGHT } else { 1 };
        let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(msgs.len());
        let mut sent = 0;
        let mut refused = None;
        while out.len() < msgs.len() {
            if sent == out.len() {
                self.expect_idle("TOP")?;
            }
            while sent < msgs.len() && sent - out.len() < window {
                self.send(&format!("TOP {} 0", msgs[sent].number));
                if pipelining {
                    self.send(&format!("UIDL {}", msgs[sent].number));
                }
                sent += 1;
            }
            self.flush("sending TOP")?;
            let m = &msgs[out.len()];
            let context = format!("reading the headers of message {}", m.number);
            let st = self.status(&context)?;
            if !st.ok {
                log::debug!("the server refused TOP {}: {}", m.number, st.quoted());
                if pipelining {
                    self.sentinel(m)?;
                }
                refused.get_or_insert(st.quoted());
                out.push(None);
                continue;
            }
            let expect = Expect {
                number: m.number,
                uid: &m.uid,
                listed: None,
                announced: None,
                sentinel: pipelining,
            };
            let mut body = ProvenBody::new(&mut self.conn, &mut self.line, expect);
            let mut header = Vec::new();
            // Longer than HEADER_LIMIT (or a server that sent body lines): the rest is read
            // and proven, not kept.
            let _ = (&mut body)
                .take(HEADER_LIMIT as u64)
                .read_to_end(&mut header)
                .and_then(|_| body.drain());
            let ended = body.ended().clone();
            self.ended(&context, ended)?;
            log::debug!(
                "S: <header of message {}: {} bytes>",
                m.number,
                header.len()
            );
            out.push(Some(header));
        }
        if let Some(text) = refused {
            if !self.caps.has("TOP") && out.iter().all(Option::is_none) {
                return Err(SourceError::Unavailable(format!(
                    "the server does not support TOP ({text}), which reading headers without \
                     downloading needs (list, filters, --pick)"
                )));
            }
        }
        Ok(out)
    }

    /// Deletes `delete_now` and retrieves `retrieve` into `sink` (RETR and DELE, RFC 1939
    /// §7 and §6), under the pipelining window when the server offers PIPELINING: the
    /// [`Source::transfer`](crate::source::Source::transfer) of a POP3 session.
    pub(super) fn transfer_pipelined(
        &mut self,
        delete_now: &[RemoteMessage],
        retrieve: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<TransferReport, SourceError> {
        let pipelining = self.caps.has("PIPELINING");
        let (max_cmds, max_bytes) = if pipelining {
            (MAX_IN_FLIGHT, MAX_BYTES_IN_FLIGHT)
        } else {
            (1, 0)
        };
        let mut report = TransferReport::default();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut deletes: VecDeque<RemoteMessage> = delete_now.iter().cloned().collect();
        let mut next = 0usize;
        let mut bytes_in_flight = 0u64;
        let mut stopped = false;
        let mut final_deletes_taken = false;
        loop {
            if in_flight.is_empty() {
                self.expect_idle("the next command")?;
            }
            while in_flight.len() < max_cmds {
                if let Some(m) = deletes.pop_front() {
                    self.send(&format!("DELE {}", m.number));
                    in_flight.push_back(InFlight::Dele(m));
                } else if !stopped
                    && next < retrieve.len()
                    && (bytes_in_flight == 0
                        || bytes_in_flight.saturating_add(retrieve[next].size) <= max_bytes)
                {
                    let number = retrieve[next].number;
                    self.send(&format!("RETR {number}"));
                    if pipelining {
                        // The sentinel that proves the RETR reply's framing.
                        self.send(&format!("UIDL {number}"));
                    }
                    bytes_in_flight = bytes_in_flight.saturating_add(retrieve[next].size);
                    in_flight.push_back(InFlight::Retr(next));
                    next += 1;
                } else {
                    break;
                }
            }
            self.flush("sending commands")?;
            match in_flight.pop_front() {
                None => {
                    if final_deletes_taken {
                        break;
                    }
                    final_deletes_taken = true;
                    deletes.extend(sink.take_deletes(true));
                }
                Some(InFlight::Dele(m)) => {
                    let st = self.status(&format!("deleting message {}", m.number))?;
                    // Nothing in a DELE reply ties it to its command: the next proven message
                    // or a STAT before QUIT shows that it was not one reply early or late.
                    self.unproven = true;
                    if st.ok {
                        self.deleted += 1;
                        report.deleted.push(m);
                    } else {
                        log::warn!(
                            "the server refused to delete message {} ({}): {}; it stays on the server",
                            m.number,
                            m.uid,
                            st.quoted()
                        );
                    }
                }
                Some(InFlight::Retr(i)) => {
                    let msg = &retrieve[i];
                    bytes_in_flight = bytes_in_flight.saturating_sub(msg.size);
                    let context = format!("retrieving message {}", msg.number);
                    let st = self.status(&context)?;
                    if !st.ok {
                        if pipelining {
                            self.sentinel(msg)?;
                        }
                        if matches!(st.code.as_deref(), Some("SYS/TEMP") | Some("SYS/PERM")) {
                            return Err(refusal(&context, &st, false));
                        }
                        report.refused.push((msg.clone(), st.quoted()));
                        continue;
                    }
                    let announced = proto::announced_octets(&st.text);
                    match self.octet_counts {
                        None => self.octet_counts = Some(announced.is_some()),
                        Some(had) if had != announced.is_some() => {
                            return Err(self.protocol(format!(
                                "the server's reply to RETR {} ({:?}) {} the size of the message, \
                                 unlike its earlier RETR replies: its replies are out of step \
                                 with the commands{DESYNC_ADVICE}",
                                msg.number,
                                st.quoted(),
                                if had { "lacks" } else { "announces" }
                            )))
                        }
                        Some(_) => {}
                    }
                    let expect = Expect {
                        number: msg.number,
                        uid: &msg.uid,
                        listed: Some(msg.size),
                        announced,
                        sentinel: pipelining,
                    };
                    let mut body = ProvenBody::new(&mut self.conn, &mut self.line, expect);
                    let result = if stopped {
                        Ok(())
                    } else {
                        sink.message(msg, &mut body)
                    };
                    if *body.ended() == Ended::Open {
                        // The sink gave up early: read (and prove) the rest of this reply.
                        let _ = body.drain();
                    }
                    let ended = body.ended().clone();
                    let bytes = body.decoded_bytes();
                    self.ended(&context, ended)?;
                    if pipelining {
                        // Proven by its sentinel: every reply before it was in step.
                        self.unproven = false;
                    }
                    log::debug!("S: <message {}: {bytes} bytes>", msg.number);
                    if let Err(e) = result {
                        if e.fatal && !stopped {
                            stopped = true;
                            log::debug!("stopping retrieval after a delivery failure");
                        }
                    }
                    deletes.extend(sink.take_deletes(false));
                }
            }
        }
        Ok(report)
    }
}
