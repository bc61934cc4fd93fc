//! Gzip copies of cached answers: made once per entry, off the request
//! path, and sent to clients that accept gzip (as the original deployment's
//! nginx did in front of Flask with `gzip on`).
//!
//! Compression is flate2 over its default backend (miniz_oxide, already in
//! the dependency tree through actix-http and png) at level 1, the fastest:
//! the bench's commit page shrinks from 1.55 MB to 226 KB and its commits
//! list from 593 KB to 45 KB (bench/README.md "Gzip-encoded heavy reads");
//! the copy is made once per entry and then served from memory.
use std::io::Write;

use actix_web::web::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use qaboard_db::DataVersion;

use super::ResponseCache;

/// Bodies shorter than this (bytes) get no gzip copy: below about one
/// packet the saving is not worth a header and a copy (nginx's
/// `gzip_min_length` serves the same purpose).
pub const GZIP_MIN_BYTES: usize = 1024;

/// The compression level (flate2's 0–9 scale): 1, the fastest.
const LEVEL: u32 = 1;

/// The work of making the gzip copy of one entry, handed out by the cache
/// ([`super::Hit::compress`]) at most once per entry. Run it off the request
/// path; dropping it unrun leaves that entry without a copy.
pub struct GzipTicket {
    key: String,
    version: DataVersion,
    body: Bytes,
}

impl std::fmt::Debug for GzipTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipTicket")
            .field("key", &self.key)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl GzipTicket {
    pub(super) fn new(key: String, version: DataVersion, body: Bytes) -> Self {
        GzipTicket { key, version, body }
    }

    /// Compresses the body and attaches the
    /// copy to its entry in `cache` if that entry is still the current one
    /// (same key and version); otherwise the copy is dropped.
    pub fn compress_into(self, cache: &ResponseCache) {
        let gz = gzip(&self.body).map(Bytes::from);
        cache.attach_gzip(&self.key, &self.version, gz);
    }
}

/// `body` gzip-compressed (RFC 1952) at [`LEVEL`]; `None` only if the
/// encoder fails, which writing to memory does not.
pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(body.len() / 8 + 64),
        Compression::new(LEVEL),
    );
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Distinct versions: one read from a real database, qualified by `n`.
    fn version(n: i64) -> DataVersion {
        static BASE: std::sync::OnceLock<DataVersion> = std::sync::OnceLock::new();
        let base = BASE.get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = dir.path().join("v.db");
            let pool =
                qaboard_db::DbPool::connect(&qaboard_db::DbConfig::new(url.to_string_lossy()))
                    .expect("SQLite pool");
            let mut conn = pool.get().expect("a connection");
            pool.data_version(&mut conn).expect("data version")
        });
        base.clone().at(Some(&n.to_string()))
    }

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_hit_asking_for_gzip_gets_one_ticket_then_the_copy() {
        let cache = ResponseCache::new(1 << 20);
        let body: Bytes = br#"{"a": 1}, "#.repeat(500).into();
        cache.put("k".into(), version(1), None, body.clone());
        // Without gzip: no ticket.
        let h = cache.lookup("k", &version(1), None, false).unwrap();
        assert!(h.gzip.is_none() && h.compress.is_none());
        let h = cache.lookup("k", &version(1), None, true).unwrap();
        assert!(h.gzip.is_none());
        let ticket = h.compress.expect("a ticket");
        // While pending: identity, no second ticket.
        let h = cache.lookup("k", &version(1), None, true).unwrap();
        assert!(h.gzip.is_none() && h.compress.is_none());
        let before = cache.stats().bytes;
        ticket.compress_into(&cache);
        let h = cache.lookup("k", &version(1), None, true).unwrap();
        let gz = h.gzip.expect("the copy");
        assert_eq!(gunzip(&gz), body);
        let s = cache.stats();
        assert_eq!(s.bytes, before + gz.len());
        assert_eq!(s.gzip_entries, 1);
        // Replaced by a new version: the bytes go with it.
        cache.put("k".into(), version(2), None, "[]".into());
        assert_eq!(cache.stats().bytes, 2);
        assert_eq!(cache.stats().gzip_entries, 0);
    }

    #[test]
    fn a_copy_of_a_replaced_entry_or_a_small_body_is_not_kept() {
        let cache = ResponseCache::new(1 << 20);
        let body: Bytes = b"x".repeat(4096).into();
        cache.put("k".into(), version(1), None, body.clone());
        let ticket = cache
            .lookup("k", &version(1), None, true)
            .unwrap()
            .compress
            .unwrap();
        cache.put("k".into(), version(2), None, body.clone());
        ticket.compress_into(&cache);
        let h = cache.lookup("k", &version(2), None, true).unwrap();
        assert!(h.gzip.is_none());
        assert_eq!(cache.stats().bytes, body.len());

        cache.put("small".into(), version(1), None, "[1, 2]".into());
        let h = cache.lookup("small", &version(1), None, true).unwrap();
        assert!(h.gzip.is_none() && h.compress.is_none());
    }

    #[test]
    fn the_copy_counts_in_the_bound() {
        // Room for two bodies; the copy of the second evicts the first.
        let body: Bytes = b"y".repeat(40_000).into();
        let cache = ResponseCache::new(body.len() * 2 + 10);
        cache.put("a".into(), version(1), None, body.clone());
        cache.put("b".into(), version(1), None, body.clone());
        let ticket = cache
            .lookup("b", &version(1), None, true)
            .unwrap()
            .compress
            .unwrap();
        ticket.compress_into(&cache);
        let s = cache.stats();
        assert_eq!(s.entries, 1, "{s:?}");
        assert!(
            s.bytes > body.len() && s.bytes <= body.len() * 2 + 10,
            "{s:?}"
        );
        assert!(cache
            .lookup("b", &version(1), None, true)
            .unwrap()
            .gzip
            .is_some());
    }
}
