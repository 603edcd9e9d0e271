//! Writing to the mbox: a message is first encoded into the private staging file, and
//! [`Deliver::sync`](crate::deliver::Deliver::sync) appends the staged batch under the locks,
//! journaled (steps 1–6 in the module documentation of [`super`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::format::write_mboxrd;
use super::journal::{self, Batch, JournalMsg};
use super::recover::read_at;
use super::Mbox;
use crate::deliver::BUFFER_SIZE;
use crate::fs::{context, parent_dir, private_file, sync_dir, CopyError};

/// A message encoded into the staging file, waiting for [`Deliver::sync`](crate::deliver::Deliver::sync).
pub(super) struct Staged {
    id: String,
    /// Offset in the staging file.
    offset: u64,
    len: u64,
    sha: String,
}

/// The staging file of one [`Mbox`].
pub(super) struct Stage {
    pub(super) path: PathBuf,
    file: File,
    len: u64,
}

/// Test-only fault injection in [`Deliver::sync`](crate::deliver::Deliver::sync).
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub(super) enum Fault {
    /// Appending fails (like a full disk) after this many bytes of the batch.
    FailAppendAfter(u64),
    /// The process "dies" (no cleanup at all) after the intent is journaled…
    CrashAfterIntent,
    /// …after this many bytes of the batch were appended…
    CrashAfterAppend(u64),
    /// …after the mbox was fsynced, before the commit line…
    CrashBeforeCommit,
}

/// A writer that hashes and counts what passes through.
struct Hashing<'a> {
    inner: &'a mut dyn Write,
    hash: Sha256,
    count: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Mbox {
    /// Encodes `body` into the staging file. Returns the staged entry and the message size.
    pub(super) fn stage(
        &mut self,
        location: &str,
        body: &mut dyn Read,
    ) -> Result<(Staged, u64), CopyError> {
        if self.stage.is_none() {
            let path = self.stage_path(&self.token);
            let file = private_file()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| CopyError::Write(context(e, "cannot create", &path)))?;
            self.stage = Some(Stage { path, file, len: 0 });
        }
        let stage = self.stage.as_mut().expect("just created");
        let offset = stage.len;
        let result = (|| {
            (&stage.file)
                .seek(SeekFrom::Start(offset))
                .map_err(CopyError::Write)?;
            let mut out = io::BufWriter::with_capacity(BUFFER_SIZE, &stage.file);
            let mut hashing = Hashing {
                inner: &mut out,
                hash: Sha256::new(),
                count: 0,
            };
            let size = write_mboxrd(body, &mut hashing, SystemTime::now())?;
            hashing.flush().map_err(CopyError::Write)?;
            let (len, sha) = (hashing.count, hex::encode(hashing.hash.finalize()));
            out.flush().map_err(CopyError::Write)?;
            Ok((len, sha, size))
        })();
        match result {
            Ok((len, sha, size)) => {
                stage.len += len;
                Ok((
                    Staged {
                        id: location.to_string(),
                        offset,
                        len,
                        sha,
                    },
                    size,
                ))
            }
            Err(e) => {
                let _ = stage.file.set_len(offset);
                let path = stage.path.clone();
                Err(match e {
                    CopyError::Write(e) => CopyError::Write(context(e, "cannot write", &path)),
                    read => read,
                })
            }
        }
    }

    /// Steps 1–6 of the [module documentation](super) for the staged batch.
    pub(super) fn append_batch(&mut self) -> io::Result<()> {
        let stage = self.stage.as_ref().expect("messages are staged");
        let (stage_file, stage_len) = (stage.file.try_clone()?, stage.len);
        let locked = self.lock()?;
        let file = &locked.file;
        let start = file.metadata()?.len();
        let pad = start > 0 && read_at(file, start - 1, 1)?[0] != b'\n';
        let data_start = start + u64::from(pad);
        let batch = Batch {
            token: self.token.clone(),
            seq: self.next_batch,
            time: journal::now(),
            start,
            pad,
            end: data_start + stage_len,
            msgs: self
                .staged
                .iter()
                .map(|s| JournalMsg {
                    id: s.id.clone(),
                    offset: data_start + s.offset,
                    len: s.len,
                    sha: s.sha.clone(),
                })
                .collect(),
            committed: false,
        };
        self.next_batch += 1;

        // 3. The intent, durable before the mbox is touched.
        let (mut journal, journal_created) = self.open_journal()?;
        journal
            .write_all(batch.intent().as_bytes())
            .and_then(|_| journal.sync_data())
            .map_err(|e| context(e, "cannot write", &self.journal_path))?;
        if journal_created || locked.created {
            sync_dir(parent_dir(&self.path))?;
        }
        #[cfg(test)]
        if let Some(Fault::CrashAfterIntent) = self.fault {
            return Err(io::Error::other("simulated crash"));
        }

        // 4. The data.
        let appended = self.append_data(file, &stage_file, pad, stage_len);
        #[cfg(test)]
        if let (Err(e), Some(Fault::CrashAfterAppend(_))) = (&appended, self.fault) {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        if let Err(e) = appended.and_then(|_| file.sync_data()) {
            let e = context(e, "cannot append to", &self.path);
            let restored = file.set_len(start).and_then(|_| file.sync_data());
            if let Err(r) = restored {
                // Recovery will find and remove our bytes, using the staging file.
                self.poisoned = true;
                log::error!(
                    "cannot remove a partial batch from {}: {r}",
                    self.path.display()
                );
            }
            return Err(e);
        }
        let len = file.metadata()?.len();
        if len != batch.end {
            log::warn!(
                "{} changed while it was locked (a program not honouring the locks?): \
                 expected {} bytes, found {len}",
                self.path.display(),
                batch.end
            );
        }
        #[cfg(test)]
        if let Some(Fault::CrashBeforeCommit) = self.fault {
            return Err(io::Error::other("simulated crash"));
        }

        // 5. The commit.
        journal
            .write_all(batch.commit().as_bytes())
            .and_then(|_| journal.sync_data())
            .map_err(|e| context(e, "cannot write", &self.journal_path))?;
        if let Err(e) = self.maybe_compact(&journal) {
            log::warn!("cannot compact {}: {e}", self.journal_path.display());
        }
        // 6. Release: the mbox is closed (fcntl lock) before the dotlock is removed.
        drop(locked);
        Ok(())
    }

    /// Appends the optional padding newline and the staged bytes.
    fn append_data(&self, file: &File, stage: &File, pad: bool, len: u64) -> io::Result<()> {
        let mut out = file;
        if pad {
            out.write_all(b"\n")?;
        }
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(BUFFER_SIZE as u64) as usize;
            stage.read_exact_at(&mut buf[..n], done)?;
            #[cfg(test)]
            match self.fault {
                Some(Fault::FailAppendAfter(limit)) | Some(Fault::CrashAfterAppend(limit))
                    if done + n as u64 > limit =>
                {
                    let part = (limit.saturating_sub(done)) as usize;
                    out.write_all(&buf[..part])?;
                    return Err(io::Error::from_raw_os_error(libc::ENOSPC));
                }
                _ => {}
            }
            out.write_all(&buf[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    /// Empties the staging file after a batch (it is reused for the next one).
    pub(super) fn reset_stage(&mut self) {
        self.staged.clear();
        if let Some(stage) = self.stage.as_mut() {
            if stage.file.set_len(0).is_ok() {
                stage.len = 0;
            } else if let Some(stage) = self.stage.take() {
                let _ = std::fs::remove_file(&stage.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{deliver, info, open_temp, Broken};
    use super::*;
    use crate::deliver::mbox::format::parse_mboxrd;
    use crate::deliver::{Deliver, DeliverError, Recovered};
    use std::fs;

    #[test]
    fn body_error_leaves_nothing() {
        let (_dir, mut mbox) = open_temp();
        let first = deliver(&mut mbox, b"Subject: first\n\nok\n");
        let loc = mbox.reserve().unwrap();
        let err = mbox
            .deliver(&loc, &info(), &mut Broken { ok: 200_000 })
            .unwrap_err();
        assert!(matches!(err, DeliverError::Body(_)), "{err:?}");
        assert!(!err.is_fatal());
        deliver(&mut mbox, b"Subject: third\n\nok\n");
        mbox.sync().unwrap();
        let parsed = parse_mboxrd(&fs::read(mbox.path()).unwrap());
        let bodies: Vec<&[u8]> = parsed.iter().map(|(_, m)| &m[..]).collect();
        assert_eq!(
            bodies,
            [&b"Subject: first\n\nok\n"[..], b"Subject: third\n\nok\n"]
        );
        assert_eq!(mbox.recover(&first).unwrap(), Recovered::Delivered);
        assert_eq!(mbox.recover(&loc).unwrap(), Recovered::Missing);
    }

    #[test]
    fn append_failure_truncates_back() {
        let (_dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: before\n\n");
        mbox.sync().unwrap();
        let before = fs::read(mbox.path()).unwrap();
        let a = deliver(&mut mbox, b"Subject: a\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
        let b = deliver(&mut mbox, &vec![b'y'; 300_000]);
        mbox.fault = Some(Fault::FailAppendAfter(100_000));
        let err = mbox.sync().unwrap_err();
        assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
        assert!(err.to_string().contains("inbox"), "{err}");
        assert_eq!(fs::read(mbox.path()).unwrap(), before);
        assert!(!mbox.lock_path.exists());
        // Both are reported missing (fetched again), nothing is left behind.
        mbox.fault = None;
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        assert_eq!(fresh.recover(&a).unwrap(), Recovered::Missing);
        assert_eq!(fresh.recover(&b).unwrap(), Recovered::Missing);
        assert_eq!(fs::read(mbox.path()).unwrap(), before);
        // The target keeps working.
        deliver(&mut mbox, b"Subject: after\n\n");
        mbox.sync().unwrap();
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 2);
    }

    #[test]
    fn staged_messages_vanish_on_drop() {
        let (_dir, mut mbox) = open_temp();
        let path = mbox.path().to_path_buf();
        let loc = deliver(&mut mbox, b"Subject: never synced\n\n");
        let stage = mbox.stage_path(&mbox.token);
        assert!(stage.exists());
        drop(mbox);
        assert!(!stage.exists());
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        let mut again = Mbox::open(&path).unwrap();
        assert_eq!(again.recover(&loc).unwrap(), Recovered::Missing);
    }
}
