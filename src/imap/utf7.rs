//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3), both ways, with no I/O: how a mailbox
//! name travels when `UTF8=ACCEPT` is not in effect (see the module documentation of
//! [`super`]).

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a mailbox name in modified UTF-7: printable ASCII stands for itself except `&`
/// (sent as `&-`); anything else is UTF-16BE in modified base64 (`,` for `/`, no padding)
/// between `&` and `-`.
pub fn utf7_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    fn flush(out: &mut String, units: &mut Vec<u16>) {
        if units.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
        let mut bits = 0u32;
        let mut nbits = 0;
        for b in bytes {
            bits = (bits << 8) | b as u32;
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(B64[((bits >> nbits) & 0x3f) as usize] as char);
            }
        }
        if nbits > 0 {
            out.push(B64[((bits << (6 - nbits)) & 0x3f) as usize] as char);
        }
        out.push('-');
        units.clear();
    }
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Decodes a modified UTF-7 mailbox name. Rejects bad base64, non-zero or excess padding bits,
/// unpaired surrogates, raw non-printable bytes and unterminated shifts.
pub fn utf7_decode(wire: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while i < wire.len() {
        let b = wire[i];
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                return Err(format!("byte 0x{b:02x} is not allowed in modified UTF-7"));
            }
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = wire[i + 1..]
            .iter()
            .position(|&c| c == b'-')
            .map(|p| i + 1 + p)
            .ok_or("unterminated &... sequence")?;
        let seg = &wire[i + 1..end];
        i = end + 1;
        if seg.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits = 0u32;
        let mut nbits = 0;
        let mut units = Vec::new();
        for &c in seg {
            let v = B64
                .iter()
                .position(|&x| x == c)
                .ok_or_else(|| format!("{:?} is not modified base64", c as char))?;
            bits = (bits << 6) | v as u32;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
        }
        if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
            return Err("bad padding in a modified base64 sequence".into());
        }
        for r in char::decode_utf16(units) {
            out.push(r.map_err(|_| "unpaired UTF-16 surrogate".to_string())?);
        }
    }
    Ok(out)
}

/// Decodes a mailbox name as a server sent it: modified UTF-7, or (for servers that ignore
/// RFC 3501 §5.1.3 or use UTF8=ACCEPT) UTF-8 as is; anything else lossily.
pub fn mailbox_from_wire(wire: &[u8]) -> String {
    if wire.is_ascii() {
        if let Ok(s) = utf7_decode(wire) {
            return s;
        }
    }
    String::from_utf8_lossy(wire).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf7_examples() {
        assert_eq!(utf7_encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(utf7_decode(b"Entw&APw-rfe").unwrap(), "Entwürfe");
        assert_eq!(utf7_encode("&"), "&-");
        assert_eq!(utf7_decode(b"&-").unwrap(), "&");
        assert_eq!(utf7_encode("日本語"), "&ZeVnLIqe-");
        assert_eq!(utf7_decode(b"&ZeVnLIqe-").unwrap(), "日本語");
        // RFC 3501 §5.1.3 example.
        assert_eq!(
            utf7_decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        assert_eq!(
            utf7_encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(utf7_encode("INBOX"), "INBOX");
        assert_eq!(utf7_encode("A&B ü"), "A&-B &APw-");
    }

    #[test]
    fn utf7_round_trips() {
        for s in [
            "",
            "INBOX",
            "a&b&&c",
            "Entwürfe",
            "日本語",
            "emoji 📬 box",
            "ü",
            "üü",
            "üüü",
            "Ω&Ω",
            "tab\there",
            "Lists/*",
            "%",
        ] {
            let enc = utf7_encode(s);
            assert!(enc.is_ascii(), "{enc}");
            assert_eq!(utf7_decode(enc.as_bytes()).unwrap(), s, "{enc}");
        }
    }

    #[test]
    fn utf7_rejects_garbage() {
        assert!(utf7_decode(b"&APw").is_err()); // unterminated
        assert!(utf7_decode(b"&A-").is_err()); // 6 bits: excess
        assert!(utf7_decode(b"&APx-").is_err()); // non-zero padding bits
        assert!(utf7_decode(b"&2D3-").is_err()); // lone surrogate
        assert!(utf7_decode(b"&AP!-").is_err()); // not base64
        assert!(utf7_decode("ü".as_bytes()).is_err()); // raw 8-bit
        assert_eq!(mailbox_from_wire("Entwürfe".as_bytes()), "Entwürfe");
        assert_eq!(mailbox_from_wire(b"Entw&APw-rfe"), "Entwürfe");
    }
}
