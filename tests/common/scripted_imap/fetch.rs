//! The commands of the scripted IMAP server on a selected mailbox: `UID FETCH` (with the
//! faults in message data), `UID STORE` (with the deletion check), `UID SEARCH`, and EXPUNGE,
//! `UID EXPUNGE` and CLOSE.

use super::super::server::{End, Flow};
use super::parse::{header_fields, in_set, parse_item, parse_set, Command, Item, Tok};
use super::session::Session;
use super::{add_flag, folder_mut, key, remove_flag, Fault, Message};

impl Session<'_, '_> {
    pub(super) fn uid_fetch(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (folder, read_only) = self.selected();
        let set = cmd.args.first().and_then(Tok::atom).and_then(parse_set);
        let items: Option<Vec<Item>> = match cmd.args.get(1) {
            Some(Tok::Atom(a)) => parse_item(a).map(|i| vec![i]),
            Some(Tok::List(l)) if !l.is_empty() => {
                l.iter().map(|t| t.atom().and_then(parse_item)).collect()
            }
            _ => None,
        };
        let (Some(set), Some(mut items), 2) = (set, items, cmd.args.len()) else {
            return self.bad(tag, format!("UID FETCH with bad arguments {:?}", cmd.args));
        };
        if !items.contains(&Item::Uid) {
            items.insert(0, Item::Uid);
        }
        if self.conn.config.uid_last {
            items.retain(|i| *i != Item::Uid);
            items.push(Item::Uid);
        }
        for i in &items {
            let peek = match i {
                Item::Body { peek, .. } | Item::Header { peek, .. } => *peek,
                _ => true,
            };
            if !peek {
                self.violation(format!("{:?} without .PEEK would set \\Seen", cmd.args[1]));
            }
        }
        let msgs: Vec<(usize, Message)> = {
            let mut st = self.conn.state();
            let f = folder_mut(&mut st.store, &folder);
            let max = f.messages.last().map_or(0, |m| m.uid);
            for m in f.messages.iter_mut() {
                if in_set(&set, m.uid, max) && !read_only {
                    for it in &items {
                        if matches!(
                            it,
                            Item::Body { peek: false, .. } | Item::Header { peek: false, .. }
                        ) {
                            add_flag(&mut m.flags, "\\Seen");
                        }
                    }
                }
            }
            f.messages
                .iter()
                .enumerate()
                .filter(|(_, m)| in_set(&set, m.uid, max))
                .map(|(i, m)| (i + 1, m.clone()))
                .collect()
        };
        for (seq, m) in msgs {
            self.fetch_one(&folder, seq, &m, &items)?;
        }
        self.tagged(tag, "OK UID FETCH completed")
    }

    /// Sends one FETCH response, applying the body faults.
    fn fetch_one(&mut self, folder: &str, seq: usize, m: &Message, items: &[Item]) -> Flow {
        let raw = self.presented(m).into_owned();
        let mut resp = format!("* {seq} FETCH (").into_bytes();
        // The start of the literal data in `resp`.
        let mut body_at: Option<usize> = None;
        let mut nth = 0;
        let mut header_sent = false;
        for (k, item) in items.iter().enumerate() {
            if k > 0 {
                resp.push(b' ');
            }
            match item {
                Item::Uid => resp.extend_from_slice(format!("UID {}", m.uid).as_bytes()),
                Item::Size => {
                    resp.extend_from_slice(format!("RFC822.SIZE {}", raw.len()).as_bytes())
                }
                Item::Flags => {
                    resp.extend_from_slice(format!("FLAGS ({})", m.flags.join(" ")).as_bytes())
                }
                Item::InternalDate => {
                    resp.extend_from_slice(b"INTERNALDATE \"17-Jul-1996 02:44:25 -0700\"")
                }
                Item::Header {
                    section,
                    fields,
                    not,
                    ..
                } => {
                    let data = match fields {
                        Some(f) => header_fields(&raw, f, *not),
                        None => header_fields(&raw, &[], true),
                    };
                    resp.extend_from_slice(
                        format!("BODY[{section}] {{{}}}\r\n", data.len()).as_bytes(),
                    );
                    resp.extend_from_slice(&data);
                    header_sent = true;
                }
                Item::Body { name, .. } => {
                    self.bodies += 1;
                    nth = self.bodies;
                    let short = self.conn.find(|f| match f {
                        Fault::LiteralShort { nth: n, by } if *n == nth => Some(*by),
                        _ => None,
                    });
                    let announced = raw.len().saturating_sub(short.unwrap_or(0));
                    resp.extend_from_slice(format!("{name} {{{announced}}}\r\n").as_bytes());
                    body_at = Some(resp.len());
                    resp.extend_from_slice(&raw);
                }
            }
        }
        resp.extend_from_slice(b")\r\n");
        let k = key(folder, m.uid);
        if header_sent && !self.conn.mute {
            let k = k.clone();
            self.conn.tally(|s| *s.headers.entry(k).or_insert(0) += 1);
        }
        let Some(start) = body_at else {
            return self.write(&resp);
        };
        self.conn.fetch_begun(&k);
        if let Some((after, end)) = self.conn.data_fault(nth) {
            let upto = start.saturating_add(after).min(resp.len() - 1);
            self.write(&resp[..upto])?;
            return Err(end);
        }
        self.write(&resp)?;
        self.conn.fetch_done(&k);
        let cut_after = self.conn.find(|f| match f {
            Fault::CutAfterBody { nth: n, close } if *n == nth => Some(*close),
            _ => None,
        });
        if let Some(close) = cut_after {
            return Err(End::Cut(close));
        }
        Ok(())
    }

    pub(super) fn uid_store(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (folder, read_only) = self.selected();
        let set = cmd.args.first().and_then(Tok::atom).and_then(parse_set);
        let op = cmd
            .args
            .get(1)
            .and_then(Tok::atom)
            .map(str::to_ascii_uppercase);
        let flags: Option<Vec<String>> = match &cmd.args[2.min(cmd.args.len())..] {
            [Tok::List(l)] => l.iter().map(|t| t.atom().map(str::to_string)).collect(),
            atoms if !atoms.is_empty() => {
                atoms.iter().map(|t| t.atom().map(str::to_string)).collect()
            }
            _ => None,
        };
        let (Some(set), Some(op), Some(flags)) = (set, op, flags) else {
            return self.bad(tag, format!("UID STORE with bad arguments {:?}", cmd.args));
        };
        let (mode, silent) = match op.strip_suffix(".SILENT") {
            Some(m) => (m.to_string(), true),
            None => (op.clone(), false),
        };
        if !matches!(mode.as_str(), "+FLAGS" | "-FLAGS" | "FLAGS") {
            return self.bad(tag, format!("UID STORE with bad data item {op}"));
        }
        if read_only {
            self.violation(format!(
                "UID STORE on the read-only (EXAMINEd) mailbox {folder}"
            ));
            return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let sets_deleted =
            mode != "-FLAGS" && flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted"));
        let mut updates = Vec::new();
        let mut problems = Vec::new();
        {
            let mut st = self.conn.state();
            let f = folder_mut(&mut st.store, &folder);
            let max = f.messages.last().map_or(0, |m| m.uid);
            let mut newly_deleted = Vec::new();
            for (i, m) in f.messages.iter_mut().enumerate() {
                if !in_set(&set, m.uid, max) {
                    continue;
                }
                if sets_deleted {
                    if let Err(e) = self.conn.check_delete(&key(&folder, m.uid)) {
                        problems.push(format!(
                            "UID STORE \\Deleted of {folder} UID {}: {e}",
                            m.uid
                        ));
                    }
                    newly_deleted.push(m.uid);
                }
                match mode.as_str() {
                    "+FLAGS" => flags.iter().for_each(|fl| add_flag(&mut m.flags, fl)),
                    "-FLAGS" => flags.iter().for_each(|fl| remove_flag(&mut m.flags, fl)),
                    _ => {
                        m.flags.clear();
                        flags.iter().for_each(|fl| add_flag(&mut m.flags, fl));
                    }
                }
                updates.push(format!(
                    "* {} FETCH (UID {} FLAGS ({}))",
                    i + 1,
                    m.uid,
                    m.flags.join(" ")
                ));
            }
            for uid in newly_deleted {
                *st.stats.deleted.entry(key(&folder, uid)).or_insert(0) += 1;
            }
        }
        for p in problems {
            self.violation(p);
        }
        if !silent {
            for u in updates {
                self.send(&u)?;
            }
        }
        self.tagged(tag, "OK UID STORE completed")
    }

    pub(super) fn uid_search(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (folder, _) = self.selected();
        let mut keys = Vec::new();
        for t in &cmd.args {
            match t.atom().map(str::to_ascii_uppercase).as_deref() {
                Some(k @ ("ALL" | "DELETED" | "UNDELETED" | "SEEN" | "UNSEEN")) => {
                    keys.push(k.to_string())
                }
                _ => return self.bad(tag, format!("UID SEARCH with unsupported key {t:?}")),
            }
        }
        if keys.is_empty() {
            return self.bad(tag, "UID SEARCH without a key".into());
        }
        let uids: Vec<String> = folder_mut(&mut self.conn.state().store, &folder)
            .messages
            .iter()
            .filter(|m| {
                keys.iter().all(|k| match k.as_str() {
                    "DELETED" => m.has_flag("\\Deleted"),
                    "UNDELETED" => !m.has_flag("\\Deleted"),
                    "SEEN" => m.has_flag("\\Seen"),
                    "UNSEEN" => !m.has_flag("\\Seen"),
                    _ => true,
                })
            })
            .map(|m| m.uid.to_string())
            .collect();
        if uids.is_empty() {
            self.send("* SEARCH")?;
        } else {
            self.send(&format!("* SEARCH {}", uids.join(" ")))?;
        }
        self.tagged(tag, "OK UID SEARCH completed")
    }

    /// EXPUNGE (`set` None), UID EXPUNGE, or CLOSE (`report` false: no untagged responses).
    pub(super) fn expunge(&mut self, tag: &str, set: Option<&[(u32, u32)]>, report: bool) -> Flow {
        let (folder, read_only) = self.selected();
        if read_only {
            if report {
                self.violation(format!(
                    "expunge in the read-only (EXAMINEd) mailbox {folder}"
                ));
                return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only");
            }
            return self.tagged(tag, "OK CLOSE completed");
        }
        let mut lines = Vec::new();
        {
            let mut st = self.conn.state();
            let f = folder_mut(&mut st.store, &folder);
            let max = f.messages.last().map_or(0, |m| m.uid);
            let mut kept = Vec::new();
            let mut gone = Vec::new();
            for (i, m) in std::mem::take(&mut f.messages).into_iter().enumerate() {
                let doomed = m.has_flag("\\Deleted") && set.is_none_or(|s| in_set(s, m.uid, max));
                if doomed {
                    lines.push(format!("* {} EXPUNGE", i + 1 - gone.len()));
                    gone.push(m.uid);
                } else {
                    kept.push(m);
                }
            }
            f.messages = kept;
            for uid in gone {
                st.stats.expunged.push(key(&folder, uid));
            }
        }
        if report {
            self.announced = self.announced.saturating_sub(lines.len());
            for l in lines {
                self.send(&l)?;
            }
        }
        let what = match (set, report) {
            (Some(_), _) => "UID EXPUNGE",
            (None, true) => "EXPUNGE",
            (None, false) => "CLOSE",
        };
        self.tagged(tag, &format!("OK {what} completed"))
    }
}
