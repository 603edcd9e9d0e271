//! The mboxrd encoding, shared by the mbox and stdout targets.
//!
//! Each message is preceded by `From SENDER DATE\n`, where SENDER is the envelope sender taken
//! from the message's `Return-Path:` header (angle brackets stripped; `MAILER-DAEMON` when the
//! header is absent or `<>`) and DATE is the delivery time in UTC in `asctime` form
//! (`Mon Jan  1 00:00:00 2024`). Every line matching `^>*From ` gets one more `>` (mboxrd
//! quoting, which a reader reverses exactly). The message ends with its own final newline (one
//! is added if it has none) followed by one empty line. Only the header block, at most 64 KiB,
//! is buffered to find `Return-Path:`; the rest is streamed and quoted by a small state machine
//! that carries at most five bytes across buffer boundaries.

use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::deliver::envelope::{envelope_sender, read_head};
use crate::deliver::BUFFER_SIZE;
use crate::fs::CopyError;

/// The start of a line that needs quoting (after any number of `>`).
const FROM_: &[u8; 5] = b"From ";
/// Used when a message has no usable `Return-Path:`.
const NO_SENDER: &[u8] = b"MAILER-DAEMON";

/// `asctime` form of a Unix time in UTC: `Mon Jan  1 00:00:00 2024`.
pub(crate) fn asctime(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[(days + 4).rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        year
    )
}

/// The `From ` separator line for a message with this envelope sender, delivered at `now`.
/// White space and control characters in the sender, which would break the line, become `_`.
pub(crate) fn from_line(sender: Option<&[u8]>, now: SystemTime) -> Vec<u8> {
    let sender = match sender {
        Some(s) if !s.is_empty() => s,
        _ => NO_SENDER,
    };
    let secs = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let mut line = b"From ".to_vec();
    line.extend(
        sender
            .iter()
            .map(|&c| if c <= b' ' || c == 0x7f { b'_' } else { c }),
    );
    line.push(b' ');
    line.extend_from_slice(asctime(secs).as_bytes());
    line.push(b'\n');
    line
}

/// The mboxrd quoting state machine: prepends `>` to every line matching `^>*From `. Since
/// `>>From ` quoted is `>>>From `, the extra `>` may go right before `From`, so a run of `>` is
/// passed through at once and only up to five bytes (`From `) are ever held back.
#[derive(Default)]
struct Quoter {
    /// In the middle of a line (not at its start nor in its leading `>` run).
    mid_line: bool,
    /// How many bytes of `From ` the current line start has matched (held back).
    matched: usize,
}

impl Quoter {
    fn feed(&mut self, mut data: &[u8], out: &mut dyn Write) -> io::Result<()> {
        while !data.is_empty() {
            if self.mid_line {
                match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        out.write_all(&data[..=i])?;
                        data = &data[i + 1..];
                        self.mid_line = false;
                    }
                    None => {
                        out.write_all(data)?;
                        data = &[];
                    }
                }
                continue;
            }
            if self.matched == 0 && data[0] == b'>' {
                let n = data.iter().take_while(|&&c| c == b'>').count();
                out.write_all(&data[..n])?;
                data = &data[n..];
                continue;
            }
            if data[0] == FROM_[self.matched] {
                self.matched += 1;
                data = &data[1..];
                if self.matched == FROM_.len() {
                    out.write_all(b">From ")?;
                    self.matched = 0;
                    self.mid_line = true;
                }
                continue;
            }
            // Not a `From ` line: release what was held back and go on as mid-line (which
            // also handles the byte at hand, should it be a line end).
            out.write_all(&FROM_[..self.matched])?;
            self.matched = 0;
            self.mid_line = true;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&FROM_[..self.matched])?;
        self.matched = 0;
        Ok(())
    }
}

/// Writes the message from `body` to `out` in mboxrd form: the `From ` line (sender from
/// `Return-Path:`, date `now`), the quoted message, a final newline if it lacks one, and an
/// empty line. Returns the number of message bytes read from `body`.
pub(crate) fn write_mboxrd(
    body: &mut dyn Read,
    out: &mut dyn Write,
    now: SystemTime,
) -> Result<u64, CopyError> {
    let mut head = Vec::new();
    let ended = read_head(body, &mut head).map_err(CopyError::Read)?;
    let sender = envelope_sender(&head, ended);
    out.write_all(&from_line(sender.as_deref(), now))
        .map_err(CopyError::Write)?;
    let mut quoter = Quoter::default();
    quoter.feed(&head, out).map_err(CopyError::Write)?;
    let mut total = head.len() as u64;
    let mut last = head.last().copied();
    drop(head);
    if !ended {
        let mut buf = vec![0u8; BUFFER_SIZE];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyError::Read(e)),
            };
            quoter.feed(&buf[..n], out).map_err(CopyError::Write)?;
            total += n as u64;
            last = Some(buf[n - 1]);
        }
    }
    quoter.finish(out).map_err(CopyError::Write)?;
    let tail: &[u8] = match last {
        Some(b'\n') | None => b"\n",
        Some(_) => b"\n\n",
    };
    out.write_all(tail).map_err(CopyError::Write)?;
    Ok(total)
}

#[cfg(test)]
/// A test reader for mboxrd: splits on `From ` lines that follow an empty line (or start
/// the file), drops the separator's empty line, and reverses one level of quoting.
/// Returns (sender, message) pairs.
pub(crate) fn parse_mboxrd(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut lines: Vec<&[u8]> = data.split_inclusive(|&c| c == b'\n').collect();
    if lines.is_empty() {
        return out;
    }
    assert!(lines[0].starts_with(b"From "), "mbox must start with From");
    let mut prev_empty = true;
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in lines.drain(..) {
        if prev_empty && line.starts_with(b"From ") {
            if let Some((s, mut m)) = current.take() {
                assert_eq!(m.pop(), Some(b'\n'), "separator line missing");
                out.push((s, m));
            }
            let text = String::from_utf8_lossy(line);
            let sender = text.split(' ').nth(1).unwrap().to_string();
            current = Some((sender, Vec::new()));
            prev_empty = false;
            continue;
        }
        let msg = &mut current.as_mut().unwrap().1;
        let gt = line.iter().take_while(|&&c| c == b'>').count();
        if gt > 0 && line[gt..].starts_with(b"From ") {
            msg.extend_from_slice(&line[1..]);
        } else {
            msg.extend_from_slice(line);
        }
        prev_empty = line == b"\n";
    }
    if let Some((s, mut m)) = current.take() {
        assert_eq!(m.pop(), Some(b'\n'), "final separator line missing");
        out.push((s, m));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn asctime_matches_known_dates() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(1_704_067_200), "Mon Jan  1 00:00:00 2024");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(asctime(1_735_689_599), "Tue Dec 31 23:59:59 2024");
        assert_eq!(asctime(4_107_542_400), "Mon Mar  1 00:00:00 2100");
        assert_eq!(asctime(-1), "Wed Dec 31 23:59:59 1969");
    }

    #[test]
    fn from_line_formats_sender_and_date() {
        let t = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        assert_eq!(
            from_line(Some(b"a@b"), t),
            b"From a@b Mon Jan  1 00:00:00 2024\n"
        );
        assert_eq!(
            from_line(Some(b""), t),
            b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
        );
        assert_eq!(
            from_line(None, t),
            b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
        );
        assert_eq!(
            from_line(Some(b"a b\tc\x01"), t),
            b"From a_b_c_ Mon Jan  1 00:00:00 2024\n"
        );
    }

    /// Returns at most `step` bytes per read, to exercise state across buffer boundaries.
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn quoting_is_independent_of_read_sizes() {
        let msg = b"Subject: x\n\nFrom a\n>From b\n>>From c\nFro\nFrom\n>>>>\n>F\nxFrom d\n>From";
        let mut reference = Vec::new();
        write_mboxrd(&mut &msg[..], &mut reference, UNIX_EPOCH).unwrap();
        let expected_body =
            b"Subject: x\n\n>From a\n>>From b\n>>>From c\nFro\nFrom\n>>>>\n>F\nxFrom d\n>From\n\n";
        assert!(
            reference.ends_with(expected_body),
            "{}",
            String::from_utf8_lossy(&reference)
        );
        for step in 1..12 {
            let mut out = Vec::new();
            let n = write_mboxrd(&mut Dribble { data: msg, step }, &mut out, UNIX_EPOCH).unwrap();
            assert_eq!(n, msg.len() as u64);
            assert_eq!(out, reference, "step {step}");
        }
        // Beyond the head buffer too.
        let mut big = b"Subject: big\n\n".to_vec();
        for i in 0..20_000 {
            big.extend_from_slice(if i % 3 == 0 {
                b"From x\n"
            } else {
                b">From y\n"
            });
        }
        let mut out = Vec::new();
        write_mboxrd(
            &mut Dribble {
                data: &big,
                step: 4093,
            },
            &mut out,
            UNIX_EPOCH,
        )
        .unwrap();
        let parsed = parse_mboxrd(&out);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].1, big);
    }
}
