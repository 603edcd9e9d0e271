//! mailpull: fetch mail over POP3 and IMAP into a Maildir, an mbox, an MDA or stdout, never
//! losing or doubling a message.
//!
//! The crate stands on floors, each importing only from below (README: "How it is built"):
//! - [`exit`], [`text`], [`time`]: exit statuses, terminal-safe text, time; nothing of mailpull's.
//! - [`source`] (the Source/Sink contract), [`tls`] (connections, deadlines, certificates),
//!   [`command`] (users' commands: MDA, filter, password command), [`sasl`] (SASL responses and
//!   OAuth 2 error challenges, for POP3, IMAP and SMTP).
//! - [`pop3`] and [`imap`] speak the protocols, each as a [`source::Source`]; [`ledger`] records
//!   every message; [`deliver`] holds the delivery targets.
//! - [`engine`] is the protocol-agnostic fetch engine that owns the promises: recover, list,
//!   consult the ledger, choose ([`select`]: filters, `--pick`), retrieve, deliver, record,
//!   delete, commit; [`receipts`] handles read-receipt requests.
//! - [`config`] turns the file and plain-value overrides into validated accounts.
//! - [`account`] is one account's session: lock, connect, one login, the engine.
//! - [`watch`], [`import`], [`ui`]: `mailpull watch`, reading other fetchers' state, what the
//!   user sees.
//! - [`commands`] (one file per command) and [`cli`] (the command line, the only place that
//!   knows the parser); [`docs`] generates completions and man pages.

pub mod account;
pub mod cli;
pub mod command;
pub mod commands;
pub mod config;
pub mod deliver;
pub mod docs;
pub mod engine;
pub mod exit;
pub mod fs;
pub mod imap;
pub mod import;
pub mod ledger;
pub mod oauth;
pub mod pop3;
pub mod receipts;
pub mod sasl;
pub mod select;
pub mod source;
pub mod text;
pub mod time;
pub mod tls;
pub mod ui;
pub mod watch;
