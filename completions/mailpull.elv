
use builtin;
use str;

set edit:completion:arg-completer[mailpull] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mailpull'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mailpull'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand fetch 'Download new messages and deliver them'
            cand check 'Count new messages without downloading them; the counts go to stdout (exit 0: new mail, 1: none)'
            cand list 'Show what is on the server (date, sender, subject, size, new or fetched) from the headers alone, without downloading or changing anything'
            cand watch 'Keep fetching until stopped: IMAP IDLE, else polling every --every'
            cand accounts 'List the configured accounts and where their mail goes'
            cand config 'Check the configuration file, or write a starter one (config init)'
            cand import 'Record the messages fetchmail, mpop or getmail already fetched, so that mailpull never downloads them again'
            cand receipts 'List read-receipt requests waiting for an answer, or answer them'
            cand probe 'Show what a server says about itself: greeting, capabilities, TLS, certificate'
            cand ledger 'Show the mailboxes the ledger knows, or move one''s records to a renamed server'
            cand auth 'Sign in to OAuth 2 accounts (Gmail, Microsoft 365) and manage their stored tokens'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;fetch'= {
            cand --tls-ca-file 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)'
            cand --tls-fingerprint 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name'
            cand --timeout 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]'
            cand --password-command 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)'
            cand --auth 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]'
            cand --folder 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]'
            cand --maildir 'Deliver into this Maildir (cur/, new/ and tmp/ are created if missing)'
            cand --mbox 'Append to this mbox file (mboxrd, locked like mutt and procmail do)'
            cand --mda 'Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local user); exit 0 means delivered'
            cand --skip-larger-than 'Leave messages larger than SIZE on the server without downloading them (e.g. 10MB)'
            cand --delete-larger-than 'Delete messages larger than SIZE from the server WITHOUT downloading them'
            cand --mda-timeout 'How long an MDA may take per message before it counts as failed (seconds, or 30s, 5m) [default: 300]'
            cand --max-messages 'Download at most N new messages per account per fetch'
            cand --filter 'Run CMD (with `sh -c`) on the headers of each new message before downloading it: exit 0 fetches it, 1 deletes it without downloading (delete mode only), 2 leaves it on the server; anything else is an error that leaves it alone. '''' turns a configured filter off'
            cand --receipts 'Read receipts in this run: ask (on a terminal; otherwise they wait), queue (ask nothing; they wait for `mailpull receipts review`) or never (as receipts = "never": requests are not even recorded) [default: the configuration''s receipts, else ask]'
            cand -j 'Fetch up to N accounts in parallel [default: up to 4, at most the number of accounts]'
            cand --jobs 'Fetch up to N accounts in parallel [default: up to 4, at most the number of accounts]'
            cand --lock-wait 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --insecure-no-tls 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
            cand --stdout 'Write every new message to stdout as an mboxrd stream'
            cand -k 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]'
            cand --keep 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]'
            cand --no-keep 'Delete messages from the server once delivered [default for POP3]'
            cand --mark-seen 'IMAP: set \Seen on the messages fetched (otherwise their flags are left alone)'
            cand --json 'Print a JSON summary on stdout (and nothing else on stdout)'
            cand --pick 'Choose on the terminal which new messages to download; the others stay on the server and stay new. Accounts are then fetched one at a time'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;check'= {
            cand --tls-ca-file 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)'
            cand --tls-fingerprint 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name'
            cand --timeout 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]'
            cand --password-command 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)'
            cand --auth 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]'
            cand --folder 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]'
            cand -j 'Check up to N accounts in parallel [default: up to 4]'
            cand --jobs 'Check up to N accounts in parallel [default: up to 4]'
            cand --lock-wait 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --insecure-no-tls 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
            cand --json 'Print a JSON summary on stdout'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;list'= {
            cand --tls-ca-file 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)'
            cand --tls-fingerprint 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name'
            cand --timeout 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]'
            cand --password-command 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)'
            cand --auth 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]'
            cand --folder 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]'
            cand --lock-wait 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --insecure-no-tls 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
            cand --new 'Show only messages not fetched yet'
            cand --json 'Print a JSON array of messages on stdout instead of the table'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;watch'= {
            cand --every 'How often to fetch accounts that cannot IDLE (POP3, IMAP without IDLE), e.g. 30s, 5m, 1h; IMAP folders that IDLE are also fetched this often, as a safety net [default: poll_interval from the configuration, else 5m]'
            cand --tls-ca-file 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)'
            cand --tls-fingerprint 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name'
            cand --timeout 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]'
            cand --password-command 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)'
            cand --auth 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]'
            cand --folder 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]'
            cand --maildir 'Deliver into this Maildir (cur/, new/ and tmp/ are created if missing)'
            cand --mbox 'Append to this mbox file (mboxrd, locked like mutt and procmail do)'
            cand --mda 'Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local user); exit 0 means delivered'
            cand --skip-larger-than 'Leave messages larger than SIZE on the server without downloading them (e.g. 10MB)'
            cand --delete-larger-than 'Delete messages larger than SIZE from the server WITHOUT downloading them'
            cand --mda-timeout 'How long an MDA may take per message before it counts as failed (seconds, or 30s, 5m) [default: 300]'
            cand --max-messages 'Download at most N new messages per account per fetch'
            cand --filter 'Run CMD (with `sh -c`) on the headers of each new message before downloading it: exit 0 fetches it, 1 deletes it without downloading (delete mode only), 2 leaves it on the server; anything else is an error that leaves it alone. '''' turns a configured filter off'
            cand --receipts 'Read receipts in this run: ask (on a terminal; otherwise they wait), queue (ask nothing; they wait for `mailpull receipts review`) or never (as receipts = "never": requests are not even recorded) [default: the configuration''s receipts, else ask]'
            cand --lock-wait 'How long to wait at start for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --insecure-no-tls 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
            cand --stdout 'Write every new message to stdout as an mboxrd stream'
            cand -k 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]'
            cand --keep 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]'
            cand --no-keep 'Delete messages from the server once delivered [default for POP3]'
            cand --mark-seen 'IMAP: set \Seen on the messages fetched (otherwise their flags are left alone)'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;accounts'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;config'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand check 'Validate the configuration file and print what it resolves to (never passwords)'
            cand init 'Write a commented starter configuration file (asks on a terminal)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;config;check'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;config;init'= {
            cand --url 'The server: pop3s://USER@HOST[:PORT], pop3://, imaps:// or imap://'
            cand --user 'The user name, if the URL has none'
            cand --name 'The account''s name in the file [default: from the server''s name]'
            cand --password-command 'The password is the first line this command prints'
            cand --oauth2 'Log in with OAuth 2 tokens from this provider (google, microsoft, or custom with --token-url), instead of a password'
            cand --client-id 'The OAuth 2 client id (of the application registered with the provider)'
            cand --client-secret 'The OAuth 2 client secret (Google''s desktop clients have one), written into the file'
            cand --client-secret-command 'The OAuth 2 client secret is the first line this command prints'
            cand --token-url 'The token endpoint of a custom OAuth 2 provider'
            cand --auth-url 'The authorization endpoint of a custom OAuth 2 provider (loopback sign-in)'
            cand --device-url 'The device authorization endpoint of a custom OAuth 2 provider (device sign-in)'
            cand --scopes 'The scopes to ask a custom OAuth 2 provider for, separated by spaces'
            cand --maildir 'Deliver into this Maildir'
            cand --mbox 'Deliver into this mbox file'
            cand --mda 'Deliver through this command (an MDA; %u is the local user)'
            cand --tls-ca-file 'Trust the certificates in this PEM file (written into the file as tls_ca_file)'
            cand --tls-fingerprint 'Pin the server certificate (written into the file as tls_fingerprint)'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --password-env 'The password comes from MAILPULL_PASSWORD at each run'
            cand --password-prompt 'mailpull asks for the password on the terminal at each run'
            cand --no-probe 'Do not try the server before writing'
            cand --example 'Write the commented example, asking nothing'
            cand --force 'Replace an existing file'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;config;help'= {
            cand check 'Validate the configuration file and print what it resolves to (never passwords)'
            cand init 'Write a commented starter configuration file (asks on a terminal)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;config;help;check'= {
        }
        &'mailpull;config;help;init'= {
        }
        &'mailpull;config;help;help'= {
        }
        &'mailpull;import'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand fetchmail 'fetchmail''s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)'
            cand mpop 'mpop''s UIDLS file, or a directory of them (POP3 UIDLs)'
            cand getmail 'getmail''s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;import;fetchmail'= {
            cand -a 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]'
            cand --account 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]'
            cand --as 'The tool''s records of PEER-URL''s mailbox are records of URL''s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -n 'Show what would be imported without writing to the ledger'
            cand --dry-run 'Show what would be imported without writing to the ledger'
            cand --json 'Print a JSON report on stdout (and nothing else on stdout)'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;import;mpop'= {
            cand -a 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]'
            cand --account 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]'
            cand --as 'The tool''s records of PEER-URL''s mailbox are records of URL''s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -n 'Show what would be imported without writing to the ledger'
            cand --dry-run 'Show what would be imported without writing to the ledger'
            cand --json 'Print a JSON report on stdout (and nothing else on stdout)'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;import;getmail'= {
            cand -a 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]'
            cand --account 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]'
            cand --as 'The tool''s records of PEER-URL''s mailbox are records of URL''s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -n 'Show what would be imported without writing to the ledger'
            cand --dry-run 'Show what would be imported without writing to the ledger'
            cand --json 'Print a JSON report on stdout (and nothing else on stdout)'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;import;help'= {
            cand fetchmail 'fetchmail''s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)'
            cand mpop 'mpop''s UIDLS file, or a directory of them (POP3 UIDLs)'
            cand getmail 'getmail''s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;import;help;fetchmail'= {
        }
        &'mailpull;import;help;mpop'= {
        }
        &'mailpull;import;help;getmail'= {
        }
        &'mailpull;import;help;help'= {
        }
        &'mailpull;receipts'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --all 'List every request, answered ones included'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand review 'Ask about each waiting request on the terminal'
            cand send 'Send the receipt for request ID now'
            cand decline 'Never send a receipt for request ID'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;receipts;review'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;receipts;send'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --again 'Send even though an earlier attempt may have sent it'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;receipts;decline'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;receipts;help'= {
            cand review 'Ask about each waiting request on the terminal'
            cand send 'Send the receipt for request ID now'
            cand decline 'Never send a receipt for request ID'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;receipts;help;review'= {
        }
        &'mailpull;receipts;help;send'= {
        }
        &'mailpull;receipts;help;decline'= {
        }
        &'mailpull;receipts;help;help'= {
        }
        &'mailpull;probe'= {
            cand --tls-ca-file 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)'
            cand --tls-fingerprint 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name'
            cand --timeout 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]'
            cand --password-command 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)'
            cand --auth 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]'
            cand --folder 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --login 'Log in (once), and for IMAP list the folders, the hierarchy separator and the folders a fetch would open (--folder, the account''s folders)'
            cand --json 'Print the report as JSON (on stdout)'
            cand --insecure-no-tls 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;ledger'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)'
            cand rename 'Move a mailbox''s records to the server''s new name, so that nothing is downloaded twice'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;ledger;list'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;ledger;rename'= {
            cand --lock-wait 'How long to wait for another mailpull that is fetching either mailbox (seconds, or 30s, 2m)'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -n 'Show what would move, and change nothing'
            cand --dry-run 'Show what would move, and change nothing'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;ledger;help'= {
            cand list 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)'
            cand rename 'Move a mailbox''s records to the server''s new name, so that nothing is downloaded twice'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;ledger;help;list'= {
        }
        &'mailpull;ledger;help;rename'= {
        }
        &'mailpull;ledger;help;help'= {
        }
        &'mailpull;auth'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand login 'Sign in on the terminal and store the account''s OAuth 2 tokens'
            cand status 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token'
            cand logout 'Forget the account''s stored tokens (on this computer; the provider''s grant stays until you revoke it there)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;auth;login'= {
            cand --timeout 'Give up after SECS seconds without an answer'
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --device 'Use the device authorization flow: enter a code on any device''s browser [default where the provider has one]'
            cand --loopback 'Use the browser flow with a redirect to 127.0.0.1 on this computer (PKCE)'
            cand --browser 'Open the sign-in page with xdg-open (browser flow)'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;auth;status'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand --json 'Print JSON on stdout'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;auth;logout'= {
            cand --config 'The configuration file [default: ~/.config/mailpull/config.toml]'
            cand --ledger 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]'
            cand -v 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand --verbose 'Log protocol steps to stderr (passwords redacted); twice for more detail'
            cand -q 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand --quiet 'Print nothing but errors (no progress bar, no summary, no count from check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mailpull;auth;help'= {
            cand login 'Sign in on the terminal and store the account''s OAuth 2 tokens'
            cand status 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token'
            cand logout 'Forget the account''s stored tokens (on this computer; the provider''s grant stays until you revoke it there)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;auth;help;login'= {
        }
        &'mailpull;auth;help;status'= {
        }
        &'mailpull;auth;help;logout'= {
        }
        &'mailpull;auth;help;help'= {
        }
        &'mailpull;help'= {
            cand fetch 'Download new messages and deliver them'
            cand check 'Count new messages without downloading them; the counts go to stdout (exit 0: new mail, 1: none)'
            cand list 'Show what is on the server (date, sender, subject, size, new or fetched) from the headers alone, without downloading or changing anything'
            cand watch 'Keep fetching until stopped: IMAP IDLE, else polling every --every'
            cand accounts 'List the configured accounts and where their mail goes'
            cand config 'Check the configuration file, or write a starter one (config init)'
            cand import 'Record the messages fetchmail, mpop or getmail already fetched, so that mailpull never downloads them again'
            cand receipts 'List read-receipt requests waiting for an answer, or answer them'
            cand probe 'Show what a server says about itself: greeting, capabilities, TLS, certificate'
            cand ledger 'Show the mailboxes the ledger knows, or move one''s records to a renamed server'
            cand auth 'Sign in to OAuth 2 accounts (Gmail, Microsoft 365) and manage their stored tokens'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailpull;help;fetch'= {
        }
        &'mailpull;help;check'= {
        }
        &'mailpull;help;list'= {
        }
        &'mailpull;help;watch'= {
        }
        &'mailpull;help;accounts'= {
        }
        &'mailpull;help;config'= {
            cand check 'Validate the configuration file and print what it resolves to (never passwords)'
            cand init 'Write a commented starter configuration file (asks on a terminal)'
        }
        &'mailpull;help;config;check'= {
        }
        &'mailpull;help;config;init'= {
        }
        &'mailpull;help;import'= {
            cand fetchmail 'fetchmail''s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)'
            cand mpop 'mpop''s UIDLS file, or a directory of them (POP3 UIDLs)'
            cand getmail 'getmail''s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)'
        }
        &'mailpull;help;import;fetchmail'= {
        }
        &'mailpull;help;import;mpop'= {
        }
        &'mailpull;help;import;getmail'= {
        }
        &'mailpull;help;receipts'= {
            cand review 'Ask about each waiting request on the terminal'
            cand send 'Send the receipt for request ID now'
            cand decline 'Never send a receipt for request ID'
        }
        &'mailpull;help;receipts;review'= {
        }
        &'mailpull;help;receipts;send'= {
        }
        &'mailpull;help;receipts;decline'= {
        }
        &'mailpull;help;probe'= {
        }
        &'mailpull;help;ledger'= {
            cand list 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)'
            cand rename 'Move a mailbox''s records to the server''s new name, so that nothing is downloaded twice'
        }
        &'mailpull;help;ledger;list'= {
        }
        &'mailpull;help;ledger;rename'= {
        }
        &'mailpull;help;auth'= {
            cand login 'Sign in on the terminal and store the account''s OAuth 2 tokens'
            cand status 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token'
            cand logout 'Forget the account''s stored tokens (on this computer; the provider''s grant stays until you revoke it there)'
        }
        &'mailpull;help;auth;login'= {
        }
        &'mailpull;help;auth;status'= {
        }
        &'mailpull;help;auth;logout'= {
        }
        &'mailpull;help;help'= {
        }
    ]
    $completions[$command]
}
