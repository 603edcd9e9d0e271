//! The SASL responses IMAP sends, re-exported from [`crate::sasl`] (floor 1), where POP3 and
//! SMTP find them too.

pub use crate::sasl::{sasl_oauthbearer, sasl_plain, sasl_xoauth2};
