//! The progress bar as a user sees it (issue 14, friction 7), on a real pseudo-terminal of a
//! fixed size, against a private Dovecot with several IMAP folders.
//!
//! mailpull's output is run through a small terminal emulator ([`Screen`]) that understands
//! the sequences the progress bars use (carriage return, cursor up/down, erase line/below), so
//! that the assertions are about what the user sees: the frames drawn, and the screen at the
//! end. A frame is the screen just before a redraw starts (a cursor-up sequence).

mod common;

use std::process::Command;

use common::dovecot::{generated_message, Dovecot};
use common::run::Sandbox;

/// A terminal of `cols` × `rows`: what is on screen, and the lines scrolled off the top.
struct Screen {
    cols: usize,
    rows: usize,
    grid: Vec<Vec<char>>,
    scrolled: Vec<String>,
    row: usize,
    col: usize,
    /// The next printable character goes to the next line (the last column was written).
    wrap: bool,
    frames: Vec<Vec<String>>,
    /// Something was written since the last frame was taken.
    dirty: bool,
}

impl Screen {
    fn new(cols: usize, rows: usize) -> Screen {
        Screen {
            cols,
            rows,
            grid: vec![vec![' '; cols]; rows],
            scrolled: Vec::new(),
            row: 0,
            col: 0,
            wrap: false,
            frames: Vec::new(),
            dirty: false,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.grid
            .iter()
            .map(|l| l.iter().collect::<String>().trim_end().to_string())
            .collect()
    }

    fn newline(&mut self) {
        self.wrap = false;
        if self.row + 1 == self.rows {
            let top = self.grid.remove(0);
            self.scrolled
                .push(top.iter().collect::<String>().trim_end().to_string());
            self.grid.push(vec![' '; self.cols]);
        } else {
            self.row += 1;
        }
    }

    fn put(&mut self, c: char) {
        if self.wrap {
            self.col = 0;
            self.newline();
        }
        self.grid[self.row][self.col] = c;
        self.dirty = true;
        if self.col + 1 == self.cols {
            self.wrap = true;
        } else {
            self.col += 1;
        }
    }

    fn feed(&mut self, text: &str) {
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    self.col = 0;
                    self.wrap = false;
                }
                '\n' => self.newline(),
                '\x08' => {
                    self.col = self.col.saturating_sub(1);
                    self.wrap = false;
                }
                '\x1b' => {
                    assert_eq!(chars.next(), Some('['), "only CSI sequences are expected");
                    let mut params = String::new();
                    let fin = loop {
                        let c = chars.next().expect("a complete sequence");
                        if c.is_ascii_alphabetic() {
                            break c;
                        }
                        params.push(c);
                    };
                    let n: usize = params.trim_start_matches('?').parse().unwrap_or(0);
                    self.csi(fin, n, &params);
                }
                c if c.is_control() => panic!("unexpected control character {c:?}"),
                c => self.put(c),
            }
        }
    }

    fn csi(&mut self, fin: char, n: usize, params: &str) {
        self.wrap = false;
        match fin {
            'A' => {
                // A redraw starts: what is on screen now is a complete frame.
                if self.dirty {
                    self.frames.push(self.lines());
                    self.dirty = false;
                }
                self.row = self.row.saturating_sub(n.max(1));
            }
            'B' => self.row = (self.row + n.max(1)).min(self.rows - 1),
            'C' => self.col = (self.col + n.max(1)).min(self.cols - 1),
            'D' => self.col = self.col.saturating_sub(n.max(1)),
            'K' => {
                let from = if n == 2 { 0 } else { self.col };
                self.grid[self.row][from..].fill(' ');
            }
            'J' => {
                self.grid[self.row][self.col..].fill(' ');
                for r in self.row + 1..self.rows {
                    self.grid[r].fill(' ');
                }
            }
            'm' | 'h' | 'l' => {}
            other => panic!("unexpected sequence ESC[{params}{other}"),
        }
    }
}

/// Starts mailpull with `args` on a pseudo-terminal of `cols` × `rows` (stdout and stderr are
/// the terminal).
fn spawn_pty(
    sb: &Sandbox,
    cols: usize,
    rows: usize,
    args: &[&str],
) -> rexpect::session::PtySession {
    let base = sb.cmd(Some("secret"));
    let mut c = Command::new("sh");
    c.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.env("TERM", "xterm")
        .arg("-c")
        .arg(format!("stty cols {cols} rows {rows}; exec \"$0\" \"$@\""))
        .arg(base.get_program())
        .args(args);
    rexpect::session::spawn_command(c, Some(120_000)).expect("spawn on a pty")
}

/// rexpect hands over one char per byte: the bytes decoded as UTF-8.
fn utf8(out: String) -> String {
    if out.chars().all(|c| (c as u32) < 256) {
        let bytes: Vec<u8> = out.chars().map(|c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        out
    }
}

/// Waits for the end of the session: everything it wrote, and its exit status.
fn wait_end(mut p: rexpect::session::PtySession) -> (String, i32) {
    let out = utf8(p.exp_eof().expect("mailpull ends"));
    let code = match p.process().wait() {
        Ok(rexpect::process::WaitStatus::Exited(_, c)) => c,
        other => panic!("mailpull did not exit: {other:?}\n{out}"),
    };
    (out, code)
}

/// Runs mailpull with `args` on a pseudo-terminal of `cols` × `rows` and returns everything it
/// wrote there and its exit status.
fn on_pty(sb: &Sandbox, cols: usize, rows: usize, args: &[&str]) -> (String, i32) {
    wait_end(spawn_pty(sb, cols, rows, args))
}

/// Whether a line is a bar's second line (counts, bytes, rate, elapsed, ETA).
fn stats(l: &str) -> bool {
    l.contains(" messages, ") && l.contains(" elapsed, ETA ")
}

/// `N/M messages` on a frame's lines, if a bar is drawn.
fn counts(lines: &[String]) -> Option<(u64, u64)> {
    let l = lines.iter().find(|l| stats(l))?;
    let (done, rest) = l.trim_start().split_once('/')?;
    let total = rest.split_once(' ')?.0;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// Three IMAP folders of 8, 9 and 8 messages (one in the second asks for a read receipt in a
/// way mailpull refuses, which prints a long warning in the middle of the transfer), fetched
/// on an 80-column terminal into an MDA that takes its time: the bar counts every folder (the
/// total grows as each folder is listed and never restarts), shows elapsed time and ETA,
/// leaves room for a bar of at least half the width although the label is a URL, leaves no
/// stale line when the warning is printed, and its final state agrees with the summary.
#[test]
fn progress_counts_every_folder_with_elapsed_and_eta_and_leaves_no_stale_line() {
    let Some(d) = Dovecot::start() else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(14);
    let mut serial = 0;
    for (folder, n) in [("INBOX", 8), ("Lists", 9), ("Work", 8)] {
        if folder != "INBOX" {
            d.create_mailbox("alice", folder);
        }
        for i in 0..n {
            serial += 1;
            let mut raw = generated_message(serial, 20_000, &mut rng);
            if folder == "Lists" && i == 4 {
                raw.splice(
                    0..0,
                    b"Disposition-Notification-To: not an address\r\n".to_vec(),
                );
            }
            d.add_message_in("alice", folder, &raw);
        }
    }
    let sb = Sandbox::new();
    let url = d.imaps_url("alice");
    let ca = d.ca_file();
    let (out, code) = on_pty(
        &sb,
        80,
        40,
        &[
            "fetch",
            &url,
            "--tls-ca-file",
            ca.to_str().unwrap(),
            "--folder",
            "INBOX",
            "--folder",
            "Lists",
            "--folder",
            "Work",
            "--mda",
            "sleep 0.05; cat >/dev/null",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let mut screen = Screen::new(80, 40);
    screen.feed(&out);
    let end = screen.lines();
    let report = || {
        let frames: Vec<String> = screen.frames.iter().map(|f| f.join("\n")).collect();
        format!(
            "frames:\n{}\n--- at the end:\n{}",
            frames.join("\n-----\n"),
            end.join("\n")
        )
    };
    if let Ok(dir) = std::env::var("MAILPULL_SAVE_FRAMES") {
        std::fs::write(format!("{dir}/progress-frames.txt"), report()).unwrap();
    }
    assert!(screen.scrolled.is_empty(), "{}", report());

    // Frames: elapsed and ETA; totals that grow folder by folder, never restart.
    let drawn: Vec<&Vec<String>> = screen
        .frames
        .iter()
        .filter(|f| counts(f).is_some())
        .collect();
    assert!(!drawn.is_empty(), "no bar was drawn:\n{}", report());
    let mut last = (0, 0);
    let mut totals = Vec::new();
    for f in &drawn {
        let (done, total) = counts(f).unwrap();
        assert!(
            done >= last.0 && total >= last.1,
            "the counts went back from {last:?} to {:?}:\n{}",
            (done, total),
            report()
        );
        last = (done, total);
        if !totals.contains(&total) {
            totals.push(total);
        }
        let line = f.iter().find(|l| l.contains(" messages, ")).unwrap();
        assert!(
            line.contains(" elapsed, ETA "),
            "no elapsed time or ETA: {line:?}"
        );
        // The bar line: the label cut short, then a bar of at least half the width.
        let i = f.iter().position(|l| stats(l)).unwrap();
        let bar = &f[i - 1];
        let label = bar.split(' ').next().unwrap();
        assert!(
            label.chars().count() <= 80 / 3,
            "label {label:?} too long: {bar:?}"
        );
        assert!(
            bar.chars().count() - label.chars().count() >= 40,
            "the bar is too short: {bar:?}"
        );
    }
    assert!(
        totals.iter().all(|t| [8, 17, 25].contains(t)) && totals.contains(&25),
        "totals {totals:?} do not cover every folder:\n{}",
        report()
    );

    // The end: the final bar (all 25) agrees with the summary; the warning is whole; no line
    // is left of any earlier bar.
    let bars: Vec<&String> = end.iter().filter(|l| stats(l)).collect();
    assert_eq!(bars.len(), 1, "stale bar lines:\n{}", report());
    let summary = end
        .iter()
        .find(|l| l.starts_with("25 new messages, "))
        .unwrap_or_else(|| panic!("no summary:\n{}", report()));
    let summary_bytes = summary
        .trim_start_matches("25 new messages, ")
        .split(" — ")
        .next()
        .unwrap();
    assert!(
        bars[0].trim_start().starts_with(&format!(
            "25/25 messages, {summary_bytes}/{summary_bytes}, "
        )),
        "the final bar {:?} disagrees with the summary {summary:?}",
        bars[0]
    );
    let text = end.join("");
    assert!(
        text.contains("mailpull: warning: ")
            && text.contains("asks for a read receipt, which mailpull will not send"),
        "{}",
        report()
    );
    let warning = end
        .iter()
        .position(|l| l.contains("mailpull: warning: "))
        .unwrap();
    assert!(
        end[warning].starts_with("mailpull: warning: "),
        "the warning shares its line with something else: {:?}",
        end[warning]
    );
    // Nothing but the last bar carries bar cells or counts.
    let bar_line = end.iter().position(|l| stats(l)).unwrap() - 1;
    for (i, l) in end.iter().enumerate() {
        if i != bar_line && i != bar_line + 1 {
            assert!(
                !l.contains('█') && !l.contains('░') && !l.contains(" elapsed, ETA "),
                "stale bar line {i}: {l:?}\n{}",
                report()
            );
        }
    }
}

/// `mailpull watch` polling a POP3 account on a terminal prints one line per fetch and no
/// progress bar (a bar would be left on screen between the event lines).
#[test]
fn watch_polling_draws_no_progress_bar() {
    let Some(d) = Dovecot::start() else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(7);
    for serial in 0..10 {
        d.add_message("alice", &generated_message(serial, 20_000, &mut rng));
    }
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let ca = d.ca_file();
    let mut p = spawn_pty(
        &sb,
        80,
        40,
        &[
            "watch",
            &url,
            "--tls-ca-file",
            ca.to_str().unwrap(),
            "--every",
            "1h",
            "--mda",
            "sleep 0.05; cat >/dev/null",
        ],
    );
    let before = utf8(p.exp_string("10 new messages").expect("the fetch's line"));
    p.process_mut()
        .signal(rexpect::process::Signal::SIGTERM)
        .unwrap();
    let (rest, code) = wait_end(p);
    assert_eq!(code, 0, "{before}{rest}");
    let out = format!("{before}{rest}");
    assert!(
        !out.contains('█') && !out.contains('░') && !out.contains(" elapsed, ETA "),
        "a progress bar was drawn:\n{out}"
    );
}
