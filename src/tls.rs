//! Connections: TCP with timeouts, implicit TLS or an upgrade after STLS, certificate checks.
