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
//! was committed since, [`ResponseCache::lookup_unchanged`] serves it without
//! computing the per-read version. Any commit anywhere changes the
//! database-wide version, so this shortcut is exact too; after one, the
//! per-read version decides, and a hit records the new database-wide one.
//! Memory is bounded by `max_bytes`; the least recently used entries go first.
//!
//! An entry may also hold a gzip copy of its body ([`gzip`]), made off the
//! request path after the entry's first hit by a client that accepts gzip
//! (answers rendered once and never reused are never compressed); it counts
//! in `max_bytes` and goes with its entry.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use actix_web::web::Bytes;
use qaboard_db::DataVersion;

pub mod gzip;

pub use gzip::{GzipTicket, GZIP_MIN_BYTES};

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

impl Inner {
    /// Evicts the least recently used entries (never `keep`'s) until
    /// `needed` more bytes fit in `max_bytes`, or nothing is left to evict.
    fn evict_for(&mut self, needed: usize, max_bytes: usize, keep: Option<&str>) {
        while self.bytes + needed > max_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != keep)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.bytes -= e.bytes();
            }
        }
    }
}

/// What the cache holds and how it served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Answers held.
    pub entries: usize,
    /// Bytes held: bodies plus their gzip copies.
    pub bytes: usize,
    /// Entries that hold a gzip copy of their body.
    pub gzip_entries: usize,
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
    gzip: Gzip,
    last_used: u64,
}

/// The gzip copy of an entry's body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Gzip {
    /// Not asked for yet.
    None,
    /// A [`GzipTicket`] is out: being compressed.
    Pending,
    /// The copy.
    Ready(Bytes),
    /// Not kept: too small to gain, no smaller once compressed, or no room.
    Skip,
}

impl Entry {
    /// Bytes counted in the cache's bound: the body and its gzip copy.
    fn bytes(&self) -> usize {
        self.body.len()
            + match &self.gzip {
                Gzip::Ready(g) => g.len(),
                _ => 0,
            }
    }
}

/// An answer found in the cache.
#[derive(Debug)]
pub struct Hit {
    /// The answer as rendered (identity encoding).
    pub body: Bytes,
    /// Its gzip copy, when asked for and ready.
    pub gzip: Option<Bytes>,
    /// When asked for a gzip copy that does not exist yet and is not being
    /// made: the work of making it, to run off the request path
    /// ([`GzipTicket::compress_into`]). At most one ticket per entry.
    pub compress: Option<GzipTicket>,
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
    /// version needed. `None` is not a miss, only "ask
    /// [`lookup`](Self::lookup)". With the gzip copy when `want_gzip` (the
    /// client accepts gzip; see [`Hit`]).
    pub fn lookup_unchanged(
        &self,
        key: &str,
        global: &DataVersion,
        want_gzip: bool,
    ) -> Option<Hit> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let e = inner.entries.get_mut(key)?;
        if e.seen_at.as_ref() != Some(global) {
            return None;
        }
        e.last_used = clock;
        let hit = hit_of(key, e, want_gzip);
        inner.hits += 1;
        Some(hit)
    }

    /// The answer stored under `key` if it was computed at `version`; a hit
    /// records `global`, the database-wide version read BEFORE `version`
    /// (so the entry is never marked current at a state it does not show).
    /// An entry of another version is dropped: versions only move forward.
    /// With the gzip copy when `want_gzip` (the client accepts gzip; see
    /// [`Hit`]).
    pub fn lookup(
        &self,
        key: &str,
        version: &DataVersion,
        global: Option<DataVersion>,
        want_gzip: bool,
    ) -> Option<Hit> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        match inner.entries.get_mut(key) {
            Some(e) if e.version == *version => {
                e.seen_at = global;
                e.last_used = clock;
                let hit = hit_of(key, e, want_gzip);
                inner.hits += 1;
                Some(hit)
            }
            Some(_) => {
                if let Some(e) = inner.entries.remove(key) {
                    inner.bytes -= e.bytes();
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

    /// Attaches `gzip`, the gzip copy of the body stored under `key` at
    /// `version` ([`GzipTicket`]), if that entry is still there (same key
    /// and version) and the copy is smaller than the body. Makes room by
    /// evicting the least recently used other entries; the copy is dropped
    /// when it cannot fit. `None`: no copy could be made.
    pub(crate) fn attach_gzip(&self, key: &str, version: &DataVersion, gzip: Option<Bytes>) {
        let mut inner = self.lock();
        let Some(e) = inner.entries.get_mut(key) else {
            return;
        };
        if e.version != *version || e.gzip != Gzip::Pending {
            return;
        }
        let gzip = match gzip {
            Some(g) if g.len() < e.body.len() && g.len() <= self.max_bytes / 2 => g,
            _ => {
                e.gzip = Gzip::Skip;
                return;
            }
        };
        inner.evict_for(gzip.len(), self.max_bytes, Some(key));
        let fits = inner.bytes + gzip.len() <= self.max_bytes;
        let len = gzip.len();
        if let Some(e) = inner.entries.get_mut(key) {
            if fits {
                e.gzip = Gzip::Ready(gzip);
            } else {
                e.gzip = Gzip::Skip;
                return;
            }
        }
        inner.bytes += len;
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
            inner.bytes -= old.bytes();
        }
        inner.evict_for(body.len(), self.max_bytes, None);
        inner.bytes += body.len();
        inner.entries.insert(
            key,
            Entry {
                version,
                seen_at: global,
                body,
                gzip: Gzip::None,
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
            gzip_entries: inner
                .entries
                .values()
                .filter(|e| matches!(e.gzip, Gzip::Ready(_)))
                .count(),
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

/// The [`Hit`] of entry `e` under `key`: the gzip copy when `want_gzip` and
/// ready; else, when `want_gzip` and none was asked for yet, a ticket to
/// make it (bodies under [`GZIP_MIN_BYTES`] are never compressed).
fn hit_of(key: &str, e: &mut Entry, want_gzip: bool) -> Hit {
    let mut hit = Hit {
        body: e.body.clone(),
        gzip: None,
        compress: None,
    };
    if !want_gzip {
        return hit;
    }
    match &e.gzip {
        Gzip::Ready(g) => hit.gzip = Some(g.clone()),
        Gzip::None if e.body.len() >= GZIP_MIN_BYTES => {
            e.gzip = Gzip::Pending;
            hit.compress = Some(GzipTicket::new(
                key.to_string(),
                e.version.clone(),
                e.body.clone(),
            ));
        }
        Gzip::None => e.gzip = Gzip::Skip,
        Gzip::Pending | Gzip::Skip => {}
    }
    hit
}
