//! Maildir delivery (<https://cr.yp.to/proto/maildir.html>).
//!
//! A message is written to `tmp/NAME`, fsynced, renamed to `new/NAME`; [`Deliver::sync`] fsyncs
//! `new/` so the renames are durable. Locations are the bare unique NAME; after a crash a NAME
//! counts as delivered if `new/NAME` or `cur/NAME[:2,flags]` exists (the user's mail reader may
//! have moved it), and a leftover `tmp/NAME` is removed.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{Deliver, DeliverError, MessageInfo, Recovered};

/// A Maildir on the local file system.
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// Opens the Maildir at `root`, creating `root`, `cur`, `new` and `tmp` (mode 0700) if missing.
    pub fn open(root: &Path) -> Result<Maildir, DeliverError> {
        let _ = root;
        todo!()
    }

    /// The Maildir's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Deliver for Maildir {
    fn reserve(&mut self) -> io::Result<String> {
        todo!()
    }

    fn deliver(
        &mut self,
        location: &str,
        info: &MessageInfo,
        body: &mut dyn Read,
    ) -> Result<u64, DeliverError> {
        let _ = (location, info, body);
        todo!()
    }

    fn sync(&mut self) -> Result<(), DeliverError> {
        todo!()
    }

    fn recover(&mut self, location: &str) -> Result<Recovered, DeliverError> {
        let _ = location;
        todo!()
    }

    fn describe(&self) -> String {
        format!("Maildir {}", self.root.display())
    }
}
