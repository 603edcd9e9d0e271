//! POP3 wire format: status lines, response codes, multi-line replies (RFC 1939 §3, RFC 2449 §8).
