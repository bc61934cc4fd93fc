//! `Storage::hard_link` on real temporary folders: a link inside the roots,
//! a copy across file systems, refusals outside.
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};

use qaboard_storage::{LinkOutcome, Storage, StorageError};

#[test]
fn links_inside_the_roots_and_replaces_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("out")).unwrap();
    fs::write(root.join("out/a.txt"), "a").unwrap();
    fs::write(root.join("out/b.txt"), "b").unwrap();
    let st = Storage::new(vec![root.clone()]).unwrap();
    let dst = root.join("share/x/a.txt");
    assert_eq!(
        st.hard_link(root.join("out/a.txt"), &dst).unwrap(),
        LinkOutcome::Linked
    );
    let (src_md, dst_md) = (
        fs::metadata(root.join("out/a.txt")).unwrap(),
        fs::metadata(&dst).unwrap(),
    );
    assert_eq!(src_md.ino(), dst_md.ino());
    assert_eq!(src_md.nlink(), 2);
    // Linking the same file again changes nothing (rename(2) of two links
    // to one file is a no-op: the temporary name must still go).
    st.hard_link(root.join("out/a.txt"), &dst).unwrap();
    assert_eq!(fs::read_dir(root.join("share/x")).unwrap().count(), 1);
    assert_eq!(fs::metadata(&dst).unwrap().nlink(), 2);
    // An existing destination is replaced.
    st.hard_link(root.join("out/b.txt"), &dst).unwrap();
    assert_eq!(fs::read_to_string(&dst).unwrap(), "b");
    assert_eq!(fs::metadata(root.join("out/a.txt")).unwrap().nlink(), 1);
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(root.join("share/x")).unwrap().count(), 1);
}

#[test]
fn refuses_outside_links_and_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(root.join("out")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "s").unwrap();
    fs::write(root.join("out/a.txt"), "a").unwrap();
    symlink(outside.join("secret"), root.join("out/escape")).unwrap();
    symlink(&outside, root.join("out/escape_dir")).unwrap();
    let st = Storage::new(vec![root.clone()]).unwrap();
    assert!(matches!(
        st.hard_link(outside.join("secret"), root.join("x")),
        Err(StorageError::OutsideRoots(_))
    ));
    assert!(matches!(
        st.hard_link(root.join("out/a.txt"), outside.join("x")),
        Err(StorageError::OutsideRoots(_))
    ));
    assert!(matches!(
        st.hard_link(root.join("out/../out/a.txt"), root.join("x")),
        Err(StorageError::Forbidden { .. })
    ));
    // A link as source is not followed, even less out of the root.
    assert!(matches!(
        st.hard_link(root.join("out/escape"), root.join("x")),
        Err(StorageError::WrongKind { .. })
    ));
    // A destination folder that is a link leading out is refused.
    assert!(st
        .hard_link(root.join("out/a.txt"), root.join("out/escape_dir/x"))
        .is_err());
    assert!(!outside.join("x").exists());
    assert!(matches!(
        st.hard_link(root.join("out"), root.join("y")),
        Err(StorageError::WrongKind { .. })
    ));
    assert!(st.hard_link(root.join("out/a.txt"), &root).is_err());
}

/// Across file systems (`/dev/shm` is a tmpfs on Linux) the file is copied.
#[test]
fn copies_across_file_systems() {
    let shm = std::path::Path::new("/dev/shm");
    let tmp = tempfile::tempdir().unwrap();
    let Ok(other) = tempfile::tempdir_in(shm) else {
        eprintln!("no /dev/shm: skipped");
        return;
    };
    if fs::metadata(tmp.path()).unwrap().dev() == fs::metadata(other.path()).unwrap().dev() {
        eprintln!("/dev/shm on the same file system: skipped");
        return;
    }
    fs::write(tmp.path().join("a.txt"), "content").unwrap();
    let st = Storage::new(vec![tmp.path().into(), other.path().into()]).unwrap();
    let dst = other.path().join("share/a.txt");
    assert_eq!(
        st.hard_link(tmp.path().join("a.txt"), &dst).unwrap(),
        LinkOutcome::Copied
    );
    assert_eq!(fs::read_to_string(&dst).unwrap(), "content");
}
