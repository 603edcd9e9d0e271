//! POP3 client: RFC 1939 with CAPA and response codes (RFC 2449), STLS (RFC 2595), the
//! SYS/AUTH response codes (RFC 3206), SASL PLAIN, XOAUTH2 and OAUTHBEARER (RFC 5034, [`auth`]) and UTF-8 mode (RFC 6856).
//!
//! [`proto`] parses and encodes (no I/O), `framing` reads lines and multi-line replies off the
//! connection within bounds, [`listing`] validates the maildrop listings, [`reply`] proves the
//! framing of a message reply before its end is reported, and [`session`] drives a connection
//! generic over `Read + Write` (logging in; [`transfer`] lists, reads headers and transfers
//! messages), so tests can run it over any byte stream; [`source`] makes the session the fetch
//! engine's [`Source`](crate::source::Source).

pub mod auth;
mod framing;
pub mod listing;
pub mod proto;
pub mod reply;
pub mod session;
pub mod source;
pub mod transfer;

pub use session::Session;
