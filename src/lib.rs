//! mailpull: fetch mail over POP3 into a Maildir, never losing or doubling a message.
//!
//! The crate is laid out along the path a message takes:
//! - [`cli`] declares the command line and [`config`] turns it into a validated [`config::Account`];
//!   nothing below `config` sees clap.
//! - [`tls`] opens the connection (TCP, implicit TLS or STLS upgrade, certificate checks).
//! - [`pop3`] speaks the protocol (RFC 1939/2449/2595/3206/5034) as a [`source::Source`].
//! - [`engine`] is the protocol-agnostic fetch engine that owns the promises: list, consult the
//!   [`ledger`], retrieve, [`deliver`], record, delete, commit.
//! - [`exit`] maps every failure to a sysexits status.

pub mod cli;
pub mod config;
pub mod deliver;
pub mod docs;
pub mod engine;
pub mod exit;
pub mod imap;
pub mod ledger;
pub mod pop3;
pub mod receipts;
pub mod run;
pub mod source;
pub mod tls;
pub mod ui;
