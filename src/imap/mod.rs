//! IMAP4rev1 client (RFC 3501) with STARTTLS, SASL PLAIN/XOAUTH2/OAUTHBEARER (RFC 4616,
//! RFC 4959 SASL-IR, RFC 7628), LITERAL+ (RFC 7888), UIDPLUS (RFC 4315), IDLE (RFC 2177),
//! ENABLE (RFC 5161) with UTF8=ACCEPT (RFC 6855, now RFC 9755) and the response codes of
//! RFC 5530.
//!
//! `encode` encodes commands and UID sets, [`proto`] parses responses, [`utf7`] encodes and
//! decodes modified UTF-7 mailbox names, [`sasl`] re-exports the SASL responses of [`crate::sasl`] (all four
//! without I/O); [`pattern`] matches LIST patterns; `wire` reads responses off the connection within
//! bounds and `body` streams a message body and proves its framing; `seqmap` keeps the message
//! numbers seen; [`session`] drives a connection generic over `Read + Write`, so tests can run
//! it over any byte stream; [`source`] adapts a session to the fetch engine.
//!
//! # A server is not trusted
//!
//! Every number, size and name a server sends is checked before it is used: a response holds
//! at most 8 MiB in memory and errors quote at most 100 bytes of it; message numbers are
//! remembered only as FETCH responses name them, within the EXISTS announced (no allocation
//! follows a number the server merely claims); a literal announced for a message may exceed
//! the size its listing gave by a factor of two plus 1 MiB at most; LIST names are accepted
//! only when they match the pattern that was sent, with the server's hierarchy delimiter,
//! at most 1000 bytes each and 10,000 in all; and a message body is reported complete only
//! once its FETCH response parsed to its end and another response follows (see `body`).
//! Parsing works on bytes throughout; nothing in this module panics on any input (the
//! `imap_response`, `imap_pattern` and `imap_utf7` fuzz targets and `tests/imap_mutation.rs`
//! check it).
//!
//! # UTF8=ACCEPT
//!
//! mailpull sends `ENABLE UTF8=ACCEPT` after logging in, before any LIST or SELECT, whenever
//! the server offers `UTF8=ACCEPT` (or `UTF8=ONLY`, which implies it). The evidence:
//! - What a server hands over depends on it. RFC 6855 §7 (carried over by RFC 9755) makes a
//!   server whose store holds messages with UTF-8 header fields responsible for what a client
//!   that did not enable UTF-8 sees, pointing to the downgrading of RFC 6857 and RFC 6858: the
//!   header fields rewritten, or the message replaced by a notice with the original attached.
//!   Issue 10 saw the POP3 form of this on a real server (85 of 200 messages replaced by a
//!   700-byte-larger notice with the original attached as `message/global`). A client that
//!   enables UTF-8 gets the message as stored; one that does not may get something else, and
//!   in delete mode the original is then gone. So enabling is what keeps the original bytes.
//! - Dovecot 2.3.19 (Debian 12) does not offer it: its capability list (`IMAP4rev1 SASL-IR
//!   LOGIN-REFERRALS ID ENABLE IDLE SORT … STATUS=SIZE SAVEDATE`) has no `UTF8=`, and it serves
//!   raw UTF-8 header fields byte for byte without it (`tests/imap_session.rs`,
//!   `dovecot_does_not_offer_utf8_accept_and_serves_utf8_headers_as_they_are`). Nothing changes
//!   there.
//! - What else enabling changes, and how it is handled: mailbox names travel in UTF-8 instead
//!   of modified UTF-7, both ways (RFC 6855 §3). After ENABLE names from LIST are taken as
//!   UTF-8 (an `&` is just an ampersand; quoted UTF-8 strings parse with `imap-codec`'s
//!   `ext_utf8` feature), and names are sent in UTF-8 (as literals, since quoted strings stay
//!   7-bit here). A name decodes to the same text either way, so a folder keeps its ledger
//!   identity when a server starts offering UTF8=ACCEPT (`tests/imap_faults.rs`,
//!   `utf8_accept_appearing_later_fetches_nothing_twice`). mailpull never sends `SEARCH
//!   CHARSET`, which is not allowed after ENABLE. A server that refuses ENABLE is used without.
//! - Tested with the scripted server that downgrades unless UTF-8 is enabled
//!   (`utf8_accept_delivers_the_original_messages`: the originals arrive byte for byte, in
//!   keep and delete mode, by folder name and by pattern).
//!
//! # Choice of the response parser
//!
//! Two maintained parser-only crates fit a synchronous, streaming client:
//! - `imap-proto` 0.17 (nom) is mature and lenient, used by rust-imap and async-imap. It parses
//!   complete responses held in memory; unknown response codes are not recognised (RFC 5530's
//!   `[AUTHENTICATIONFAILED]`, `[UNAVAILABLE]`, `[INUSE]` end up inside the text), so they
//!   would have to be picked out of the text by hand.
//! - `imap-codec` (2.0.0-alpha line, sans-I/O both ways, fuzzed) parses the same complete
//!   responses, reports `LiteralFound { length }` when it reaches a literal that is not in the
//!   buffer yet, keeps unknown response codes as `Code::Other` (so RFC 5530 codes are there
//!   to classify), and has `quirk_*` features for common server deviations.
//!
//! We use `imap-codec`, pinned to `=2.0.0-alpha.10` because the alpha line may change its API
//! between releases (its `imap-types` dependency is held by `Cargo.lock`). What decided it:
//! RFC 5530 codes without hand parsing, fuzzing, and strictness where it matters (a literal
//! is only ever data). Neither crate streams a literal by itself, so the streaming hook is
//! ours and small (see [`session`], `wire` and `body`): the reader recognises `{N}` at the end of a
//! line ([`proto::literal_marker`]), asks `imap-codec` whether the literal is a whole message
//! body by parsing the response prefix closed with an empty literal
//! ([`proto::probe_body_literal`]), streams the N bytes to the caller if so, and parses the
//! rest of the response with the literal replaced by `{0}` before it reports the message's
//! end.

mod body;
mod crlf;
mod encode;
pub mod folders;
pub mod pattern;
pub mod proto;
pub mod sasl;
mod seqmap;
pub mod session;
pub mod source;
pub mod utf7;
mod wire;

pub use proto::Capabilities;
pub use session::{AuthMethod, FetchOutcome, IdleEvent, MailboxName, MailboxStatus, Session, Stop};
pub use utf7::{utf7_decode, utf7_encode};
