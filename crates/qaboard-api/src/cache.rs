//! Rendered answers of the heavy reads (a commit with its outputs, the
//! commits list), reused while what they show has not changed.
//!
//! Each entry keeps the [`DataVersion`] of what it shows, computed in the
//! snapshot it was rendered from (`qaboard_db::version::commit_version`,
//! `window_version`: change stamps kept by database triggers); it is served
//! only while the database gives the same version. Any write to what an
//! answer shows, through this server or not, makes the next read recompute
//! it; writes to other projects or commits leave it in use. Entries are
//! never stale, only unused.
//!
//! Computing that version aggregates the stamps of every row the answer
//! shows (~1 ms for a page of 2,000 outputs, more for a commits list), so
//! each entry also remembers the database-wide version
//! (`DbPool::data_version`: PostgreSQL's transaction snapshot, SQLite's
//! `data_version`) at which it was last found valid: while nothing at all
//! was committed since, [`ResponseCache::get_unchanged`] serves it without
//! computing the per-read version. Any commit anywhere changes the
//! database-wide version, so this shortcut is exact too; after one, the
//! per-read version decides, and a hit records the new database-wide one.
//! Memory is bounded by `max_bytes`; the least recently used entries go first.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use actix_web::web::Bytes;
use qaboard_db::DataVersion;

/// The cache of rendered answers (see the module docs).
pub struct ResponseCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// What the cache holds and how it served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing, or an answer of an older version.
    pub misses: u64,
}

struct Entry {
    version: DataVersion,
    /// The database-wide version at which `version` was last found current.
    seen_at: Option<DataVersion>,
    body: Bytes,
    last_used: u64,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("ResponseCache")
            .field("max_bytes", &self.max_bytes)
            .field("entries", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl ResponseCache {
    /// A cache holding at most `max_bytes` of answers; 0 disables it.
    pub fn new(max_bytes: usize) -> Self {
        ResponseCache {
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whether answers are cached at all.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer stored under `key` if it was last found current at the
    /// database-wide version `global` (nothing committed since): no per-read
    /// version needed. `None` is not a miss, only "ask [`get`](Self::get)".
    pub fn get_unchanged(&self, key: &str, global: &DataVersion) -> Option<Bytes> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let e = inner.entries.get_mut(key)?;
        if e.seen_at.as_ref() != Some(global) {
            return None;
        }
        e.last_used = clock;
        let body = e.body.clone();
        inner.hits += 1;
        Some(body)
    }

    /// The answer stored under `key` if it was computed at `version`; a hit
    /// records `global`, the database-wide version read BEFORE `version`
    /// (so the entry is never marked current at a state it does not show).
    /// An entry of another version is dropped: versions only move forward.
    pub fn get(
        &self,
        key: &str,
        version: &DataVersion,
        global: Option<DataVersion>,
    ) -> Option<Bytes> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        match inner.entries.get_mut(key) {
            Some(e) if e.version == *version => {
                e.seen_at = global;
                e.last_used = clock;
                let body = e.body.clone();
                inner.hits += 1;
                Some(body)
            }
            Some(_) => {
                if let Some(e) = inner.entries.remove(key) {
                    inner.bytes -= e.body.len();
                }
                inner.misses += 1;
                None
            }
            None => {
                inner.misses += 1;
                None
            }
        }
    }

    /// Stores an answer computed at `version` (and at the database-wide
    /// version `global`, read before or in the same snapshot), evicting the
    /// least recently used entries to stay within the size bound. Answers
    /// larger than half the bound are not kept.
    pub fn put(&self, key: String, version: DataVersion, global: Option<DataVersion>, body: Bytes) {
        if body.len() > self.max_bytes / 2 {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        if let Some(old) = inner.entries.remove(&key) {
            inner.bytes -= old.body.len();
        }
        while inner.bytes + body.len() > self.max_bytes {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.body.len();
            }
        }
        inner.bytes += body.len();
        inner.entries.insert(
            key,
            Entry {
                version,
                seen_at: global,
                body,
                last_used: clock,
            },
        );
    }

    /// What the cache holds and how it served so far.
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.entries.len(),
            bytes: inner.bytes,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}
