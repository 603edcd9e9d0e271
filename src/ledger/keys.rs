//! What identifies a mailbox ([`AccountKey`]: protocol family, host and user) and a message
//! in it ([`MessageKey`]: folder, UIDVALIDITY and UID or UIDL). See "What identifies a
//! mailbox" in the ledger's module documentation.

/// Identifies a mailbox on a server (see "What identifies a mailbox" above): protocol family,
/// host and user — never the port, the TLS mode or the authentication method.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    /// `pop3` or `imap` (the protocol, not the transport: pop3s and pop3 are the same mailbox).
    pub protocol: String,
    /// The host name or address as written, in lower case (host names are case-insensitive).
    pub host: String,
    pub user: String,
}

impl AccountKey {
    /// The key of `user` on `host` over `protocol` (`pop3` or `imap`); the host is put in
    /// lower case.
    pub fn new(protocol: &str, host: &str, user: &str) -> AccountKey {
        AccountKey {
            protocol: protocol.to_string(),
            host: host.to_ascii_lowercase(),
            user: user.to_string(),
        }
    }
}

impl AccountKey {
    /// The mailbox as a URL without a port, `pop3://alice@mail.example.org` (the form `mailpull
    /// ledger rename` takes); the user name is percent-encoded where a URL needs it.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{}@{host}", self.protocol, url_user(&self.user))
    }
}

/// A user name as the user part of a server URL: percent-encoded where it holds characters a
/// URL gives a meaning to (`@`, `:`, `/`, …), blanks or control characters.
pub fn url_user(user: &str) -> String {
    const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'/')
        .add(b':')
        .add(b';')
        .add(b'<')
        .add(b'=')
        .add(b'>')
        .add(b'?')
        .add(b'@')
        .add(b'[')
        .add(b'\\')
        .add(b']')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    percent_encoding::utf8_percent_encode(user, USERINFO).to_string()
}

impl std::fmt::Display for AccountKey {
    /// `pop3 alice@mail.example.org`: for messages (the user and host came from the user).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Control characters (possible in a percent-encoded user name) are shown escaped.
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        };
        write!(
            f,
            "{} {}@{}",
            self.protocol,
            safe(&self.user),
            safe(&self.host)
        )
    }
}

/// Where a message sits on the server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageKey {
    /// IMAP mailbox name; `""` for POP3.
    pub mailbox: String,
    /// IMAP UIDVALIDITY; 0 for POP3.
    pub uidvalidity: u32,
    /// POP3 UIDL or IMAP UID (decimal).
    pub uid: String,
}
