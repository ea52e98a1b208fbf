//! Files in the state directory: private permissions, atomic writes, no symlinks followed.
//!
//! The tool runs as root under wazuh-execd, so a symlink planted in its state directory must never
//! redirect a write; and a crash mid-write must never leave half a file behind.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Directory mode: owner all, group read and enter (the wazuh group), others nothing.
pub(crate) const DIR_MODE: u32 = 0o750;
/// File mode: owner read-write, group read.
pub(crate) const FILE_MODE: u32 = 0o640;

/// Creates `dir` and its missing parents with mode 0750. Fails when `dir` is a symlink or a file.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symlink; refusing to follow it",
            dir.display()
        ))),
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::other(format!(
            "{} exists and is not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir),
        Err(e) => Err(e),
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same directory, fsync, rename, then
/// fsync of the directory. The temporary file is created with `O_EXCL`, which never follows a link.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_atomic_as(path, data, FILE_MODE, None)
}

/// [`write_atomic`] with `mode` and, when given, the owner `(uid, gid)` set on the new file's
/// own descriptor before it takes the name: nothing is ever changed through a path that someone
/// could have turned into a symlink in between.
pub(crate) fn write_atomic_as(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    refuse_symlink(path)?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        unique_suffix()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        f.write_all(data)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Number of files and total bytes below `dir` (0, 0 when it does not exist).
pub(crate) fn dir_size(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => {
                    files += 1;
                    bytes += m.len();
                }
                Err(_) => {}
            }
        }
    }
    (files, bytes)
}

/// Fails when `path` exists and is a symlink.
pub(crate) fn refuse_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symlink; refusing to follow it",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// A number that differs between calls in one process and, most likely, between processes.
pub(crate) fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    (u64::from(t) << 16) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Sets `mode` and, when given, the owner on the file at `path` through its own descriptor,
/// opened without following a symlink: a link someone swapped in is refused, never followed.
pub(crate) fn set_mode_owner(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// [`set_mode_owner`] for a directory: opened with `O_DIRECTORY | O_NOFOLLOW`, so a symlink
/// swapped in for it is refused.
pub(crate) fn set_dir_mode_owner(
    path: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
        .open(path)?;
    d.set_permissions(fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&d, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// Gives every directory and file under `root` (not `root` itself) the group `gid`, and every
/// directory the set-group-id bit, so that what is made in them later has that group too. Never
/// through a symlink; each change is made on the entry's own descriptor. Returns how many
/// entries were changed.
pub(crate) fn share_with_group(root: &Path, gid: u32) -> io::Result<usize> {
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let flags = if kind.is_dir() {
                libc::O_NOFOLLOW | libc::O_DIRECTORY
            } else if kind.is_file() {
                libc::O_NOFOLLOW
            } else {
                continue;
            };
            let f = OpenOptions::new()
                .read(true)
                .custom_flags(flags | libc::O_NONBLOCK)
                .open(&path)?;
            let meta = f.metadata()?;
            let mode = meta.permissions().mode() & 0o7777;
            let want = if kind.is_dir() { mode | 0o2000 } else { mode };
            if std::os::unix::fs::MetadataExt::gid(&meta) != gid || want != mode {
                std::os::unix::fs::fchown(&f, None, Some(gid))?;
                // chown clears set-id bits: set the mode after it.
                f.set_permissions(fs::Permissions::from_mode(want))?;
                changed += 1;
            }
            if kind.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(changed)
}

/// The uid of the `wazuh` user, if it exists.
pub(crate) fn wazuh_uid() -> Option<u32> {
    let name = std::ffi::CString::new("wazuh").ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we only read pw_uid.
    let user = unsafe { libc::getpwnam(name.as_ptr()) };
    if user.is_null() {
        None
    } else {
        // SAFETY: checked non-null above.
        Some(unsafe { (*user).pw_uid })
    }
}

/// The gid of the `wazuh` group, if it exists.
pub(crate) fn wazuh_gid() -> Option<u32> {
    let name = std::ffi::CString::new("wazuh").ok()?;
    // SAFETY: getgrnam returns a pointer into static storage or null; we only read gr_gid.
    let group = unsafe { libc::getgrnam(name.as_ptr()) };
    if group.is_null() {
        None
    } else {
        // SAFETY: checked non-null above.
        Some(unsafe { (*group).gr_gid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state dir shared with a group: every entry gets the group, directories the setgid
    /// bit (so what is made in them later inherits it), modes otherwise kept; links untouched.
    #[test]
    fn a_shared_tree_takes_the_group_and_passes_it_on() {
        use std::os::unix::fs::MetadataExt as _;
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        create_private_dir(&state.join("reports")).unwrap();
        write_atomic(&state.join("reports/r.md"), b"report").unwrap();
        write_atomic_as(&state.join("secret"), b"k", 0o600, None).unwrap();
        let outside = root.path().join("outside");
        fs::write(&outside, b"x").unwrap();
        std::os::unix::fs::symlink(&outside, state.join("reports/link")).unwrap();
        // A group this process may give when it is root; its own group otherwise (a no-op
        // chown that still sets the modes).
        let gid = if unsafe { libc::geteuid() } == 0 {
            65534
        } else {
            fs::metadata(&state).unwrap().gid()
        };
        set_dir_mode_owner(&state, 0o2750, None).unwrap();
        let changed = share_with_group(&state, gid).unwrap();
        assert!(changed >= 1, "{changed}");
        let meta = |p: &Path| fs::symlink_metadata(p).unwrap();
        assert_eq!(meta(&state).mode() & 0o7777, 0o2750);
        assert_eq!(meta(&state.join("reports")).mode() & 0o7777, 0o2750);
        assert_eq!(meta(&state.join("reports")).gid(), gid);
        assert_eq!(meta(&state.join("reports/r.md")).gid(), gid);
        assert_eq!(meta(&state.join("reports/r.md")).mode() & 0o7777, 0o640);
        assert_eq!(
            meta(&state.join("secret")).mode() & 0o7777,
            0o600,
            "kept private"
        );
        assert_ne!(meta(&outside).gid(), gid, "a link is never followed");
        // What is made later inherits the group.
        create_private_dir(&state.join("reports/new")).unwrap();
        write_atomic(&state.join("reports/new/x.md"), b"x").unwrap();
        assert_eq!(meta(&state.join("reports/new/x.md")).gid(), gid);
        assert_eq!(
            share_with_group(&state, gid).unwrap(),
            0,
            "nothing left to change"
        );
        // A symlink in place of the directory itself is refused.
        let link = root.path().join("state-link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        assert!(set_dir_mode_owner(&link, 0o2750, None).is_err());
    }

    #[test]
    fn atomic_write_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir(&sub).unwrap();
        assert_eq!(
            fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
            DIR_MODE
        );
        let file = sub.join("x.json");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            FILE_MODE
        );
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 1, "no temp files left");
    }

    #[test]
    fn symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_private_dir(&link).is_err());
        let file_link = dir.path().join("f");
        std::os::unix::fs::symlink(target.join("victim"), &file_link).unwrap();
        assert!(write_atomic(&file_link, b"x").is_err());
        assert!(!target.join("victim").exists());
    }
}
