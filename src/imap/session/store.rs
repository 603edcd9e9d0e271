//! Changing the selected mailbox: flags and keywords with `UID STORE` (RFC 3501 §6.4.6),
//! `UID EXPUNGE` of exactly the given messages (RFC 4315 §2.1) or a plain EXPUNGE (§6.4.3),
//! and `UID SEARCH` (§6.4.4) for the messages flagged `\Deleted`.

use std::io::{Read, Write};

use imap_codec::imap_types::response::{Data, Response};

use super::command::Fail;
use super::Session;
use crate::imap::proto::{self, Arg};
use crate::source::SourceError;

impl<S: Read + Write> Session<S> {
    /// Whether UID EXPUNGE is available (UIDPLUS, RFC 4315).
    pub fn has_uidplus(&self) -> bool {
        self.caps.has("UIDPLUS")
    }

    /// Marks messages `\Deleted` (`UID STORE set +FLAGS.SILENT (\Deleted)`, RFC 3501 §6.4.6).
    pub fn store_deleted(&mut self, uids: &[u32]) -> Result<(), SourceError> {
        self.store_flag(uids, "\\Deleted")
    }

    /// Marks messages `\Seen` (`UID STORE set +FLAGS.SILENT (\Seen)`, RFC 3501 §6.4.6).
    pub fn store_seen(&mut self, uids: &[u32]) -> Result<(), SourceError> {
        self.store_flag(uids, "\\Seen")
    }

    /// Adds a keyword such as `$MDNSent` to messages (RFC 3501 §6.4.6).
    pub fn store_keyword(&mut self, uids: &[u32], keyword: &str) -> Result<(), SourceError> {
        if !proto::valid_keyword(keyword) {
            return Err(SourceError::Protocol(format!(
                "{keyword:?} is not a valid IMAP keyword"
            )));
        }
        self.store_flag(uids, keyword)
    }

    fn store_flag(&mut self, uids: &[u32], flag: &str) -> Result<(), SourceError> {
        let cmds: Vec<String> = proto::uid_sets(uids, proto::MAX_SET_LEN)
            .into_iter()
            .map(|set| format!("UID STORE {set} +FLAGS.SILENT ({flag})"))
            .collect();
        self.pipeline(&cmds, &format!("setting {flag}"), &mut |_| Ok(()))
    }

    /// Removes exactly `uids` if they are `\Deleted` (`UID EXPUNGE`, RFC 4315 §2.1). Needs
    /// UIDPLUS (see [`Session::has_uidplus`]). Returns the UIDs the server reported expunged
    /// (0 for a message whose UID was not known).
    pub fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, SourceError> {
        if !self.has_uidplus() {
            return Err(SourceError::Unavailable(
                "the server lacks UIDPLUS, so mailpull cannot expunge only its own messages".into(),
            ));
        }
        self.expunged.clear();
        let cmds: Vec<String> = proto::uid_sets(uids, proto::MAX_SET_LEN)
            .into_iter()
            .map(|set| format!("UID EXPUNGE {set}"))
            .collect();
        self.pipeline(&cmds, "expunging messages", &mut |_| Ok(()))?;
        Ok(std::mem::take(&mut self.expunged))
    }

    /// Removes every `\Deleted` message of the mailbox (EXPUNGE, RFC 3501 §6.4.3). Check
    /// [`Session::deleted_uids_in_mailbox`] first. Returns the UIDs reported expunged.
    pub fn expunge_all(&mut self) -> Result<Vec<u32>, SourceError> {
        self.expunged.clear();
        self.simple(
            &[Arg::Raw("EXPUNGE")],
            "expunging messages",
            Fail::Protocol,
            &mut |_| Ok(()),
        )?;
        Ok(std::mem::take(&mut self.expunged))
    }

    /// UIDs of the messages that carry `\Deleted` (`UID SEARCH DELETED`, RFC 3501 §6.4.4).
    pub fn deleted_uids_in_mailbox(&mut self) -> Result<Vec<u32>, SourceError> {
        self.uid_search(
            &[Arg::Raw("UID SEARCH DELETED")],
            "searching for deleted messages",
        )
    }

    /// UIDs of the listed messages that carry `keyword` (e.g. `$MDNSent`, RFC 3503), as the
    /// last [`Session::uids_and_sizes`] saw them (keywords compare case-insensitively).
    pub fn listed_with_keyword(&self, keyword: &str) -> std::collections::HashSet<u32> {
        self.keywords
            .iter()
            .filter(|(_, kws)| kws.iter().any(|k| k.eq_ignore_ascii_case(keyword)))
            .map(|(&uid, _)| uid)
            .collect()
    }

    /// Runs a `UID SEARCH` and returns the UIDs found, sorted and unique.
    fn uid_search(&mut self, cmd: &[Arg<'_>], ctx: &str) -> Result<Vec<u32>, SourceError> {
        let mut out = Vec::new();
        self.simple(cmd, ctx, Fail::Protocol, &mut |r| {
            if let Response::Data(Data::Search(v, ..)) = r {
                out.extend(v.iter().map(|n| n.get()));
            }
            Ok(())
        })?;
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}
