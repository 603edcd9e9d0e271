//! A spool: a whole message, in memory up to a limit and in an unlinked temporary file beyond,
//! so that a target that hands messages on (an MDA, standard output) starts only once the
//! message has fully arrived, and a download that breaks off hands on nothing.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::envelope::{envelope_sender, HEAD_LIMIT};
use super::BUFFER_SIZE;
use crate::fs::{context, private_file, CopyError};

/// A [`Spool`] keeps this much in memory and the rest in a temporary file.
const SPOOL_MEMORY: usize = 1024 * 1024;

/// Per-process counter making spool file names unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A complete copy of a message, so that a target can start its real work only once the
/// message has fully arrived. The first [`SPOOL_MEMORY`] bytes are kept in memory, the rest in
/// an already-unlinked temporary file (mode 0600) in the temporary directory.
pub(crate) struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
}

impl Spool {
    /// Reads the whole of `body`. `CopyError::Write` is a failure of the temporary file.
    pub(crate) fn fill(body: &mut dyn Read) -> Result<Spool, CopyError> {
        Spool::fill_in(body, &std::env::temp_dir(), SPOOL_MEMORY)
    }

    fn fill_in(body: &mut dyn Read, dir: &Path, memory: usize) -> Result<Spool, CopyError> {
        let mut spool = Spool {
            memory: Vec::new(),
            file: None,
            len: 0,
        };
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut out: Option<io::BufWriter<File>> = None;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyError::Read(e)),
            };
            let mut data = &buf[..n];
            if spool.memory.len() < memory {
                let take = data.len().min(memory - spool.memory.len());
                spool.memory.extend_from_slice(&data[..take]);
                data = &data[take..];
            }
            if !data.is_empty() {
                if out.is_none() {
                    let file = anonymous_file(dir).map_err(CopyError::Write)?;
                    out = Some(io::BufWriter::with_capacity(BUFFER_SIZE, file));
                }
                let w = out.as_mut().expect("just created");
                w.write_all(data).map_err(|e| {
                    CopyError::Write(context(e, "cannot write a spool file in", dir))
                })?;
            }
            spool.len += n as u64;
        }
        if let Some(w) = out {
            let file = w.into_inner().map_err(|e| {
                CopyError::Write(context(e.into_error(), "cannot write a spool file in", dir))
            })?;
            spool.file = Some(file);
        }
        Ok(spool)
    }

    /// The message's size.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The start of the message (at most [`HEAD_LIMIT`] bytes), and whether it is the whole.
    pub(crate) fn head(&self) -> (&[u8], bool) {
        let n = self.memory.len().min(HEAD_LIMIT);
        (&self.memory[..n], n as u64 == self.len)
    }

    /// The envelope sender, as [`envelope_sender`] finds it in the head.
    pub(crate) fn sender(&self) -> Option<Vec<u8>> {
        let (head, whole) = self.head();
        envelope_sender(head, whole)
    }

    /// A reader over the whole message, from its start.
    pub(crate) fn into_reader(self) -> io::Result<Box<dyn Read + Send>> {
        let memory = io::Cursor::new(self.memory);
        match self.file {
            Some(mut file) => {
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(
                    memory.chain(io::BufReader::with_capacity(BUFFER_SIZE, file)),
                ))
            }
            None => Ok(Box::new(memory)),
        }
    }
}

/// Creates a temporary file in `dir` and unlinks it at once.
fn anonymous_file(dir: &Path) -> io::Result<File> {
    for _ in 0..100 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let path = dir.join(format!(
            ".mailpull-spool-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match private_file().read(true).write(true).open(&path) {
            Ok(file) => {
                std::fs::remove_file(&path).map_err(|e| context(e, "cannot remove", &path))?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(context(e, "cannot create a spool file in", dir)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("cannot create a unique spool file in {}", dir.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A reader that fails at once.
    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
        }
    }

    #[test]
    fn spool_keeps_head_in_memory_and_spills() {
        let dir = tempfile::tempdir().unwrap();
        let mut msg = b"Return-Path: <s@x>\n\n".to_vec();
        msg.extend((0..5000u32).map(|i| (i % 251) as u8));
        let spool = Spool::fill_in(&mut &msg[..], dir.path(), 1000).unwrap();
        assert_eq!(spool.len(), msg.len() as u64);
        assert!(spool.file.is_some());
        assert_eq!(spool.sender(), Some(b"s@x".to_vec()));
        // The spill file is already unlinked.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut back = Vec::new();
        spool.into_reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, msg);
        let small = Spool::fill_in(&mut &b"abc"[..], dir.path(), 1000).unwrap();
        assert!(small.file.is_none());
        assert_eq!(small.head(), (&b"abc"[..], true));
        match Spool::fill_in(&mut (&msg[..10]).chain(Failing), dir.path(), 4) {
            Err(CopyError::Read(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("{:?}", other.map(|s| s.len())),
        }
        match Spool::fill_in(&mut &msg[..], &dir.path().join("missing"), 4) {
            Err(CopyError::Write(e)) => assert!(e.to_string().contains("missing"), "{e}"),
            other => panic!("{:?}", other.map(|s| s.len())),
        }
    }
}
