//! Confinement of every operation, on real temporary folders.
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use qaboard_storage::{ManifestLimits, Storage, StorageError};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    storage: Storage,
}

/// `<tmp>/root` (the storage root) and `<tmp>/outside/secret.txt`.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret.txt"), "secret").unwrap();
    fs::write(root.join("a/b/file.txt"), "hello").unwrap();
    let storage = Storage::new(vec![root.clone()]).unwrap();
    Fixture {
        _tmp: tmp,
        root,
        outside,
        storage,
    }
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, StorageError>) -> bool {
    matches!(r, Err(StorageError::Forbidden { .. }))
}

#[test]
fn opens_and_reads_inside() {
    let f = fixture();
    let o = f.storage.open_file(f.root.join("a/b/file.txt")).unwrap();
    assert_eq!(o.metadata.len(), 5);
    assert_eq!(
        f.storage
            .read_small(f.root.join("a//b/./file.txt"), 100)
            .unwrap(),
        b"hello"
    );
    assert!(matches!(
        f.storage.read_small(f.root.join("a/b/file.txt"), 4),
        Err(StorageError::TooLarge { .. })
    ));
    assert!(f.storage.open(f.root.join("a")).unwrap().metadata.is_dir());
    assert!(f.storage.open(&f.root).unwrap().metadata.is_dir());
    assert!(matches!(
        f.storage.open_file(f.root.join("a")),
        Err(StorageError::WrongKind { .. })
    ));
    assert!(f
        .storage
        .open(f.root.join("a/missing"))
        .unwrap_err()
        .is_not_found());
    // A component that is a file: not found, not an I/O error.
    assert!(f
        .storage
        .open(f.root.join("a/b/file.txt/x"))
        .unwrap_err()
        .is_not_found());
}

#[test]
fn traversal_attempts_are_refused() {
    let f = fixture();
    let st = &f.storage;
    let dotdot = format!("{}/a/../../outside/secret.txt", f.root.display());
    assert!(forbidden(st.open(&dotdot)));
    assert!(forbidden(st.read_small(&dotdot, 100)));
    assert!(matches!(
        st.open(f.outside.join("secret.txt")),
        Err(StorageError::OutsideRoots(_))
    ));
    assert!(matches!(
        st.open("/etc/passwd"),
        Err(StorageError::OutsideRoots(_))
    ));
    // Encoded `..` is NOT decoded here (decoding is the HTTP edge's job):
    // it is a plain (missing) file name.
    let enc = format!("{}/a/%2e%2e/%2e%2e/outside/secret.txt", f.root.display());
    assert!(st.open(&enc).unwrap_err().is_not_found());
    // NUL byte.
    let mut nul = f.root.join("a").into_os_string().into_vec();
    nul.extend_from_slice(b"/b/file.txt\0.png");
    assert!(forbidden(st.open(OsStr::from_bytes(&nul))));
    // A sibling whose name extends the root's.
    let sibling = PathBuf::from(format!("{}x/file", f.root.display()));
    assert!(matches!(
        st.open(sibling),
        Err(StorageError::OutsideRoots(_))
    ));
}

use std::os::unix::ffi::OsStringExt;

#[test]
fn symlinks_out_are_refused_and_inside_followed() {
    let f = fixture();
    let st = &f.storage;
    symlink(f.outside.join("secret.txt"), f.root.join("abs-file")).unwrap();
    symlink(&f.outside, f.root.join("abs-dir")).unwrap();
    symlink("../outside", f.root.join("rel-dir")).unwrap();
    symlink("../../outside/secret.txt", f.root.join("a/rel-file")).unwrap();
    symlink("b/file.txt", f.root.join("a/inside")).unwrap();
    symlink("b", f.root.join("a/inside-dir")).unwrap();
    for p in [
        "abs-file",
        "abs-dir/secret.txt",
        "rel-dir/secret.txt",
        "a/rel-file",
    ] {
        let r = st.open(f.root.join(p));
        assert!(forbidden(r), "{p} must be refused");
        assert!(forbidden(st.read_small(f.root.join(p), 100)), "{p}");
    }
    assert!(forbidden(st.read_dir(f.root.join("abs-dir"))));
    assert!(forbidden(st.read_dir(f.root.join("rel-dir"))));
    assert_eq!(
        st.read_small(f.root.join("a/inside"), 100).unwrap(),
        b"hello"
    );
    assert_eq!(
        st.read_small(f.root.join("a/inside-dir/file.txt"), 100)
            .unwrap(),
        b"hello"
    );
    // Listings leave out links that lead out.
    let names: Vec<_> = st
        .read_dir(&f.root)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a"]);
    let a = st.read_dir(f.root.join("a")).unwrap();
    let names: Vec<_> = a.iter().map(|e| e.name.to_str().unwrap()).collect();
    assert_eq!(names, ["b", "inside", "inside-dir"]);
    assert!(a[0].is_dir && !a[1].is_dir && a[1].size == 5 && a[1].modified.is_some());
}

/// A folder swapped for a link to the outside, again and again, while
/// another thread opens files through it: no open may ever return the
/// outside file.
#[test]
fn folder_swapped_for_a_link_never_leaks() {
    let f = fixture();
    let inside = while_swapped(&f, |path| f.storage.read_small(path, 100));
    eprintln!("{inside} reads saw the folder, the others were refused");
}

/// Reads `<root>/swap/secret.txt` ("inside") 20,000 times with `read`
/// while another thread swaps the folder `swap` for a link to the outside
/// and back, again and again: no read may ever return the outside file.
/// Returns how many reads saw the folder (the others must be refused).
fn while_swapped(
    f: &Fixture,
    mut read: impl FnMut(&Path) -> Result<Vec<u8>, StorageError>,
) -> usize {
    let dir = f.root.join("swap");
    let parked = f.root.join("parked");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("secret.txt"), "inside").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (dir, parked, outside, stop) =
            (dir.clone(), parked.clone(), f.outside.clone(), stop.clone());
        std::thread::spawn(move || {
            let link = dir.with_extension("link");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fs::rename(&dir, &parked).unwrap();
                symlink(&outside, &link).unwrap();
                fs::rename(&link, &dir).unwrap(); // `swap` is now a link out
                fs::remove_file(&dir).unwrap();
                fs::rename(&parked, &dir).unwrap();
            }
        })
    };
    let mut inside = 0;
    for _ in 0..20_000 {
        match read(&dir.join("secret.txt")) {
            Ok(b) => {
                assert_eq!(b, b"inside", "leaked an outside file");
                inside += 1;
            }
            Err(StorageError::Forbidden { .. }) | Err(StorageError::NotFound(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    inside
}

/// `open_reusing_root` (one client connection's reads) refuses and allows
/// exactly what `open` does, also with the root handle reused and while a
/// folder is swapped for a link out; a root itself is not a file to read.
#[test]
fn reusing_a_root_keeps_the_confinement() {
    let f = fixture();
    let st = &f.storage;
    let mut roots = qaboard_storage::RootCache::default();
    symlink(f.outside.join("secret.txt"), f.root.join("abs-file")).unwrap();
    symlink("../outside", f.root.join("rel-dir")).unwrap();
    symlink("b/file.txt", f.root.join("a/inside")).unwrap();
    let mut read = |path: &Path| {
        let mut o = st.open_reusing_root(path, &mut roots)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut o.file, &mut bytes).unwrap();
        Ok(bytes)
    };
    for _ in 0..3 {
        for p in [
            "abs-file",
            "rel-dir/secret.txt",
            "a/../../outside/secret.txt",
        ] {
            assert!(forbidden(read(&f.root.join(p))), "{p}");
        }
        for p in ["a/b/file.txt", "a/inside"] {
            assert_eq!(read(&f.root.join(p)).unwrap(), b"hello", "{p}");
        }
    }
    assert!(matches!(
        read(&f.outside.join("secret.txt")),
        Err(StorageError::OutsideRoots(_))
    ));
    assert!(matches!(read(&f.root), Err(StorageError::WrongKind { .. })));
    while_swapped(&f, read);
}

#[test]
fn writes_create_parents_with_fixed_modes() {
    let f = fixture();
    let st = &f.storage;
    st.write(f.root.join("new/deep/m.json"), b"{}").unwrap();
    let md = fs::metadata(f.root.join("new/deep/m.json")).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o644);
    for d in ["new", "new/deep"] {
        let m = fs::metadata(f.root.join(d)).unwrap().permissions().mode();
        assert_eq!(m & 0o777, 0o755, "{d}");
    }
    st.write(f.root.join("new/deep/m.json"), b"{\"a\":1}")
        .unwrap();
    assert_eq!(
        fs::read(f.root.join("new/deep/m.json")).unwrap(),
        b"{\"a\":1}"
    );
    // No temporary file left behind.
    assert_eq!(fs::read_dir(f.root.join("new/deep")).unwrap().count(), 1);
    st.create_dir_all(f.root.join("x/y/z")).unwrap();
    assert!(f.root.join("x/y/z").is_dir());
    // Confined: through a link out, outside, `..`, the root itself.
    symlink(&f.outside, f.root.join("out")).unwrap();
    assert!(forbidden(st.write(f.root.join("out/evil.txt"), b"x")));
    assert!(forbidden(st.create_dir_all(f.root.join("out/evil"))));
    assert!(!f.outside.join("evil.txt").exists() && !f.outside.join("evil").exists());
    assert!(matches!(
        st.write(f.outside.join("evil.txt"), b"x"),
        Err(StorageError::OutsideRoots(_))
    ));
    assert!(forbidden(st.write(&f.root, b"x")));
    // A file where a folder is needed.
    assert!(matches!(
        st.write(f.root.join("a/b/file.txt/x"), b"x"),
        Err(StorageError::WrongKind { .. })
    ));
}

#[test]
fn deletes_never_follow_links() {
    let f = fixture();
    let st = &f.storage;
    let tree = f.root.join("tree");
    fs::create_dir_all(tree.join("sub/subsub")).unwrap();
    fs::write(tree.join("sub/subsub/f"), "x").unwrap();
    fs::write(tree.join("f"), "x").unwrap();
    symlink(&f.outside, tree.join("sub/link-out")).unwrap();
    symlink(f.outside.join("secret.txt"), tree.join("file-link")).unwrap();
    symlink(f.root.join("a"), tree.join("link-in")).unwrap();
    let n = st.remove_tree(&tree).unwrap();
    assert_eq!(n, 8);
    assert!(!tree.exists());
    assert_eq!(fs::read(f.outside.join("secret.txt")).unwrap(), b"secret");
    assert!(f.root.join("a/b/file.txt").exists());

    // A link given directly: the link goes, the target stays.
    symlink(&f.outside, f.root.join("l")).unwrap();
    assert_eq!(st.remove_tree(f.root.join("l")).unwrap(), 1);
    assert!(fs::symlink_metadata(f.root.join("l")).is_err());
    assert!(f.outside.join("secret.txt").exists());
    symlink(f.outside.join("secret.txt"), f.root.join("l2")).unwrap();
    st.remove_file(f.root.join("l2")).unwrap();
    assert!(f.outside.join("secret.txt").exists());

    // Through a link out: refused, nothing deleted.
    symlink(&f.outside, f.root.join("l3")).unwrap();
    assert!(forbidden(st.remove_file(f.root.join("l3/secret.txt"))));
    assert!(forbidden(st.remove_tree(f.root.join("l3/secret.txt"))));
    assert!(f.outside.join("secret.txt").exists());

    // Never a root, never outside.
    assert!(forbidden(st.remove_tree(&f.root)));
    assert!(forbidden(st.remove_file(&f.root)));
    assert!(matches!(
        st.remove_tree(&f.outside),
        Err(StorageError::OutsideRoots(_))
    ));
    assert!(matches!(
        st.remove_file(f.root.join("a")),
        Err(StorageError::WrongKind { .. })
    ));
    assert!(st
        .remove_tree(f.root.join("gone"))
        .unwrap_err()
        .is_not_found());
}

#[test]
fn pruning_stops_at_the_first_non_empty_folder_and_at_the_root() {
    let f = fixture();
    let st = &f.storage;
    fs::create_dir_all(f.root.join("p/q/r/s")).unwrap();
    fs::write(f.root.join("p/keep"), "x").unwrap();
    fs::write(f.root.join("p/q/r/s/f"), "x").unwrap();
    st.remove_file(f.root.join("p/q/r/s/f")).unwrap();
    assert_eq!(st.prune_empty_parents(f.root.join("p/q/r/s/f")).unwrap(), 3);
    assert!(!f.root.join("p/q").exists());
    assert!(f.root.join("p/keep").exists());

    // Everything empty up to the root: the root stays.
    let st2 = Storage::new(vec![f.root.join("x")]).unwrap();
    fs::create_dir_all(f.root.join("x/y/z")).unwrap();
    assert_eq!(st2.prune_empty_parents(f.root.join("x/y/z/f")).unwrap(), 2);
    assert!(f.root.join("x").is_dir());

    // A link in the chain is not removed nor followed.
    fs::create_dir_all(f.outside.join("empty")).unwrap();
    symlink(f.outside.join("empty"), f.root.join("lnk")).unwrap();
    assert_eq!(st.prune_empty_parents(f.root.join("lnk/f")).unwrap(), 0);
    assert!(f.outside.join("empty").is_dir());
}

#[test]
fn manifest_hashes_files_and_skips_links() {
    let f = fixture();
    let st = &f.storage;
    let out = f.root.join("out");
    fs::create_dir_all(out.join("sub")).unwrap();
    fs::write(out.join("a.txt"), "hello").unwrap();
    fs::write(out.join("sub/b.bin"), vec![0u8; 10]).unwrap();
    fs::write(out.join("log.txt"), "log").unwrap();
    fs::write(out.join("big"), vec![1u8; 100]).unwrap();
    symlink(f.outside.join("secret.txt"), out.join("link")).unwrap();
    symlink(&f.outside, out.join("dirlink")).unwrap();
    let limits = ManifestLimits {
        md5_max_file_bytes: 50,
        ..ManifestLimits::default()
    };
    let m = st
        .manifest(&out, &limits, |_, name| name == "log.txt")
        .unwrap();
    let keys: Vec<_> = m.keys().map(String::as_str).collect();
    assert_eq!(keys, ["a.txt", "big", "sub/b.bin"]);
    assert_eq!(m["a.txt"].st_size, 5);
    assert_eq!(
        m["a.txt"].md5.as_deref(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(m["big"].md5, None);
    assert_eq!(m["sub/b.bin"].st_size, 10);
    symlink(&f.outside, f.root.join("o")).unwrap();
    assert!(forbidden(
        st.manifest(f.root.join("o"), &limits, |_, _| false)
    ));
}

#[test]
fn several_roots_and_missing_roots() {
    let f = fixture();
    let other = f.outside.clone();
    let st = Storage::new(vec![
        f.root.clone(),
        other.clone(),
        "/nonexistent-qa".into(),
    ])
    .unwrap();
    assert_eq!(
        st.read_small(other.join("secret.txt"), 100).unwrap(),
        b"secret"
    );
    assert!(st
        .open(Path::new("/nonexistent-qa/x"))
        .unwrap_err()
        .is_not_found());
}
