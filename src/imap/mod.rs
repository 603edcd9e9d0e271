//! IMAP4rev1 client (RFC 3501) with STARTTLS, SASL PLAIN/XOAUTH2/OAUTHBEARER (RFC 4616,
//! RFC 4959 SASL-IR, RFC 7628), LITERAL+ (RFC 7888), UIDPLUS (RFC 4315), IDLE (RFC 2177) and
//! the response codes of RFC 5530.
//!
//! [`proto`] encodes commands, modified UTF-7 names and UID sets, and frames and parses
//! responses (no I/O); [`session`] drives a connection generic over `Read + Write`, so tests
//! can run it over any byte stream. The session is not wired into the fetch engine here: it
//! offers the building blocks (list, select, UIDs and sizes, streamed bodies, flags, expunge)
//! that an engine adapter combines.
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
//! ours and small (see [`session`]): the reader recognises `{N}` at the end of a line
//! ([`proto::literal_marker`]), asks `imap-codec` whether the literal is a whole message
//! body by parsing the response prefix closed with an empty literal
//! ([`proto::probe_body_literal`]), streams the N bytes to the caller if so, and parses the
//! rest of the response with the literal replaced by `{0}`.

pub mod pattern;
pub mod proto;
mod seqmap;
pub mod session;
pub mod source;
mod wire;

pub use proto::{utf7_decode, utf7_encode, Capabilities};
pub use session::{AuthMethod, FetchOutcome, IdleEvent, MailboxName, MailboxStatus, Session, Stop};
