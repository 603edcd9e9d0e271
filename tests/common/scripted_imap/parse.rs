//! The scripted IMAP server's reading of commands and of the data it serves: command tokens
//! ([`Tok`], [`Parser`], [`Command`]), literal markers, UID sets, LIST patterns, FETCH items,
//! header sections, modified UTF-7 names and the downgraded form of a message.

use super::DELIMITER;

/// A token of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    /// An atom (also a sequence set, `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]`, `\Deleted`).
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    List(Vec<Tok>),
}

impl Tok {
    /// An astring's bytes.
    pub(super) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Tok::Atom(a) => Some(a.as_bytes()),
            Tok::Str(s) => Some(s),
            Tok::List(_) => None,
        }
    }

    pub(super) fn atom(&self) -> Option<&str> {
        match self {
            Tok::Atom(a) => Some(a),
            _ => None,
        }
    }
}

pub(super) struct Parser<'b> {
    pub(super) b: &'b [u8],
    pub(super) i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub(super) fn tokens(&mut self, in_list: bool) -> Result<Vec<Tok>, String> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b')') if in_list => {
                    self.i += 1;
                    return Ok(out);
                }
                None if in_list => return Err("unclosed parenthesis".into()),
                None => return Ok(out),
                _ => {}
            }
            out.push(self.token()?);
            match self.peek() {
                Some(b' ') => {
                    self.i += 1;
                    if matches!(self.peek(), None | Some(b' ') | Some(b')')) {
                        return Err("bad spacing".into());
                    }
                }
                Some(b')') if in_list => {}
                None => {}
                Some(c) => return Err(format!("unexpected {:?} after a token", c as char)),
            }
        }
    }

    fn token(&mut self) -> Result<Tok, String> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                let mut s = Vec::new();
                loop {
                    match self.peek() {
                        None | Some(b'\r') | Some(b'\n') => {
                            return Err("unterminated quoted string".into())
                        }
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(Tok::Str(s));
                        }
                        Some(b'\\') => {
                            let c = self.b.get(self.i + 1).copied();
                            if !matches!(c, Some(b'"') | Some(b'\\')) {
                                return Err("bad escape in quoted string".into());
                            }
                            s.push(c.unwrap());
                            self.i += 2;
                        }
                        Some(c) if c >= 0x80 || c == 0 => {
                            return Err("8-bit or NUL byte in a quoted string".into())
                        }
                        Some(c) => {
                            s.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some(b'{') => {
                let rest = &self.b[self.i..];
                let close = rest
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("unterminated literal marker")?;
                let inner = std::str::from_utf8(&rest[1..close]).map_err(|_| "bad literal")?;
                let digits = inner.strip_suffix('+').unwrap_or(inner);
                let n: usize = digits
                    .parse()
                    .map_err(|_| format!("bad literal marker {{{inner}}}"))?;
                if rest.get(close + 1..close + 3) != Some(b"\r\n") {
                    return Err("literal marker not at the end of a line".into());
                }
                let start = self.i + close + 3;
                let data = self.b.get(start..start + n).ok_or("short literal")?;
                self.i = start + n;
                Ok(Tok::Str(data.to_vec()))
            }
            Some(b'(') => {
                self.i += 1;
                Ok(Tok::List(self.tokens(true)?))
            }
            Some(_) => {
                let start = self.i;
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'[' => depth += 1,
                        b']' if depth > 0 => depth -= 1,
                        b' ' | b'(' | b')' if depth == 0 => break,
                        b'"' | b'{' if depth == 0 => break,
                        _ => {}
                    }
                    if !(0x20..0x7f).contains(&c) {
                        return Err("non-printable byte in an atom".into());
                    }
                    self.i += 1;
                }
                if depth != 0 {
                    return Err("unclosed [".into());
                }
                if self.i == start {
                    return Err("empty atom".into());
                }
                Ok(Tok::Atom(
                    String::from_utf8_lossy(&self.b[start..self.i]).into_owned(),
                ))
            }
            None => Err("missing token".into()),
        }
    }
}

/// The `{n}` / `{n+}` marker at the end of a line (with its CRLF), if any.
pub(super) fn literal_marker(line: &[u8]) -> Option<(usize, bool)> {
    let l = line.strip_suffix(b"\r\n")?;
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&c| c == b'{')?;
    let inner = std::str::from_utf8(&l[open + 1..]).ok()?;
    let (digits, plus) = match inner.strip_suffix('+') {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, plus))
}

/// A UID set: ranges, with `u32::MAX` for `*`.
pub(super) fn parse_set(s: &str) -> Option<Vec<(u32, u32)>> {
    let num = |x: &str| -> Option<u32> {
        if x == "*" {
            Some(u32::MAX)
        } else if !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()) && !x.starts_with('0') {
            x.parse().ok()
        } else {
            None
        }
    };
    s.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => Some((num(a)?, num(b)?)),
            None => {
                let n = num(part)?;
                Some((n, n))
            }
        })
        .collect()
}

pub(super) fn in_set(set: &[(u32, u32)], uid: u32, max_uid: u32) -> bool {
    set.iter().any(|&(a, b)| {
        let a = if a == u32::MAX { max_uid } else { a };
        let b = if b == u32::MAX { max_uid } else { b };
        (a.min(b)..=a.max(b)).contains(&uid)
    })
}

/// Glob matching of LIST patterns: `*` matches anything, `%` anything but the delimiter.
pub(super) fn list_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| list_match(rest, &name[i..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != DELIMITER as u8)
            .any(|i| list_match(rest, &name[i..])),
        Some((&c, rest)) => name.first() == Some(&c) && list_match(rest, &name[1..]),
    }
}

/// The header fields named in `fields` (or all others, with `not`), followed by CRLF.
pub(super) fn header_fields(raw: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 2);
    let header = &raw[..end];
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if !matches!(line.first(), Some(b' ') | Some(b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            let named = fields
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name));
            keep = named != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Decodes a modified UTF-7 name (RFC 3501 §5.1.3); a name that is not valid modified
/// UTF-7 is returned as it is.
pub fn utf7_decode(wire: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::new();
    let mut rest = wire;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let Some(dash) = rest[amp..].find('-') else {
            return wire.to_string();
        };
        let b64 = &rest[amp + 1..amp + dash];
        rest = &rest[amp + dash + 1..];
        if b64.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits = 0u32;
        let mut n = 0;
        let mut units = Vec::new();
        for c in b64.bytes() {
            let Some(v) = B64.iter().position(|&x| x == c) else {
                return wire.to_string();
            };
            bits = (bits << 6) | v as u32;
            n += 6;
            if n >= 16 {
                n -= 16;
                units.push((bits >> n) as u16);
            }
        }
        match String::from_utf16(&units) {
            Ok(s) => out.push_str(&s),
            Err(_) => return wire.to_string(),
        }
    }
    out.push_str(rest);
    out
}

/// What a downgrading server presents instead of a message with 8-bit header fields: a
/// notice, with the original attached as `message/global` (RFC 6532 §3.7).
pub fn downgraded(raw: &[u8]) -> Vec<u8> {
    let mut out = b"From: Mail System <postmaster@scripted.test>\r\n\
        Subject: Cannot display Unicode content\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"downgraded\"\r\n\r\n\
        --downgraded\r\nContent-Type: text/plain\r\n\r\n\
        This message holds Unicode content that your client cannot display.\r\n\
        --downgraded\r\nContent-Type: message/global\r\n\r\n"
        .to_vec();
    out.extend_from_slice(raw);
    out.extend_from_slice(b"\r\n--downgraded--\r\n");
    out
}

pub(super) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A FETCH item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Item {
    Uid,
    Size,
    Flags,
    InternalDate,
    /// `BODY[]` / `BODY.PEEK[]` / `RFC822`.
    Body {
        peek: bool,
        name: &'static str,
    },
    /// `BODY[HEADER]`, `BODY[HEADER.FIELDS (..)]`, `BODY[HEADER.FIELDS.NOT (..)]`.
    Header {
        peek: bool,
        section: String,
        fields: Option<Vec<String>>,
        not: bool,
    },
}

pub(super) fn parse_item(s: &str) -> Option<Item> {
    let u = s.to_ascii_uppercase();
    Some(match u.as_str() {
        "UID" => Item::Uid,
        "RFC822.SIZE" => Item::Size,
        "FLAGS" => Item::Flags,
        "INTERNALDATE" => Item::InternalDate,
        "BODY[]" => Item::Body {
            peek: false,
            name: "BODY[]",
        },
        "BODY.PEEK[]" => Item::Body {
            peek: true,
            name: "BODY[]",
        },
        "RFC822" => Item::Body {
            peek: false,
            name: "RFC822",
        },
        _ => {
            let (peek, section) = if let Some(r) = u.strip_prefix("BODY.PEEK[") {
                (true, r.strip_suffix(']')?)
            } else {
                (false, u.strip_prefix("BODY[")?.strip_suffix(']')?)
            };
            let (fields, not) = if section == "HEADER" {
                (None, false)
            } else {
                let (list, not) = if let Some(r) = section.strip_prefix("HEADER.FIELDS.NOT ") {
                    (r, true)
                } else {
                    (section.strip_prefix("HEADER.FIELDS ")?, false)
                };
                let inner = list.strip_prefix('(')?.strip_suffix(')')?;
                let names: Vec<String> = inner.split(' ').map(str::to_string).collect();
                if names.iter().any(|n| n.is_empty()) {
                    return None;
                }
                (Some(names), not)
            };
            Item::Header {
                peek,
                section: section.to_string(),
                fields,
                not,
            }
        }
    })
}

/// A parsed command.
pub(super) struct Command {
    pub(super) tag: String,
    pub(super) name: String,
    pub(super) args: Vec<Tok>,
}
