//! POP3 client: RFC 1939 with CAPA and response codes (RFC 2449), STLS (RFC 2595), the
//! SYS/AUTH response codes (RFC 3206) and SASL PLAIN (RFC 5034).
//!
//! [`proto`] parses and encodes (no I/O); [`session`] drives a connection generic over
//! `Read + Write`, so tests can run it over any byte stream.

pub mod proto;
pub mod session;

pub use session::Session;
