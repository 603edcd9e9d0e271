//! A POP3 session over any `Read + Write` stream.
pub struct Session;
