
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mailpull' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mailpull'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mailpull' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('fetch', 'fetch', [CompletionResultType]::ParameterValue, 'Download new messages and deliver them')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Count new messages without downloading them; the counts go to stdout (exit 0: new mail, 1: none)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Show what is on the server (date, sender, subject, size, new or fetched) from the headers alone, without downloading or changing anything')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Keep fetching until stopped: IMAP IDLE, else polling every --every')
            [CompletionResult]::new('accounts', 'accounts', [CompletionResultType]::ParameterValue, 'List the configured accounts and where their mail goes')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Check the configuration file, or write a starter one (config init)')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Record the messages fetchmail, mpop or getmail already fetched, so that mailpull never downloads them again')
            [CompletionResult]::new('receipts', 'receipts', [CompletionResultType]::ParameterValue, 'List read-receipt requests waiting for an answer, or answer them')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Show what a server says about itself: greeting, capabilities, TLS, certificate')
            [CompletionResult]::new('ledger', 'ledger', [CompletionResultType]::ParameterValue, 'Show the mailboxes the ledger knows, or move one''s records to a renamed server')
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'Sign in to OAuth 2 accounts (Gmail, Microsoft 365) and manage their stored tokens')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;fetch' {
            [CompletionResult]::new('--tls-ca-file', '--tls-ca-file', [CompletionResultType]::ParameterName, 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]')
            [CompletionResult]::new('--password-command', '--password-command', [CompletionResultType]::ParameterName, 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]')
            [CompletionResult]::new('--folder', '--folder', [CompletionResultType]::ParameterName, 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]')
            [CompletionResult]::new('--maildir', '--maildir', [CompletionResultType]::ParameterName, 'Deliver into this Maildir (cur/, new/ and tmp/ are created if missing)')
            [CompletionResult]::new('--mbox', '--mbox', [CompletionResultType]::ParameterName, 'Append to this mbox file (mboxrd, locked like mutt and procmail do)')
            [CompletionResult]::new('--mda', '--mda', [CompletionResultType]::ParameterName, 'Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local user); exit 0 means delivered')
            [CompletionResult]::new('--skip-larger-than', '--skip-larger-than', [CompletionResultType]::ParameterName, 'Leave messages larger than SIZE on the server without downloading them (e.g. 10MB)')
            [CompletionResult]::new('--delete-larger-than', '--delete-larger-than', [CompletionResultType]::ParameterName, 'Delete messages larger than SIZE from the server WITHOUT downloading them')
            [CompletionResult]::new('--mda-timeout', '--mda-timeout', [CompletionResultType]::ParameterName, 'How long an MDA may take per message before it counts as failed (seconds, or 30s, 5m) [default: 300]')
            [CompletionResult]::new('--max-messages', '--max-messages', [CompletionResultType]::ParameterName, 'Download at most N new messages per account per fetch')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'Run CMD (with `sh -c`) on the headers of each new message before downloading it: exit 0 fetches it, 1 deletes it without downloading (delete mode only), 2 leaves it on the server; anything else is an error that leaves it alone. '''' turns a configured filter off')
            [CompletionResult]::new('--receipts', '--receipts', [CompletionResultType]::ParameterName, 'Read receipts in this run: ask (on a terminal; otherwise they wait), queue (ask nothing; they wait for `mailpull receipts review`) or never (as receipts = "never": requests are not even recorded) [default: the configuration''s receipts, else ask]')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Fetch up to N accounts in parallel [default: up to 4, at most the number of accounts]')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Fetch up to N accounts in parallel [default: up to 4, at most the number of accounts]')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--insecure-no-tls', '--insecure-no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing')
            [CompletionResult]::new('--stdout', '--stdout', [CompletionResultType]::ParameterName, 'Write every new message to stdout as an mboxrd stream')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]')
            [CompletionResult]::new('--no-keep', '--no-keep', [CompletionResultType]::ParameterName, 'Delete messages from the server once delivered [default for POP3]')
            [CompletionResult]::new('--mark-seen', '--mark-seen', [CompletionResultType]::ParameterName, 'IMAP: set \Seen on the messages fetched (otherwise their flags are left alone)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON summary on stdout (and nothing else on stdout)')
            [CompletionResult]::new('--pick', '--pick', [CompletionResultType]::ParameterName, 'Choose on the terminal which new messages to download; the others stay on the server and stay new. Accounts are then fetched one at a time')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;check' {
            [CompletionResult]::new('--tls-ca-file', '--tls-ca-file', [CompletionResultType]::ParameterName, 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]')
            [CompletionResult]::new('--password-command', '--password-command', [CompletionResultType]::ParameterName, 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]')
            [CompletionResult]::new('--folder', '--folder', [CompletionResultType]::ParameterName, 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Check up to N accounts in parallel [default: up to 4]')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Check up to N accounts in parallel [default: up to 4]')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--insecure-no-tls', '--insecure-no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON summary on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;list' {
            [CompletionResult]::new('--tls-ca-file', '--tls-ca-file', [CompletionResultType]::ParameterName, 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]')
            [CompletionResult]::new('--password-command', '--password-command', [CompletionResultType]::ParameterName, 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]')
            [CompletionResult]::new('--folder', '--folder', [CompletionResultType]::ParameterName, 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--insecure-no-tls', '--insecure-no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing')
            [CompletionResult]::new('--new', '--new', [CompletionResultType]::ParameterName, 'Show only messages not fetched yet')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON array of messages on stdout instead of the table')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;watch' {
            [CompletionResult]::new('--every', '--every', [CompletionResultType]::ParameterName, 'How often to fetch accounts that cannot IDLE (POP3, IMAP without IDLE), e.g. 30s, 5m, 1h; IMAP folders that IDLE are also fetched this often, as a safety net [default: poll_interval from the configuration, else 5m]')
            [CompletionResult]::new('--tls-ca-file', '--tls-ca-file', [CompletionResultType]::ParameterName, 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]')
            [CompletionResult]::new('--password-command', '--password-command', [CompletionResultType]::ParameterName, 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]')
            [CompletionResult]::new('--folder', '--folder', [CompletionResultType]::ParameterName, 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]')
            [CompletionResult]::new('--maildir', '--maildir', [CompletionResultType]::ParameterName, 'Deliver into this Maildir (cur/, new/ and tmp/ are created if missing)')
            [CompletionResult]::new('--mbox', '--mbox', [CompletionResultType]::ParameterName, 'Append to this mbox file (mboxrd, locked like mutt and procmail do)')
            [CompletionResult]::new('--mda', '--mda', [CompletionResultType]::ParameterName, 'Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local user); exit 0 means delivered')
            [CompletionResult]::new('--skip-larger-than', '--skip-larger-than', [CompletionResultType]::ParameterName, 'Leave messages larger than SIZE on the server without downloading them (e.g. 10MB)')
            [CompletionResult]::new('--delete-larger-than', '--delete-larger-than', [CompletionResultType]::ParameterName, 'Delete messages larger than SIZE from the server WITHOUT downloading them')
            [CompletionResult]::new('--mda-timeout', '--mda-timeout', [CompletionResultType]::ParameterName, 'How long an MDA may take per message before it counts as failed (seconds, or 30s, 5m) [default: 300]')
            [CompletionResult]::new('--max-messages', '--max-messages', [CompletionResultType]::ParameterName, 'Download at most N new messages per account per fetch')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'Run CMD (with `sh -c`) on the headers of each new message before downloading it: exit 0 fetches it, 1 deletes it without downloading (delete mode only), 2 leaves it on the server; anything else is an error that leaves it alone. '''' turns a configured filter off')
            [CompletionResult]::new('--receipts', '--receipts', [CompletionResultType]::ParameterName, 'Read receipts in this run: ask (on a terminal; otherwise they wait), queue (ask nothing; they wait for `mailpull receipts review`) or never (as receipts = "never": requests are not even recorded) [default: the configuration''s receipts, else ask]')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long to wait at start for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--insecure-no-tls', '--insecure-no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing')
            [CompletionResult]::new('--stdout', '--stdout', [CompletionResultType]::ParameterName, 'Write every new message to stdout as an mboxrd stream')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]')
            [CompletionResult]::new('--no-keep', '--no-keep', [CompletionResultType]::ParameterName, 'Delete messages from the server once delivered [default for POP3]')
            [CompletionResult]::new('--mark-seen', '--mark-seen', [CompletionResultType]::ParameterName, 'IMAP: set \Seen on the messages fetched (otherwise their flags are left alone)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;accounts' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;config' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration file and print what it resolves to (never passwords)')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented starter configuration file (asks on a terminal)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;config;check' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;config;init' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The server: pop3s://USER@HOST[:PORT], pop3://, imaps:// or imap://')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The user name, if the URL has none')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The account''s name in the file [default: from the server''s name]')
            [CompletionResult]::new('--password-command', '--password-command', [CompletionResultType]::ParameterName, 'The password is the first line this command prints')
            [CompletionResult]::new('--oauth2', '--oauth2', [CompletionResultType]::ParameterName, 'Log in with OAuth 2 tokens from this provider (google, microsoft, or custom with --token-url), instead of a password')
            [CompletionResult]::new('--client-id', '--client-id', [CompletionResultType]::ParameterName, 'The OAuth 2 client id (of the application registered with the provider)')
            [CompletionResult]::new('--client-secret', '--client-secret', [CompletionResultType]::ParameterName, 'The OAuth 2 client secret (Google''s desktop clients have one), written into the file')
            [CompletionResult]::new('--client-secret-command', '--client-secret-command', [CompletionResultType]::ParameterName, 'The OAuth 2 client secret is the first line this command prints')
            [CompletionResult]::new('--token-url', '--token-url', [CompletionResultType]::ParameterName, 'The token endpoint of a custom OAuth 2 provider')
            [CompletionResult]::new('--auth-url', '--auth-url', [CompletionResultType]::ParameterName, 'The authorization endpoint of a custom OAuth 2 provider (loopback sign-in)')
            [CompletionResult]::new('--device-url', '--device-url', [CompletionResultType]::ParameterName, 'The device authorization endpoint of a custom OAuth 2 provider (device sign-in)')
            [CompletionResult]::new('--scopes', '--scopes', [CompletionResultType]::ParameterName, 'The scopes to ask a custom OAuth 2 provider for, separated by spaces')
            [CompletionResult]::new('--maildir', '--maildir', [CompletionResultType]::ParameterName, 'Deliver into this Maildir')
            [CompletionResult]::new('--mbox', '--mbox', [CompletionResultType]::ParameterName, 'Deliver into this mbox file')
            [CompletionResult]::new('--mda', '--mda', [CompletionResultType]::ParameterName, 'Deliver through this command (an MDA; %u is the local user)')
            [CompletionResult]::new('--tls-ca-file', '--tls-ca-file', [CompletionResultType]::ParameterName, 'Trust the certificates in this PEM file (written into the file as tls_ca_file)')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Pin the server certificate (written into the file as tls_fingerprint)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--password-env', '--password-env', [CompletionResultType]::ParameterName, 'The password comes from MAILPULL_PASSWORD at each run')
            [CompletionResult]::new('--password-prompt', '--password-prompt', [CompletionResultType]::ParameterName, 'mailpull asks for the password on the terminal at each run')
            [CompletionResult]::new('--no-probe', '--no-probe', [CompletionResultType]::ParameterName, 'Do not try the server before writing')
            [CompletionResult]::new('--example', '--example', [CompletionResultType]::ParameterName, 'Write the commented example, asking nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;config;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration file and print what it resolves to (never passwords)')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented starter configuration file (asks on a terminal)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;config;help;check' {
            break
        }
        'mailpull;config;help;init' {
            break
        }
        'mailpull;config;help;help' {
            break
        }
        'mailpull;import' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('fetchmail', 'fetchmail', [CompletionResultType]::ParameterValue, 'fetchmail''s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)')
            [CompletionResult]::new('mpop', 'mpop', [CompletionResultType]::ParameterValue, 'mpop''s UIDLS file, or a directory of them (POP3 UIDLs)')
            [CompletionResult]::new('getmail', 'getmail', [CompletionResultType]::ParameterValue, 'getmail''s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;import;fetchmail' {
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'The tool''s records of PEER-URL''s mailbox are records of URL''s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Show what would be imported without writing to the ledger')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be imported without writing to the ledger')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON report on stdout (and nothing else on stdout)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;import;mpop' {
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'The tool''s records of PEER-URL''s mailbox are records of URL''s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Show what would be imported without writing to the ledger')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be imported without writing to the ledger')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON report on stdout (and nothing else on stdout)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;import;getmail' {
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'The tool''s records of PEER-URL''s mailbox are records of URL''s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Show what would be imported without writing to the ledger')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be imported without writing to the ledger')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON report on stdout (and nothing else on stdout)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;import;help' {
            [CompletionResult]::new('fetchmail', 'fetchmail', [CompletionResultType]::ParameterValue, 'fetchmail''s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)')
            [CompletionResult]::new('mpop', 'mpop', [CompletionResultType]::ParameterValue, 'mpop''s UIDLS file, or a directory of them (POP3 UIDLs)')
            [CompletionResult]::new('getmail', 'getmail', [CompletionResultType]::ParameterValue, 'getmail''s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;import;help;fetchmail' {
            break
        }
        'mailpull;import;help;mpop' {
            break
        }
        'mailpull;import;help;getmail' {
            break
        }
        'mailpull;import;help;help' {
            break
        }
        'mailpull;receipts' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'List every request, answered ones included')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('review', 'review', [CompletionResultType]::ParameterValue, 'Ask about each waiting request on the terminal')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send the receipt for request ID now')
            [CompletionResult]::new('decline', 'decline', [CompletionResultType]::ParameterValue, 'Never send a receipt for request ID')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;receipts;review' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;receipts;send' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--again', '--again', [CompletionResultType]::ParameterName, 'Send even though an earlier attempt may have sent it')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;receipts;decline' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;receipts;help' {
            [CompletionResult]::new('review', 'review', [CompletionResultType]::ParameterValue, 'Ask about each waiting request on the terminal')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send the receipt for request ID now')
            [CompletionResult]::new('decline', 'decline', [CompletionResultType]::ParameterValue, 'Never send a receipt for request ID')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;receipts;help;review' {
            break
        }
        'mailpull;receipts;help;send' {
            break
        }
        'mailpull;receipts;help;decline' {
            break
        }
        'mailpull;receipts;help;help' {
            break
        }
        'mailpull;probe' {
            [CompletionResult]::new('--tls-ca-file', '--tls-ca-file', [CompletionResultType]::ParameterName, 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]')
            [CompletionResult]::new('--password-command', '--password-command', [CompletionResultType]::ParameterName, 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]')
            [CompletionResult]::new('--folder', '--folder', [CompletionResultType]::ParameterName, 'IMAP folder to fetch, or a LIST pattern such as ''Lists/*''; repeat for several [default: INBOX]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--login', '--login', [CompletionResultType]::ParameterName, 'Log in (once), and for IMAP list the folders, the hierarchy separator and the folders a fetch would open (--folder, the account''s folders)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON (on stdout)')
            [CompletionResult]::new('--insecure-no-tls', '--insecure-no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;ledger' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Move a mailbox''s records to the server''s new name, so that nothing is downloaded twice')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;ledger;list' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;ledger;rename' {
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long to wait for another mailpull that is fetching either mailbox (seconds, or 30s, 2m)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Show what would move, and change nothing')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would move, and change nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;ledger;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Move a mailbox''s records to the server''s new name, so that nothing is downloaded twice')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;ledger;help;list' {
            break
        }
        'mailpull;ledger;help;rename' {
            break
        }
        'mailpull;ledger;help;help' {
            break
        }
        'mailpull;auth' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Sign in on the terminal and store the account''s OAuth 2 tokens')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget the account''s stored tokens (on this computer; the provider''s grant stays until you revoke it there)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;auth;login' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after SECS seconds without an answer')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--device', '--device', [CompletionResultType]::ParameterName, 'Use the device authorization flow: enter a code on any device''s browser [default where the provider has one]')
            [CompletionResult]::new('--loopback', '--loopback', [CompletionResultType]::ParameterName, 'Use the browser flow with a redirect to 127.0.0.1 on this computer (PKCE)')
            [CompletionResult]::new('--browser', '--browser', [CompletionResultType]::ParameterName, 'Open the sign-in page with xdg-open (browser flow)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;auth;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;auth;logout' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The configuration file [default: ~/.config/mailpull/config.toml]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log protocol steps to stderr (passwords redacted); twice for more detail')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors (no progress bar, no summary, no count from check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mailpull;auth;help' {
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Sign in on the terminal and store the account''s OAuth 2 tokens')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget the account''s stored tokens (on this computer; the provider''s grant stays until you revoke it there)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;auth;help;login' {
            break
        }
        'mailpull;auth;help;status' {
            break
        }
        'mailpull;auth;help;logout' {
            break
        }
        'mailpull;auth;help;help' {
            break
        }
        'mailpull;help' {
            [CompletionResult]::new('fetch', 'fetch', [CompletionResultType]::ParameterValue, 'Download new messages and deliver them')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Count new messages without downloading them; the counts go to stdout (exit 0: new mail, 1: none)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Show what is on the server (date, sender, subject, size, new or fetched) from the headers alone, without downloading or changing anything')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Keep fetching until stopped: IMAP IDLE, else polling every --every')
            [CompletionResult]::new('accounts', 'accounts', [CompletionResultType]::ParameterValue, 'List the configured accounts and where their mail goes')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Check the configuration file, or write a starter one (config init)')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Record the messages fetchmail, mpop or getmail already fetched, so that mailpull never downloads them again')
            [CompletionResult]::new('receipts', 'receipts', [CompletionResultType]::ParameterValue, 'List read-receipt requests waiting for an answer, or answer them')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Show what a server says about itself: greeting, capabilities, TLS, certificate')
            [CompletionResult]::new('ledger', 'ledger', [CompletionResultType]::ParameterValue, 'Show the mailboxes the ledger knows, or move one''s records to a renamed server')
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'Sign in to OAuth 2 accounts (Gmail, Microsoft 365) and manage their stored tokens')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailpull;help;fetch' {
            break
        }
        'mailpull;help;check' {
            break
        }
        'mailpull;help;list' {
            break
        }
        'mailpull;help;watch' {
            break
        }
        'mailpull;help;accounts' {
            break
        }
        'mailpull;help;config' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration file and print what it resolves to (never passwords)')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented starter configuration file (asks on a terminal)')
            break
        }
        'mailpull;help;config;check' {
            break
        }
        'mailpull;help;config;init' {
            break
        }
        'mailpull;help;import' {
            [CompletionResult]::new('fetchmail', 'fetchmail', [CompletionResultType]::ParameterValue, 'fetchmail''s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)')
            [CompletionResult]::new('mpop', 'mpop', [CompletionResultType]::ParameterValue, 'mpop''s UIDLS file, or a directory of them (POP3 UIDLs)')
            [CompletionResult]::new('getmail', 'getmail', [CompletionResultType]::ParameterValue, 'getmail''s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)')
            break
        }
        'mailpull;help;import;fetchmail' {
            break
        }
        'mailpull;help;import;mpop' {
            break
        }
        'mailpull;help;import;getmail' {
            break
        }
        'mailpull;help;receipts' {
            [CompletionResult]::new('review', 'review', [CompletionResultType]::ParameterValue, 'Ask about each waiting request on the terminal')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send the receipt for request ID now')
            [CompletionResult]::new('decline', 'decline', [CompletionResultType]::ParameterValue, 'Never send a receipt for request ID')
            break
        }
        'mailpull;help;receipts;review' {
            break
        }
        'mailpull;help;receipts;send' {
            break
        }
        'mailpull;help;receipts;decline' {
            break
        }
        'mailpull;help;probe' {
            break
        }
        'mailpull;help;ledger' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Move a mailbox''s records to the server''s new name, so that nothing is downloaded twice')
            break
        }
        'mailpull;help;ledger;list' {
            break
        }
        'mailpull;help;ledger;rename' {
            break
        }
        'mailpull;help;auth' {
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Sign in on the terminal and store the account''s OAuth 2 tokens')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget the account''s stored tokens (on this computer; the provider''s grant stays until you revoke it there)')
            break
        }
        'mailpull;help;auth;login' {
            break
        }
        'mailpull;help;auth;status' {
            break
        }
        'mailpull;help;auth;logout' {
            break
        }
        'mailpull;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
