//! Connections: TCP with deadlines and TCP_NODELAY, implicit TLS or the upgrade after STLS, and
//! the certificate policy.
//!
//! TLS uses the system library through native-tls, TLS 1.2 at least. By default the chain and
//! the host name are verified against the system roots plus any `--tls-ca-file` certificates.
//! With `--tls-fingerprint` the server certificate must have exactly that SHA-256 digest (of
//! its DER encoding), and chain and name are not checked: the pin is the trust.
//!
//! The rooms, in the order a connection passes through them:
//! - `connect`: [`connect_tcp`] opens the TCP connection within one `timeout` in all;
//! - `deadline`: the reply deadline every read keeps (see below, and [`MIN_RATE`]);
//! - `policy`: [`Tls`], what is trusted ([`TlsOptions`]: roots, CA file, pin) and the
//!   handshake that enforces it;
//! - `conn`: [`Conn`], the connection the protocol sessions read and write, plain or TLS;
//! - `info`: [`TlsInfo`], what a TLS connection is made of (for `mailpull probe`);
//! - `read_timeout`: [`ReadTimeout`], how a caller steps outside the deadline on purpose (an
//!   IMAP IDLE);
//! - `secure`: [`secure()`], the one STLS/STARTTLS procedure (never fall back to plaintext,
//!   refuse data read ahead of the handshake), whose steps each protocol session supplies
//!   through [`StartTls`].
//!
//! This module imports nothing of mailpull's but the ground floor ([`crate::time`]) and
//! [`SourceError`](crate::source::SourceError), the error every connection failure becomes.
//!
//! # Deadlines
//!
//! `--timeout` bounds each whole reply, not each `read`: a server that sends a byte every few
//! seconds must not hold a run (and its account's lock) for ever. Every [`Conn`] keeps a
//! *reply deadline*, which the protocol sessions never see:
//!
//! - An allowance of `timeout` starts when the connection is opened, when a TLS handshake
//!   starts, and whenever a command is written (a pipelining client writes only after the
//!   replies it waited for, so a new allowance always follows progress).
//! - Every byte received extends the deadline by `1 / MIN_RATE` seconds, but never to more than
//!   `timeout` ahead of now. So a short reply (a greeting, a status line) must be complete
//!   within `timeout`; a long one (a message body, a big listing) may take longer only while
//!   it keeps arriving at [`MIN_RATE`] on average; a transfer that stalls fails after
//!   `timeout`, however much came before.
//! - A read fails as a timed-out socket read does once the deadline has passed, and no single
//!   read waits past it (the socket's read timeout is set to the time left before each read).
//!   The first read after such a failure starts a new allowance: a caller that chooses to wait
//!   on (an IDLE without a stop check) gets the old behaviour, never a busy loop.
//! - A read timeout set explicitly through [`ReadTimeout`] suspends the deadline until the next
//!   write, or until the connection's own timeout is set back (see the trait).
//!
//! The TLS handshake is read under the same deadline: it starts a new allowance and the
//! handshake's own writes do not extend it, so a handshake that trickles fails like a trickled
//! reply. Connecting tries each address of the host in turn within one `timeout` in all.

mod conn;
mod connect;
mod deadline;
mod info;
mod policy;
mod read_timeout;
mod roots;
mod secure;

pub use conn::{Buffered, Conn};
pub use connect::{answers_tls, await_greeting, connect_tcp, FirstBytes};
pub use deadline::MIN_RATE;
pub use info::{CertInfo, TlsInfo};
pub use policy::{format_fingerprint, parse_fingerprint, Tls, TlsOptions, TlsSetupError};
pub use read_timeout::ReadTimeout;
pub use secure::{secure, StartTls};
