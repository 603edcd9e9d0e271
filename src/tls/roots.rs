//! The system's trusted roots, loaded as cheaply as is correct. Floor 1 (tls).
//!
//! OpenSSL's default verify paths are a bundle file (read and parsed whole: ~150 certificates,
//! some 30 ms of every run on this machine) and a hashed directory (looked up lazily: only the
//! issuer a server's chain names is read). Where the directory holds the hash links that
//! `c_rehash`/`update-ca-certificates` maintain (Debian, Ubuntu, Arch, Alpine), the directory
//! alone is used; elsewhere (Fedora's /etc/pki/tls/certs has no hash links), and whenever the
//! user names a bundle with `SSL_CERT_FILE`, the default paths are loaded as OpenSSL would.

use std::ffi::CStr;
use std::path::Path;

use openssl::error::ErrorStack;
use openssl::ssl::{SslContextBuilder, SslFiletype};
use openssl::x509::store::X509Lookup;

/// Makes the system roots trusted by `ctx`.
pub(super) fn trust_system_roots(ctx: &mut SslContextBuilder) -> Result<(), ErrorStack> {
    if std::env::var_os("SSL_CERT_FILE").is_none() {
        let dirs = std::env::var("SSL_CERT_DIR")
            .ok()
            .filter(|d| !d.is_empty())
            .or_else(default_cert_dir);
        if let Some(dirs) = dirs {
            if dirs.split(':').map(Path::new).any(has_hash_links) {
                let lookup = ctx.cert_store_mut().add_lookup(X509Lookup::hash_dir())?;
                lookup.add_dir(&dirs, SslFiletype::PEM)?;
                return Ok(());
            }
        }
    }
    ctx.set_default_verify_paths()
}

/// OpenSSL's compiled-in certificate directory (`OPENSSLDIR/certs`).
fn default_cert_dir() -> Option<String> {
    // SAFETY: returns a pointer to a static, NUL-terminated string owned by OpenSSL.
    let p = unsafe { openssl_sys::X509_get_default_cert_dir() };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated and static (see above).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().ok().map(str::to_string)
}

/// Whether `dir` holds at least one `HHHHHHHH.N` hash link, the names OpenSSL's directory
/// lookup opens.
fn has_hash_links(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| is_hash_name(&e.file_name().to_string_lossy()))
}

fn is_hash_name(name: &str) -> bool {
    let Some((hash, n)) = name.split_once('.') else {
        return false;
    };
    hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_names() {
        assert!(is_hash_name("002c0b4f.0"));
        assert!(is_hash_name("ABCDEF01.12"));
        assert!(!is_hash_name("ca-bundle.crt"));
        assert!(!is_hash_name("002c0b4f.pem"));
        assert!(!is_hash_name("002c0b4.0"));
        assert!(!is_hash_name("002c0b4f."));
    }

    #[test]
    fn the_default_dir_is_known() {
        assert!(default_cert_dir().is_some_and(|d| !d.is_empty()));
    }
}
