# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mailpull_global_optspecs
    string join \n v/verbose q/quiet config= ledger= h/help V/version
end

function __fish_mailpull_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mailpull_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mailpull_using_subcommand
    set -l cmd (__fish_mailpull_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mailpull -n "__fish_mailpull_needs_command" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_needs_command" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_needs_command" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_needs_command" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailpull -n "__fish_mailpull_needs_command" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "fetch" -d 'Download new messages and deliver them'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "check" -d 'Count new messages without downloading them; the counts go to stdout (exit 0: new mail, 1: none)'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "list" -d 'Show what is on the server (date, sender, subject, size, new or fetched) from the headers alone, without downloading or changing anything'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "watch" -d 'Keep fetching until stopped: IMAP IDLE, else polling every --every'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "accounts" -d 'List the configured accounts and where their mail goes'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "config" -d 'Check the configuration file, or write a starter one (config init)'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "import" -d 'Record the messages fetchmail, mpop or getmail already fetched, so that mailpull never downloads them again'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "receipts" -d 'List read-receipt requests waiting for an answer, or answer them'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "probe" -d 'Show what a server says about itself: greeting, capabilities, TLS, certificate'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "ledger" -d 'Show the mailboxes the ledger knows, or move one\'s records to a renamed server'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "auth" -d 'Sign in to OAuth 2 accounts (Gmail, Microsoft 365) and manage their stored tokens'
complete -c mailpull -n "__fish_mailpull_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l tls-ca-file -d 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l tls-fingerprint -d 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l timeout -d 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l password-command -d 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l auth -d 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]' -r -f -a "auto\t'SASL PLAIN if advertised, else USER/PASS (POP3) or LOGIN (IMAP)'
user\t'POP3 USER and PASS'
login\t'IMAP LOGIN'
plain\t'SASL PLAIN (POP3: RFC 5034; IMAP: AUTHENTICATE PLAIN)'
apop\t'POP3 APOP (needs a timestamp in the server greeting)'
xoauth2\t'SASL XOAUTH2 (POP3 AUTH, IMAP AUTHENTICATE) with an OAuth 2 access token'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628; POP3 and IMAP) with an OAuth 2 access token'"
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l folder -d 'IMAP folder to fetch, or a LIST pattern such as \'Lists/*\'; repeat for several [default: INBOX]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l maildir -d 'Deliver into this Maildir (cur/, new/ and tmp/ are created if missing)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l mbox -d 'Append to this mbox file (mboxrd, locked like mutt and procmail do)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l mda -d 'Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local user); exit 0 means delivered' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l skip-larger-than -d 'Leave messages larger than SIZE on the server without downloading them (e.g. 10MB)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l delete-larger-than -d 'Delete messages larger than SIZE from the server WITHOUT downloading them' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l mda-timeout -d 'How long an MDA may take per message before it counts as failed (seconds, or 30s, 5m) [default: 300]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l max-messages -d 'Download at most N new messages per account per fetch' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l filter -d 'Run CMD (with `sh -c`) on the headers of each new message before downloading it: exit 0 fetches it, 1 deletes it without downloading (delete mode only), 2 leaves it on the server; anything else is an error that leaves it alone. \'\' turns a configured filter off' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l receipts -d 'Read receipts in this run: ask (on a terminal; otherwise they wait), queue (ask nothing; they wait for `mailpull receipts review`) or never (as receipts = "never": requests are not even recorded) [default: the configuration\'s receipts, else ask]' -r -f -a "ask\t'Ask on a terminal; without one the requests wait'
queue\t'Ask nothing; the requests wait for `mailpull receipts review`'
never\t'Send none and record none, as receipts = "never" in the configuration'"
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -s j -l jobs -d 'Fetch up to N accounts in parallel [default: up to 4, at most the number of accounts]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l lock-wait -d 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l insecure-no-tls -d 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l stdout -d 'Write every new message to stdout as an mboxrd stream'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -s k -l keep -d 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l no-keep -d 'Delete messages from the server once delivered [default for POP3]'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l mark-seen -d 'IMAP: set \\Seen on the messages fetched (otherwise their flags are left alone)'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l json -d 'Print a JSON summary on stdout (and nothing else on stdout)'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -l pick -d 'Choose on the terminal which new messages to download; the others stay on the server and stay new. Accounts are then fetched one at a time'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailpull -n "__fish_mailpull_using_subcommand fetch" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l tls-ca-file -d 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l tls-fingerprint -d 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l timeout -d 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l password-command -d 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l auth -d 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]' -r -f -a "auto\t'SASL PLAIN if advertised, else USER/PASS (POP3) or LOGIN (IMAP)'
user\t'POP3 USER and PASS'
login\t'IMAP LOGIN'
plain\t'SASL PLAIN (POP3: RFC 5034; IMAP: AUTHENTICATE PLAIN)'
apop\t'POP3 APOP (needs a timestamp in the server greeting)'
xoauth2\t'SASL XOAUTH2 (POP3 AUTH, IMAP AUTHENTICATE) with an OAuth 2 access token'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628; POP3 and IMAP) with an OAuth 2 access token'"
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l folder -d 'IMAP folder to fetch, or a LIST pattern such as \'Lists/*\'; repeat for several [default: INBOX]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -s j -l jobs -d 'Check up to N accounts in parallel [default: up to 4]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l lock-wait -d 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l insecure-no-tls -d 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -l json -d 'Print a JSON summary on stdout'
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailpull -n "__fish_mailpull_using_subcommand check" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l tls-ca-file -d 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l tls-fingerprint -d 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l timeout -d 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l password-command -d 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l auth -d 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]' -r -f -a "auto\t'SASL PLAIN if advertised, else USER/PASS (POP3) or LOGIN (IMAP)'
user\t'POP3 USER and PASS'
login\t'IMAP LOGIN'
plain\t'SASL PLAIN (POP3: RFC 5034; IMAP: AUTHENTICATE PLAIN)'
apop\t'POP3 APOP (needs a timestamp in the server greeting)'
xoauth2\t'SASL XOAUTH2 (POP3 AUTH, IMAP AUTHENTICATE) with an OAuth 2 access token'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628; POP3 and IMAP) with an OAuth 2 access token'"
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l folder -d 'IMAP folder to fetch, or a LIST pattern such as \'Lists/*\'; repeat for several [default: INBOX]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l lock-wait -d 'How long to wait for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l insecure-no-tls -d 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l new -d 'Show only messages not fetched yet'
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -l json -d 'Print a JSON array of messages on stdout instead of the table'
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailpull -n "__fish_mailpull_using_subcommand list" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l every -d 'How often to fetch accounts that cannot IDLE (POP3, IMAP without IDLE), e.g. 30s, 5m, 1h; IMAP folders that IDLE are also fetched this often, as a safety net [default: poll_interval from the configuration, else 5m]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l tls-ca-file -d 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l tls-fingerprint -d 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l timeout -d 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l password-command -d 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l auth -d 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]' -r -f -a "auto\t'SASL PLAIN if advertised, else USER/PASS (POP3) or LOGIN (IMAP)'
user\t'POP3 USER and PASS'
login\t'IMAP LOGIN'
plain\t'SASL PLAIN (POP3: RFC 5034; IMAP: AUTHENTICATE PLAIN)'
apop\t'POP3 APOP (needs a timestamp in the server greeting)'
xoauth2\t'SASL XOAUTH2 (POP3 AUTH, IMAP AUTHENTICATE) with an OAuth 2 access token'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628; POP3 and IMAP) with an OAuth 2 access token'"
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l folder -d 'IMAP folder to fetch, or a LIST pattern such as \'Lists/*\'; repeat for several [default: INBOX]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l maildir -d 'Deliver into this Maildir (cur/, new/ and tmp/ are created if missing)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l mbox -d 'Append to this mbox file (mboxrd, locked like mutt and procmail do)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l mda -d 'Pipe each message to CMD (run with `sh -c`; %F is the envelope sender, %u the local user); exit 0 means delivered' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l skip-larger-than -d 'Leave messages larger than SIZE on the server without downloading them (e.g. 10MB)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l delete-larger-than -d 'Delete messages larger than SIZE from the server WITHOUT downloading them' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l mda-timeout -d 'How long an MDA may take per message before it counts as failed (seconds, or 30s, 5m) [default: 300]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l max-messages -d 'Download at most N new messages per account per fetch' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l filter -d 'Run CMD (with `sh -c`) on the headers of each new message before downloading it: exit 0 fetches it, 1 deletes it without downloading (delete mode only), 2 leaves it on the server; anything else is an error that leaves it alone. \'\' turns a configured filter off' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l receipts -d 'Read receipts in this run: ask (on a terminal; otherwise they wait), queue (ask nothing; they wait for `mailpull receipts review`) or never (as receipts = "never": requests are not even recorded) [default: the configuration\'s receipts, else ask]' -r -f -a "ask\t'Ask on a terminal; without one the requests wait'
queue\t'Ask nothing; the requests wait for `mailpull receipts review`'
never\t'Send none and record none, as receipts = "never" in the configuration'"
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l lock-wait -d 'How long to wait at start for another mailpull that is fetching the same mailbox (seconds, or 30s, 2m)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l insecure-no-tls -d 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l stdout -d 'Write every new message to stdout as an mboxrd stream'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -s k -l keep -d 'Leave messages on the server; the ledger makes sure they are downloaded only once [default for IMAP]'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l no-keep -d 'Delete messages from the server once delivered [default for POP3]'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -l mark-seen -d 'IMAP: set \\Seen on the messages fetched (otherwise their flags are left alone)'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailpull -n "__fish_mailpull_using_subcommand watch" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand accounts" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand accounts" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand accounts" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand accounts" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand accounts" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand accounts" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -f -a "check" -d 'Validate the configuration file and print what it resolves to (never passwords)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -f -a "init" -d 'Write a commented starter configuration file (asks on a terminal)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and not __fish_seen_subcommand_from check init help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from check" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l url -d 'The server: pop3s://USER@HOST[:PORT], pop3://, imaps:// or imap://' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l user -d 'The user name, if the URL has none' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l name -d 'The account\'s name in the file [default: from the server\'s name]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l password-command -d 'The password is the first line this command prints' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l oauth2 -d 'Log in with OAuth 2 tokens from this provider (google, microsoft, or custom with --token-url), instead of a password' -r -f -a "google\t''
microsoft\t''
custom\t''"
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l client-id -d 'The OAuth 2 client id (of the application registered with the provider)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l client-secret -d 'The OAuth 2 client secret (Google\'s desktop clients have one), written into the file' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l client-secret-command -d 'The OAuth 2 client secret is the first line this command prints' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l token-url -d 'The token endpoint of a custom OAuth 2 provider' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l auth-url -d 'The authorization endpoint of a custom OAuth 2 provider (loopback sign-in)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l device-url -d 'The device authorization endpoint of a custom OAuth 2 provider (device sign-in)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l scopes -d 'The scopes to ask a custom OAuth 2 provider for, separated by spaces' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l maildir -d 'Deliver into this Maildir' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l mbox -d 'Deliver into this mbox file' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l mda -d 'Deliver through this command (an MDA; %u is the local user)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l tls-ca-file -d 'Trust the certificates in this PEM file (written into the file as tls_ca_file)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l tls-fingerprint -d 'Pin the server certificate (written into the file as tls_fingerprint)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l password-env -d 'The password comes from MAILPULL_PASSWORD at each run'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l password-prompt -d 'mailpull asks for the password on the terminal at each run'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l no-probe -d 'Do not try the server before writing'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l example -d 'Write the commented example, asking nothing'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -l force -d 'Replace an existing file'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate the configuration file and print what it resolves to (never passwords)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "init" -d 'Write a commented starter configuration file (asks on a terminal)'
complete -c mailpull -n "__fish_mailpull_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -f -a "fetchmail" -d 'fetchmail\'s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -f -a "mpop" -d 'mpop\'s UIDLS file, or a directory of them (POP3 UIDLs)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -f -a "getmail" -d 'getmail\'s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and not __fish_seen_subcommand_from fetchmail mpop getmail help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -s a -l account -d 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -l as -d 'The tool\'s records of PEER-URL\'s mailbox are records of URL\'s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -s n -l dry-run -d 'Show what would be imported without writing to the ledger'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -l json -d 'Print a JSON report on stdout (and nothing else on stdout)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from fetchmail" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -s a -l account -d 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -l as -d 'The tool\'s records of PEER-URL\'s mailbox are records of URL\'s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -s n -l dry-run -d 'Show what would be imported without writing to the ledger'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -l json -d 'Print a JSON report on stdout (and nothing else on stdout)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from mpop" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -s a -l account -d 'Import only into these accounts (names from the configuration, or server URLs); repeat for several [default: every configured account]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -l as -d 'The tool\'s records of PEER-URL\'s mailbox are records of URL\'s: the same server under another name (e.g. pop3://alice@localhost=pop3s://alice@127.0.0.1; ports are ignored); repeat for several' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -s n -l dry-run -d 'Show what would be imported without writing to the ledger'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -l json -d 'Print a JSON report on stdout (and nothing else on stdout)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from getmail" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "fetchmail" -d 'fetchmail\'s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "mpop" -d 'mpop\'s UIDLS file, or a directory of them (POP3 UIDLs)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "getmail" -d 'getmail\'s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)'
complete -c mailpull -n "__fish_mailpull_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -l all -d 'List every request, answered ones included'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -f -a "review" -d 'Ask about each waiting request on the terminal'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -f -a "send" -d 'Send the receipt for request ID now'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -f -a "decline" -d 'Never send a receipt for request ID'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and not __fish_seen_subcommand_from review send decline help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from review" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from review" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from review" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from review" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from review" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from review" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from send" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from send" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from send" -l again -d 'Send even though an earlier attempt may have sent it'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from send" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from send" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from send" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from send" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from decline" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from decline" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from decline" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from decline" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from decline" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from decline" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from help" -f -a "review" -d 'Ask about each waiting request on the terminal'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from help" -f -a "send" -d 'Send the receipt for request ID now'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from help" -f -a "decline" -d 'Never send a receipt for request ID'
complete -c mailpull -n "__fish_mailpull_using_subcommand receipts; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l tls-ca-file -d 'Trust the certificates in this PEM file (a private CA or a self-signed server certificate)' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l tls-fingerprint -d 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, colons allowed, or the line openssl prints: "sha256 Fingerprint=AB:CD:..."). A pinned certificate is trusted without checking its chain or name' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l timeout -d 'How long connecting, the TLS handshake and each whole server reply may take (seconds, or 30s, 2m); a long reply (a message body) may take longer while it keeps arriving at 1 KiB/s [default: 60]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l password-command -d 'Run CMD with `sh -c` and use the first line of its output as the password (or, with --auth xoauth2/oauthbearer, the OAuth 2 access token)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l auth -d 'Authentication method [default: auto: AUTH PLAIN when offered, else USER/PASS]' -r -f -a "auto\t'SASL PLAIN if advertised, else USER/PASS (POP3) or LOGIN (IMAP)'
user\t'POP3 USER and PASS'
login\t'IMAP LOGIN'
plain\t'SASL PLAIN (POP3: RFC 5034; IMAP: AUTHENTICATE PLAIN)'
apop\t'POP3 APOP (needs a timestamp in the server greeting)'
xoauth2\t'SASL XOAUTH2 (POP3 AUTH, IMAP AUTHENTICATE) with an OAuth 2 access token'
oauthbearer\t'SASL OAUTHBEARER (RFC 7628; POP3 and IMAP) with an OAuth 2 access token'"
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l folder -d 'IMAP folder to fetch, or a LIST pattern such as \'Lists/*\'; repeat for several [default: INBOX]' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l login -d 'Log in (once), and for IMAP list the folders, the hierarchy separator and the folders a fetch would open (--folder, the account\'s folders)'
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l json -d 'Print the report as JSON (on stdout)'
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -l insecure-no-tls -d 'Talk plaintext on pop3:// or imap:// without STLS/STARTTLS. Sends the password in clear: for loopback testing'
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailpull -n "__fish_mailpull_using_subcommand probe" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -f -a "list" -d 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -f -a "rename" -d 'Move a mailbox\'s records to the server\'s new name, so that nothing is downloaded twice'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and not __fish_seen_subcommand_from list rename help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from list" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from list" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -l lock-wait -d 'How long to wait for another mailpull that is fetching either mailbox (seconds, or 30s, 2m)' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -s n -l dry-run -d 'Show what would move, and change nothing'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from rename" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "rename" -d 'Move a mailbox\'s records to the server\'s new name, so that nothing is downloaded twice'
complete -c mailpull -n "__fish_mailpull_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -f -a "login" -d 'Sign in on the terminal and store the account\'s OAuth 2 tokens'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -f -a "status" -d 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -f -a "logout" -d 'Forget the account\'s stored tokens (on this computer; the provider\'s grant stays until you revoke it there)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and not __fish_seen_subcommand_from login status logout help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -l timeout -d 'Give up after SECS seconds without an answer' -r
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -l device -d 'Use the device authorization flow: enter a code on any device\'s browser [default where the provider has one]'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -l loopback -d 'Use the browser flow with a redirect to 127.0.0.1 on this computer (PKCE)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -l browser -d 'Open the sign-in page with xdg-open (browser flow)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from login" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from status" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from status" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from status" -l json -d 'Print JSON on stdout'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from logout" -l config -d 'The configuration file [default: ~/.config/mailpull/config.toml]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from logout" -l ledger -d 'The ledger database [default: ~/.local/share/mailpull/ledger.sqlite]' -r -F
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from logout" -s v -l verbose -d 'Log protocol steps to stderr (passwords redacted); twice for more detail'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from logout" -s q -l quiet -d 'Print nothing but errors (no progress bar, no summary, no count from check)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from logout" -s h -l help -d 'Print help'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from logout" -s V -l version -d 'Print version'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "login" -d 'Sign in on the terminal and store the account\'s OAuth 2 tokens'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "logout" -d 'Forget the account\'s stored tokens (on this computer; the provider\'s grant stays until you revoke it there)'
complete -c mailpull -n "__fish_mailpull_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "fetch" -d 'Download new messages and deliver them'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "check" -d 'Count new messages without downloading them; the counts go to stdout (exit 0: new mail, 1: none)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "list" -d 'Show what is on the server (date, sender, subject, size, new or fetched) from the headers alone, without downloading or changing anything'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "watch" -d 'Keep fetching until stopped: IMAP IDLE, else polling every --every'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "accounts" -d 'List the configured accounts and where their mail goes'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "config" -d 'Check the configuration file, or write a starter one (config init)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "import" -d 'Record the messages fetchmail, mpop or getmail already fetched, so that mailpull never downloads them again'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "receipts" -d 'List read-receipt requests waiting for an answer, or answer them'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "probe" -d 'Show what a server says about itself: greeting, capabilities, TLS, certificate'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "ledger" -d 'Show the mailboxes the ledger knows, or move one\'s records to a renamed server'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "auth" -d 'Sign in to OAuth 2 accounts (Gmail, Microsoft 365) and manage their stored tokens'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and not __fish_seen_subcommand_from fetch check list watch accounts config import receipts probe ledger auth help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate the configuration file and print what it resolves to (never passwords)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "init" -d 'Write a commented starter configuration file (asks on a terminal)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "fetchmail" -d 'fetchmail\'s idfile (POP3 UIDLs; fetchmail keeps no IMAP state)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "mpop" -d 'mpop\'s UIDLS file, or a directory of them (POP3 UIDLs)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "getmail" -d 'getmail\'s oldmail-* files (POP3 UIDLs, IMAP UIDVALIDITY/UID per folder)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from receipts" -f -a "review" -d 'Ask about each waiting request on the terminal'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from receipts" -f -a "send" -d 'Send the receipt for request ID now'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from receipts" -f -a "decline" -d 'Never send a receipt for request ID'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "list" -d 'List the mailboxes the ledger holds records of: URL, folder, messages, last delivery (tab-separated, one folder per line)'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "rename" -d 'Move a mailbox\'s records to the server\'s new name, so that nothing is downloaded twice'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from auth" -f -a "login" -d 'Sign in on the terminal and store the account\'s OAuth 2 tokens'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from auth" -f -a "status" -d 'Show which accounts have stored tokens and when the access token expires (never the tokens). Exit 77 if one of them has no refresh token'
complete -c mailpull -n "__fish_mailpull_using_subcommand help; and __fish_seen_subcommand_from auth" -f -a "logout" -d 'Forget the account\'s stored tokens (on this computer; the provider\'s grant stays until you revoke it there)'
