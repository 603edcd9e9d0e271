//! The documentation of every configuration key, in one table: the man page mailpull.toml(5)
//! (written by `crate::docs`) and the commented file `mailpull config init` writes are made
//! from it, and a test checks it against the keys the parser accepts (each table's
//! `deny_unknown_fields` error names them all), so it cannot go stale.
//!
//! Floor 4 (config): plain data, no imports.

/// Where a key may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// The top level of the file: the tables themselves.
    Top,
    /// `[defaults]` and `[account.NAME]` (`url`: accounts only).
    Account,
    /// `[receipts]` and an account's `receipts_transport`.
    Receipts,
    /// The `oauth2 = { … }` table of `[defaults]` or an account.
    OAuth2,
}

/// One key: where it goes, what value it takes, what it means.
#[derive(Clone, Copy, Debug)]
pub struct KeyDoc {
    pub table: Table,
    pub key: &'static str,
    /// The value's form, e.g. `"10MB"`.
    pub value: &'static str,
    /// What it does (one paragraph).
    pub doc: &'static str,
}

const fn key(table: Table, key: &'static str, value: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc {
        table,
        key,
        value,
        doc,
    }
}

use Table::{Account as A, OAuth2 as O, Receipts as R, Top as T};

/// Every key of the configuration file, in the order the man page lists them.
pub const KEYS: &[KeyDoc] = &[
    key(T, "defaults", "table", "Keys that apply to every account (any account key but url)."),
    key(T, "account", "table of tables", "[account.NAME]: one table per account, NAME being how mailpull names it (mailpull fetch NAME)."),
    key(T, "receipts", "table", "How read receipts are sent (the receipts keys below)."),
    key(A, "url", "\"pop3s://USER@HOST[:PORT]\", \"pop3://...\", \"imaps://...\", \"imap://...\"", "The server (required, accounts only). pop3s and imaps speak TLS from the first byte (ports 995, 993); pop3 and imap are secured with STLS/STARTTLS, which is required."),
    key(A, "folders", "list of names or patterns", "IMAP folders to fetch, or LIST patterns such as \"Lists/*\" (default [\"INBOX\"]). A / stands for the server's hierarchy separator (e.g. .) when the name as written matches nothing; a name or pattern that matches nothing is reported with the folders there."),
    key(A, "mark_seen", "bool", "IMAP: set \\Seen on fetched messages (default false)."),
    key(A, "password_command", "string", "Shell command (sh -c) whose first output line is the password (or, with auth xoauth2/oauthbearer, the OAuth 2 token)."),
    key(A, "password", "string", "The password itself. The file must then be readable only by you (chmod 600); mailpull refuses it otherwise. MAILPULL_PASSWORD and password_command win over it."),
    key(A, "auth", "\"auto\", \"user\", \"login\", \"plain\", \"apop\", \"xoauth2\", \"oauthbearer\"", "Authentication method (default auto: SASL PLAIN when offered, else USER/PASS or LOGIN)."),
    key(A, "oauth2", "{ provider = \"google\" | \"microsoft\" | \"custom\", client_id = \"...\", client_secret = \"...\" or client_secret_command = \"CMD\", auth_url, token_url, device_url = \"https://...\", scopes = [...], token_command = \"CMD\" }", "Log in with OAuth 2 tokens that mailpull obtains (mailpull auth login ACCOUNT) and refreshes itself, kept in ~/.local/share/mailpull/oauth/ (mode 0600); auth then defaults to xoauth2. The presets fill in Google's and Microsoft's endpoints and mail scopes; custom needs token_url. A client_secret in the file requires chmod 600, like password. In [defaults] and an account the tables are merged key by key. See OAUTH2 KEYS."),
    key(A, "tls_ca_file", "path", "Extra trusted certificates (PEM): a private CA or a self-signed server certificate."),
    key(A, "tls_fingerprint", "\"sha256:HEX\" or \"sha256 Fingerprint=AB:CD:...\"", "Pin the server certificate by the SHA-256 of its DER encoding (mailpull probe prints it); chain and name are then not checked."),
    key(A, "insecure_no_tls", "bool", "Plaintext on pop3:// or imap:// without STLS/STARTTLS; sends the password in clear (loopback testing only)."),
    key(A, "timeout", "seconds or \"30s\", \"2m\"", "Connect, handshake and reply deadline (default 60 s); a long reply may take longer while it keeps arriving at 1 KiB/s."),
    key(A, "keep", "bool", "Leave messages on the server (default false for POP3, true for IMAP); each is still downloaded only once."),
    key(A, "delete_after_days", "integer", "With keep: delete messages from the server once they were delivered this many days ago."),
    key(A, "skip_larger_than", "size (\"10MB\", \"500k\", 2048)", "Leave larger new messages on the server, not downloaded; reported."),
    key(A, "delete_larger_than", "size", "Delete larger new messages from the server without downloading them; reported. Only when you set it."),
    key(A, "max_messages", "integer", "Download at most this many new messages per run."),
    key(A, "deliver", "{ maildir = \"DIR\" }, { mbox = \"FILE\" }, { mda = \"CMD\" }, { stdout = true }", "Where messages go (default ~/Maildir). An MDA command gets each message on its stdin; %u is the local user."),
    key(A, "mda_timeout", "seconds or \"5m\"", "How long an MDA may take per message (default 5 minutes)."),
    key(A, "filter", "string", "Command deciding from each new message's headers (on its stdin): exit 0 fetch, 1 delete unread (delete mode), 2 leave it on the server."),
    key(A, "filter_timeout", "seconds or \"30s\"", "How long the filter may take per message (default 60 s)."),
    key(A, "poll_interval", "seconds or \"5m\"", "mailpull watch: how often to fetch the account when it cannot IDLE (default 5 minutes; --every wins)."),
    key(A, "receipts", "\"ask\" or \"never\"", "Read receipts: ask (default; on a terminal now, else later with mailpull receipts) or never send and never ask."),
    key(A, "receipts_transport", "table with the receipts keys", "How this account sends read receipts, instead of the top-level [receipts] table."),
    key(R, "from", "address", "Your address: the From of a receipt and its Final-Recipient."),
    key(R, "smtp", "\"smtps://USER@HOST[:PORT]\" or \"smtp://USER@HOST[:PORT]\"", "The SMTP server that sends receipts (smtp:// requires STARTTLS)."),
    key(R, "password_command", "string", "Shell command whose first output line is the SMTP password."),
    key(R, "auth", "\"auto\" or \"xoauth2\"", "How to log in to the SMTP server: auto (PLAIN or LOGIN with the password; default) or xoauth2 (an OAuth 2 access token: the account's oauth2 token store, or what password_command prints). oauthbearer is refused: the SMTP library lacks it."),
    key(R, "sendmail", "string", "A sendmail-compatible command instead of smtp, run as CMD -f '<>' -i -- ADDRESS."),
    key(R, "tls_ca_file", "path", "Extra trusted certificates (PEM) for the SMTP server."),
    key(O, "provider", "\"google\", \"microsoft\" or \"custom\"", "Fills in the provider's endpoints and mail scopes; custom needs token_url and auth_url or device_url."),
    key(O, "client_id", "string", "The client id of the application registered with the provider (required)."),
    key(O, "client_secret", "string", "The client secret, where the provider issues one (Google's desktop clients)."),
    key(O, "client_secret_command", "string", "Shell command whose first output line is the client secret."),
    key(O, "auth_url", "https URL", "The authorization endpoint (browser sign-in with PKCE); overrides the provider's."),
    key(O, "token_url", "https URL", "The token endpoint; overrides the provider's. Plain http only for 127.0.0.1, ::1 or localhost."),
    key(O, "device_url", "https URL", "The device authorization endpoint (RFC 8628); overrides the provider's."),
    key(O, "scopes", "list of strings", "The scopes to ask for, instead of the provider's mail scopes."),
    key(O, "token_command", "string", "Keep the token record elsewhere (pass, a keyring): CMD get prints it, CMD put reads it on stdin, CMD delete forgets it. Default: a mode 0600 file in ~/.local/share/mailpull/oauth/."),
];

/// The keys of one table.
pub fn keys_of(table: Table) -> impl Iterator<Item = &'static KeyDoc> {
    KEYS.iter().filter(move |k| k.table == table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::FileConfig;

    /// The field names a table's parser accepts, from its `deny_unknown_fields` error:
    /// "unknown field `x`, expected one of `a`, `b`" (or "expected `a` or `b`").
    fn accepted(toml_text: &str) -> Vec<String> {
        let err = toml::from_str::<FileConfig>(toml_text)
            .expect_err("an unknown key must be refused")
            .to_string();
        let expected = err
            .split_once("expected")
            .unwrap_or_else(|| panic!("no list of keys in: {err}"))
            .1;
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    fn documented(table: Table) -> Vec<String> {
        let mut v: Vec<String> = keys_of(table).map(|k| k.key.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn every_key_the_parser_accepts_is_documented_and_no_other() {
        for (table, probe) in [
            (Table::Top, "no_such_key_x = 1\n"),
            (Table::Account, "[defaults]\nno_such_key_x = 1\n"),
            (Table::Account, "[account.a]\nno_such_key_x = 1\n"),
            (Table::Receipts, "[receipts]\nno_such_key_x = 1\n"),
            (
                Table::Receipts,
                "[defaults]\nreceipts_transport = { no_such_key_x = 1 }\n",
            ),
            (
                Table::OAuth2,
                "[defaults]\noauth2 = { no_such_key_x = 1 }\n",
            ),
        ] {
            let mut want = accepted(probe);
            want.sort();
            assert!(want.len() >= 3, "{probe}: {want:?}");
            assert_eq!(documented(table), want, "{probe}");
        }
    }

    #[test]
    fn no_key_is_documented_twice() {
        let mut seen = std::collections::HashSet::new();
        for k in KEYS {
            assert!(seen.insert((k.table, k.key)), "{} twice", k.key);
            assert!(!k.doc.is_empty() && !k.value.is_empty(), "{}", k.key);
        }
    }
}
