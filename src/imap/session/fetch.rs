//! Fetching from the selected mailbox: the listings (UIDs, sizes, flags, with `UID FETCH n:*`
//! for new mail only), header sections and Message-IDs, and the message bodies, streamed to a
//! callback under a window of pipelined `UID FETCH` commands (RFC 3501 §6.4.5, §6.4.8).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Write};

use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::response::{Data, Response, Status, StatusKind};

use super::command::{refusal, Fail};
use super::Session;
use crate::imap::body;
use crate::imap::proto::{self, Arg};
use crate::source::{SourceError, HEADER_LIMIT};

/// A message found by [`Session::list_new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListedMessage {
    pub uid: u32,
    /// `RFC822.SIZE`.
    pub size: u64,
    /// The message carries `\Deleted`.
    pub deleted: bool,
}

/// Returned by a [`Session::fetch_bodies`] callback to stop: no further messages are requested
/// (those already on the wire are read and discarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop;

/// What [`Session::fetch_bodies`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchOutcome {
    /// UIDs whose body was handed to the callback and for which it returned `Ok`.
    pub delivered: Vec<u32>,
    /// UIDs requested whose body the server did not send (expunged meanwhile, or refused with
    /// `NO`).
    pub missing: Vec<u32>,
    /// The callback returned [`Stop`]: UIDs not in `delivered` or `missing` were not
    /// retrieved (never requested, or read and discarded after the stop).
    pub stopped: bool,
}

/// FETCH commands in flight at most in [`Session::fetch_bodies`].
const FETCH_WINDOW: usize = 16;
/// UIDs per FETCH command at most.
const FETCH_CHUNK: usize = 16;
/// Announced bytes per FETCH command at most (at least one message per command).
const FETCH_CHUNK_BYTES: u64 = 1 << 20;
/// Announced bytes of FETCH commands in flight at most (at least one command).
const FETCH_BYTES_IN_FLIGHT: u64 = 4 << 20;
/// Size assumed for a message whose size is not known.
const UNKNOWN_SIZE: u64 = 64 * 1024;

/// A header section as fetched: (UID, the section's bytes if the server sent them, size).
type HeaderSection = (u32, Option<Vec<u8>>, u64);

/// The callback side of a body fetch.
pub(super) struct BodySink<'a> {
    on_message: &'a mut dyn FnMut(u32, &mut dyn Read) -> Result<(), Stop>,
    /// Requested and not yet seen.
    wanted: Wanted<'a>,
    stopped: bool,
    delivered: Vec<u32>,
}

/// The UIDs of a body fetch not yet seen: a flag per UID of the sorted request, a few bytes
/// per message where a set of 100,000 UIDs took megabytes.
pub(super) struct Wanted<'a> {
    uids: &'a [u32],
    open: Vec<bool>,
    left: usize,
}

impl<'a> Wanted<'a> {
    /// `uids` sorted, each once.
    fn new(uids: &'a [u32]) -> Wanted<'a> {
        Wanted {
            open: vec![true; uids.len()],
            left: uids.len(),
            uids,
        }
    }

    /// Whether `uid` was still wanted; it no longer is.
    fn remove(&mut self, uid: &u32) -> bool {
        match self.uids.binary_search(uid) {
            Ok(i) if self.open[i] => {
                self.open[i] = false;
                self.left -= 1;
                true
            }
            _ => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.left == 0
    }
}

impl BodySink<'_> {
    /// Hands a body to the callback, unless it was not requested, already seen, or the
    /// callback stopped. The caller drains what the callback leaves unread.
    pub(super) fn deliver(&mut self, uid: u32, body: &mut dyn Read) {
        if !self.wanted.remove(&uid) {
            log::warn!("the server sent message UID {uid}, which was not asked for; ignoring it");
            return;
        }
        if self.stopped {
            return;
        }
        match (self.on_message)(uid, body) {
            Ok(()) => self.delivered.push(uid),
            Err(Stop) => {
                log::debug!("stopping the retrieval after message UID {uid}");
                self.stopped = true;
            }
        }
    }
}

pub(super) fn fetch_uid(items: &[MessageDataItem<'_>]) -> Option<u32> {
    items.iter().find_map(|i| match i {
        MessageDataItem::Uid(u) => Some(u.get()),
        _ => None,
    })
}

fn fetch_size(items: &[MessageDataItem<'_>]) -> Option<u64> {
    items.iter().find_map(|i| match i {
        MessageDataItem::Rfc822Size(s) => Some(*s as u64),
        _ => None,
    })
}

impl<S: Read + Write> Session<S> {
    /// UIDs and sizes of every message of the selected mailbox, by ascending UID, with
    /// `UID FETCH 1:* (UID RFC822.SIZE FLAGS)` (RFC 3501 §6.4.8). An empty mailbox sends
    /// nothing. Also learns the sequence number of every message (see
    /// [`Session::fetch_bodies`]) and its keywords (see [`Session::listed_with_keyword`]).
    pub fn uids_and_sizes(&mut self) -> Result<Vec<(u32, u64)>, SourceError> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .list_all()?
            .into_iter()
            .map(|m| (m.uid, m.size))
            .collect())
    }

    /// [`Session::uids_and_sizes`] with the `\Deleted` flag of each message.
    pub fn list_all(&mut self) -> Result<Vec<ListedMessage>, SourceError> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        self.keywords.clear();
        self.list_messages(1)
    }

    /// The messages with a UID above `after` (new mail since a listing that ended at UID
    /// `after`), by ascending UID, with `UID FETCH after+1:* (UID RFC822.SIZE FLAGS)`: one
    /// command, whose answer is proportional to the new messages only. Their keywords and
    /// sequence numbers are learned as by [`Session::uids_and_sizes`]; what was known about the
    /// others is kept.
    pub fn list_new(&mut self, after: u32) -> Result<Vec<ListedMessage>, SourceError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        // RFC 3501 §6.4.8: `first:*` includes the last message even when its UID is below
        // `first`; `list_messages` drops it.
        self.list_messages(first)
    }

    /// `UID FETCH first:* (UID RFC822.SIZE FLAGS)`: the messages with a UID of at least
    /// `first`, by ascending UID.
    fn list_messages(&mut self, first: u32) -> Result<Vec<ListedMessage>, SourceError> {
        // In the order the server sends them (ascending, as a rule); sorted below.
        let mut listed: Vec<ListedMessage> = Vec::new();
        let mut keywords: HashMap<u32, Vec<String>> = HashMap::new();
        let expunged_before = self.expunged.len();
        let cmd = format!("UID FETCH {first}:* (UID RFC822.SIZE FLAGS)");
        self.simple(
            &[Arg::Raw(&cmd)],
            "listing messages",
            Fail::Protocol,
            &mut |r| {
                if let Response::Data(Data::Fetch { items, .. }) = r {
                    let items = items.as_ref();
                    if let (Some(uid), Some(size)) = (fetch_uid(items), fetch_size(items)) {
                        if uid < first {
                            return Ok(());
                        }
                        let flags = || {
                            items
                                .iter()
                                .filter_map(|i| match i {
                                    MessageDataItem::Flags(f) => Some(f),
                                    _ => None,
                                })
                                .flatten()
                        };
                        let deleted = flags().any(|f| matches!(f, FlagFetch::Flag(Flag::Deleted)));
                        let kws: Vec<String> = flags()
                            .filter_map(|f| match f {
                                FlagFetch::Flag(Flag::Keyword(k)) => Some(k.to_string()),
                                _ => None,
                            })
                            .collect();
                        if !kws.is_empty() {
                            keywords.insert(uid, kws);
                        }
                        listed.push(ListedMessage { uid, size, deleted });
                    }
                }
                Ok(())
            },
        )?;
        self.keywords.extend(keywords);
        // By UID, a UID listed twice once (its last response counts).
        if !listed.is_sorted_by(|a, b| a.uid < b.uid) {
            listed.reverse();
            listed.sort_by_key(|m| m.uid);
            listed.dedup_by_key(|m| m.uid);
        }
        // A message listed and then expunged (UID FETCH may see EXPUNGE, RFC 3501 §7.4.1).
        let expunged: HashSet<u32> = self.expunged.drain(expunged_before..).collect();
        if !expunged.is_empty() {
            listed.retain(|m| !expunged.contains(&m.uid));
        }
        listed.shrink_to_fit();
        self.sizes.extend(listed.iter().map(|m| (m.uid, m.size)));
        Ok(listed)
    }

    /// Streams the bodies of `uids` (`UID FETCH set (UID BODY.PEEK[])`, RFC 3501 §6.4.5,
    /// §6.4.8; PEEK keeps `\Seen` unchanged) to `on_message`, one call per message, in the
    /// server's order.
    ///
    /// The `Read` yields exactly the bytes of the server's literal: no line-end conversion
    /// (servers send CRLF), nothing added or removed. It never holds more than the read buffer
    /// (64 KiB) in memory. If the connection breaks in the middle, `read` returns an error and
    /// the whole call fails with `Connection`: the message is incomplete. Whatever the callback
    /// leaves unread is read and discarded.
    ///
    /// Several commands of up to 16 UIDs are in flight at once (16 commands, 4 MiB of announced
    /// sizes at most), so the server never waits for a round trip. When `on_message` returns
    /// [`Stop`], nothing more is requested; what is already on the wire is read and discarded.
    ///
    /// A server may send the UID after the body (`* 5 FETCH (BODY[] {n}...  UID 9)`): the
    /// session then knows the UID from the sequence number, having listed the mailbox with
    /// [`Session::uids_and_sizes`] (done here first if needed), and checks it against the UID
    /// that follows.
    pub fn fetch_bodies(
        &mut self,
        uids: &[u32],
        on_message: &mut dyn FnMut(u32, &mut dyn Read) -> Result<(), Stop>,
    ) -> Result<FetchOutcome, SourceError> {
        // Sorted, each once, no 0: as listed, the request is used as it is.
        let uids: std::borrow::Cow<'_, [u32]> =
            if uids.first() != Some(&0) && uids.is_sorted_by(|a, b| a < b) {
                uids.into()
            } else {
                let mut v: Vec<u32> = uids.iter().copied().filter(|&u| u != 0).collect();
                v.sort_unstable();
                v.dedup();
                v.into()
            };
        if uids.is_empty() {
            return Ok(FetchOutcome::default());
        }
        // A body sent before its UID is recognised by its sequence number, which a listing
        // (of the mailbox, or of its new messages) taught the session. Without any, list the
        // mailbox first.
        if self.seqs.is_empty() && self.exists > 0 {
            self.uids_and_sizes()?;
        }
        // Chunks of UIDs, each one command.
        // Chunks of UIDs (ranges of `uids`), each one command.
        let mut chunks: Vec<(std::ops::Range<usize>, u64)> = Vec::new();
        for (i, u) in uids.iter().enumerate() {
            let size = self.sizes.get(u).copied().unwrap_or(UNKNOWN_SIZE);
            match chunks.last_mut() {
                Some((c, bytes)) if c.len() < FETCH_CHUNK && *bytes + size <= FETCH_CHUNK_BYTES => {
                    c.end = i + 1;
                    *bytes += size;
                }
                _ => chunks.push((i..i + 1, size)),
            }
        }
        let mut sink = BodySink {
            on_message,
            wanted: Wanted::new(&uids),
            stopped: false,
            delivered: Vec::new(),
        };
        let mut missing = Vec::new();
        let mut in_flight: VecDeque<(String, std::ops::Range<usize>, u64)> = VecDeque::new();
        let mut bytes_in_flight = 0u64;
        let mut next = 0;
        let ctx = "retrieving messages";
        loop {
            while !sink.stopped
                && next < chunks.len()
                && in_flight.len() < FETCH_WINDOW
                && (in_flight.is_empty()
                    || bytes_in_flight + chunks[next].1 <= FETCH_BYTES_IN_FLIGHT)
            {
                let (chunk, bytes) = &chunks[next];
                let set = proto::uid_sets(&uids[chunk.clone()], proto::MAX_SET_LEN).join(",");
                let tag = self.tag();
                let line = format!("{tag} UID FETCH {set} (UID BODY.PEEK[])");
                self.write_line(&line, &line);
                in_flight.push_back((tag, chunk.clone(), *bytes));
                bytes_in_flight += bytes;
                next += 1;
            }
            self.flush(ctx)?;
            if in_flight.is_empty() {
                break;
            }
            let (resp, streamed) = self.next_response(ctx, Some(&mut sink))?;
            match resp {
                Response::Status(Status::Tagged(t)) => {
                    let Some(pos) = in_flight.iter().position(|(tag, ..)| tag == t.tag.as_ref())
                    else {
                        return Err(self.unexpected_tag(ctx, t.tag.as_ref()));
                    };
                    let (_, chunk, bytes) = in_flight.remove(pos).unwrap();
                    bytes_in_flight -= bytes;
                    match t.body.kind {
                        StatusKind::Bad => return Err(refusal(ctx, &t.body, Fail::Protocol)),
                        StatusKind::No => {
                            let code = t.body.code.as_ref().map(proto::code_name);
                            if matches!(code.as_deref(), Some("UNAVAILABLE") | Some("SERVERBUG")) {
                                return Err(refusal(ctx, &t.body, Fail::Protocol));
                            }
                            log::warn!(
                                "the server did not send some messages: {}",
                                t.body.text.as_ref()
                            );
                        }
                        StatusKind::Ok => {}
                    }
                    for u in &uids[chunk] {
                        if sink.wanted.remove(u) {
                            missing.push(*u);
                        }
                    }
                }
                Response::Data(Data::Fetch { seq, items }) => {
                    let items = items.as_ref();
                    let uid = fetch_uid(items);
                    // A streamed body was checked (UID included) by its reader.
                    if streamed.is_none() {
                        // A body sent as a quoted string or NIL (not as a literal).
                        let body = items.iter().find_map(|i| match i {
                            MessageDataItem::BodyExt {
                                section: None,
                                origin: None,
                                data,
                            }
                            | MessageDataItem::Rfc822(data) => Some(data.clone()),
                            _ => None,
                        });
                        if let Some(data) = body {
                            let uid = uid.or_else(|| self.uid_of(seq.get()));
                            match (uid, data.into_option()) {
                                (Some(uid), Some(bytes)) => {
                                    // As for a streamed body: only once a response follows.
                                    body::next_starts_response(&mut self.conn, uid, ctx)?;
                                    let mut r: &[u8] = &bytes;
                                    sink.deliver(uid, &mut r);
                                }
                                (Some(uid), None) => {
                                    log::warn!("the server sent NIL as the body of UID {uid}");
                                }
                                (None, _) => {
                                    return Err(SourceError::Protocol(format!(
                                        "the server sent the body of message {seq} without \
                                         its UID, and its UID is unknown"
                                    )))
                                }
                            }
                        }
                    }
                }
                Response::CommandContinuationRequest(_) => {
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: unexpected continuation request"
                    )))
                }
                _ => {}
            }
        }
        // Every command sent has completed, and its unanswered UIDs are in `missing`; what is
        // still wanted was never requested (only possible after a stop).
        debug_assert!(sink.stopped || sink.wanted.is_empty());
        missing.sort_unstable();
        missing.dedup();
        Ok(FetchOutcome {
            delivered: sink.delivered,
            missing,
            stopped: sink.stopped,
        })
    }

    /// Message-ID header (unfolded) and size of each of `uids` the server still has
    /// (`UID FETCH set (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`), by UID.
    pub fn message_ids(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<(u32, Option<String>, u64)>, SourceError> {
        let found =
            self.fetch_header_section(uids, "HEADER.FIELDS (MESSAGE-ID)", "reading Message-IDs")?;
        Ok(found
            .into_iter()
            .map(|(u, h, s)| (u, h.and_then(|h| crate::source::message_id(&h)), s))
            .collect())
    }

    /// The header block of each of `uids` (`BODY.PEEK[HEADER]`, RFC 3501 §6.4.5; the `\Seen`
    /// flag is not set), cut at [`HEADER_LIMIT`] bytes: (uid, header, size) in UID order.
    /// UIDs the server does not answer for (expunged meanwhile) are missing.
    pub fn headers(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>, u64)>, SourceError> {
        let found = self.fetch_header_section(uids, "HEADER", "reading message headers")?;
        Ok(found
            .into_iter()
            .map(|(u, h, s)| {
                let mut h = h.unwrap_or_default();
                h.truncate(HEADER_LIMIT);
                (u, h, s)
            })
            .collect())
    }

    /// `UID FETCH set (UID RFC822.SIZE BODY.PEEK[section])`, pipelined: (uid, section data,
    /// size) in UID order. Also remembers the sizes.
    fn fetch_header_section(
        &mut self,
        uids: &[u32],
        section: &str,
        ctx: &str,
    ) -> Result<Vec<HeaderSection>, SourceError> {
        let cmds: Vec<String> = proto::uid_sets(uids, proto::MAX_SET_LEN)
            .into_iter()
            .map(|set| format!("UID FETCH {set} (UID RFC822.SIZE BODY.PEEK[{section}])"))
            .collect();
        let mut found: std::collections::BTreeMap<u32, (Option<Vec<u8>>, u64)> = Default::default();
        self.pipeline(&cmds, ctx, &mut |r| {
            if let Response::Data(Data::Fetch { items, .. }) = r {
                let items = items.as_ref();
                let Some(uid) = fetch_uid(items) else {
                    return Ok(());
                };
                let data = items.iter().find_map(|i| match i {
                    MessageDataItem::BodyExt {
                        section: Some(_),
                        data,
                        ..
                    } => Some(data.clone()),
                    _ => None,
                });
                let Some(size) = fetch_size(items) else {
                    return Ok(());
                };
                let data = data.and_then(|d| d.into_option()).map(|d| d.into_owned());
                found.insert(uid, (data, size));
            }
            Ok(())
        })?;
        self.sizes.extend(found.iter().map(|(&u, (_, s))| (u, *s)));
        Ok(found.into_iter().map(|(u, (h, s))| (u, h, s)).collect())
    }
}
