//! Nonces shared by every process on the machine: one file per API key under a state directory.
//!
//! The file is named by the hex SHA-256 of the key (never the key, never the secret) and holds the
//! last nonce used with the key as decimal text. Under the file's exclusive lock (`File::lock`) a
//! process reads the last nonce, writes the next one and syncs it before the request is sent.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bfx_core::{Nonce, next_nonce};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Longest content read from a nonce file: a nonce has at most 16 digits; more is not a nonce.
const MAX_CONTENT: u64 = 64;

const DAY_US: u64 = 86_400_000_000;
/// How far ahead of the clock a recorded nonce may be: nonces run ahead of the clock only by the
/// requests made faster than one per µs, never by a day.
const MAX_AHEAD_US: u64 = DAY_US;

fn pid_path(nonce_file: &Path) -> PathBuf {
    nonce_file.with_extension("pid")
}

/// A directory of nonce files, one per API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceStore {
    dir: PathBuf,
}

/// One key's nonce file, locked exclusively until dropped (closing the file releases the lock).
#[derive(Debug)]
pub struct NonceFile {
    file: File,
    path: PathBuf,
}

impl NonceStore {
    /// A store in `dir`, created (mode 0700) on first use.
    pub fn new(dir: impl Into<PathBuf>) -> NonceStore {
        NonceStore { dir: dir.into() }
    }

    /// `bfx/nonces` under the user's state directory (`$XDG_STATE_HOME`, `~/.local/state`), or
    /// under the data directory where the platform has no state directory. `None` without a home.
    pub fn default_dir() -> Option<PathBuf> {
        use etcetera::BaseStrategy;
        let strategy = etcetera::choose_base_strategy().ok()?;
        let base = strategy.state_dir().unwrap_or_else(|| strategy.data_dir());
        Some(base.join("bfx").join("nonces"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file for `key`: `<dir>/<hex SHA-256 of key>`.
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// Opens (creating it, mode 0600, if missing) and exclusively locks `key`'s nonce file.
    /// Blocks until no other process or handle holds the lock: call it off the async runtime.
    pub fn lock(&self, key: &str) -> Result<NonceFile, Error> {
        let file = self.open(key)?;
        file.file.lock().map_err(|e| file.error("cannot lock it", e))?;
        Ok(file)
    }

    /// Like [`NonceStore::lock`], without waiting: `Ok(None)` while another process or handle
    /// holds the lock.
    pub fn try_lock(&self, key: &str) -> Result<Option<NonceFile>, Error> {
        let file = self.open(key)?;
        match file.file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(file.error("cannot lock it", e)),
        }
    }

    /// Records this process's id next to `key`'s file (`<file>.pid`), for a process that finds
    /// the lock held. Best effort: the pid only makes an error message more precise.
    pub(crate) fn record_holder(&self, key: &str) {
        let path = pid_path(&self.path_for(key));
        // Never through a link (a write would land on whatever it points to).
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            return;
        }
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let _ = options.open(&path).and_then(|mut f| f.write_all(std::process::id().to_string().as_bytes()));
    }

    /// The pid recorded by the process holding `key`'s lock, if it recorded one.
    pub(crate) fn holder_pid(&self, key: &str) -> Option<u32> {
        let path = pid_path(&self.path_for(key));
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let mut text = String::new();
        File::open(&path).ok()?.take(16).read_to_string(&mut text).ok()?;
        text.trim().parse().ok()
    }

    /// Opens `key`'s nonce file (creating it and the directory when missing), unlocked. Refuses
    /// a directory others may write to, and a file that is a symbolic link or not a regular file:
    /// a link would make bfx write a nonce over whatever it points to.
    fn open(&self, key: &str) -> Result<NonceFile, Error> {
        let path = self.path_for(key);
        let fail = |problem: &str, source: io::Error| Error::NonceFile {
            path: path.clone(),
            problem: problem.to_owned(),
            source,
        };
        let mut dirs = DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        dirs.create(&self.dir).map_err(|e| fail("cannot create its directory", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.dir)
                .map_err(|e| fail("cannot inspect its directory", e))?
                .permissions()
                .mode();
            if mode & 0o022 != 0 {
                return Err(fail(
                    &format!(
                        "its directory {} is writable by other users (mode {:o}), who could replace the file; run chmod 700 on it",
                        self.dir.display(),
                        mode & 0o777
                    ),
                    io::Error::from(io::ErrorKind::PermissionDenied),
                ));
            }
        }
        let not_regular = |what: &str| {
            fail(
                &format!("is {what}, not a regular file; bfx does not follow or replace it: remove it"),
                io::Error::from(io::ErrorKind::InvalidInput),
            )
        };
        let before = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(not_regular("a symbolic link")),
            Ok(meta) if !meta.is_file() => return Err(not_regular("something else")),
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(fail("cannot inspect it", e)),
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(before.is_none()).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| fail("cannot open it", e))?;
        // The path may have been swapped for a link between the check and the open: the file
        // opened must be the one the path names now, and not a link.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let opened = file.metadata().map_err(|e| fail("cannot inspect it", e))?;
            let now = std::fs::symlink_metadata(&path).map_err(|e| fail("cannot inspect it", e))?;
            if now.file_type().is_symlink() || (opened.dev(), opened.ino()) != (now.dev(), now.ino()) {
                return Err(not_regular("a symbolic link or was replaced while opening"));
            }
        }
        Ok(NonceFile { file, path })
    }
}

impl NonceFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last nonce recorded. An empty file (just created) is "none"; anything else that is not
    /// a decimal nonce is an error, never "none", which could make nonces go backwards.
    pub fn last(&mut self) -> Result<Option<Nonce>, Error> {
        let mut raw = Vec::new();
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).take(MAX_CONTENT + 1).read_to_end(&mut raw))
            .map_err(|e| self.error("cannot read it", e))?;
        let text = raw.trim_ascii();
        if text.is_empty() {
            return Ok(None);
        }
        // The content is never shown: if the path led to another file, it may be a secret.
        match std::str::from_utf8(text).ok().and_then(|t| t.parse::<Nonce>().ok()) {
            Some(nonce) if raw.len() as u64 <= MAX_CONTENT => Ok(Some(nonce)),
            _ => Err(self.error(
                "holds something that is not a nonce (content not shown); put back the last nonce used with this key (delete the file only if no nonce above the current time in µs was ever used with it)",
                io::Error::from(io::ErrorKind::InvalidData),
            )),
        }
    }

    /// Records and returns the next nonce: `next_nonce(max(last in file, floor), now_us)`, written
    /// and synced to disk before returning, so it is never handed out twice, even after a crash.
    ///
    /// A recorded nonce more than a day ahead of `now_us` is refused, not continued from: sending
    /// it would move the key's nonce on the server that far ahead for good (up to 2^53 − 1, which
    /// burns the key).
    pub fn advance(&mut self, floor: Option<Nonce>, now_us: u64) -> Result<Nonce, Error> {
        let recorded = self.last()?;
        if let Some(ahead) = recorded.and_then(|n| n.get().checked_sub(now_us)).filter(|a| *a > MAX_AHEAD_US)
        {
            return Err(self.error(
                &format!(
                    "holds a nonce {:.1} days ahead of this machine's clock; bfx does not send it, as that would move the key's nonce on Bitfinex that far ahead for good. \
                     Check the clock; if it is right, use a new API key (or, if that nonce was never used with this key, delete the file)",
                    ahead as f64 / DAY_US as f64
                ),
                io::Error::from(io::ErrorKind::InvalidData),
            ));
        }
        let last = recorded.max(floor);
        let next = next_nonce(last, now_us)?;
        self.write(next)?;
        Ok(next)
    }

    /// Overwrites in place, then trims to length: the lock belongs to this inode, so no
    /// write-and-rename. A crash mid-write leaves a mix of the old and the new digits; nonces only
    /// grow and keep their length (16 digits until 2286), so the mix is never below the old one.
    fn write(&mut self, nonce: Nonce) -> Result<(), Error> {
        let text = nonce.to_string();
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .and_then(|()| self.file.set_len(text.len() as u64))
            .and_then(|()| self.file.sync_data())
            .map_err(|e| self.error("cannot write it", e))
    }

    fn error(&self, problem: &str, source: io::Error) -> Error {
        Error::NonceFile { path: self.path.clone(), problem: problem.to_owned(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000_000;

    fn store() -> (tempfile::TempDir, NonceStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = NonceStore::new(dir.path().join("state").join("nonces"));
        (dir, store)
    }

    #[test]
    fn persists_and_increases_across_store_instances() {
        let (_tmp, store) = store();
        let first = store.lock("k").unwrap().advance(None, NOW).unwrap();
        assert_eq!(first.get(), NOW);
        // A new store (another process) on the same directory continues from the file, even with
        // a clock that went backwards.
        let again = NonceStore::new(store.dir());
        let mut file = again.lock("k").unwrap();
        assert_eq!(file.last().unwrap(), Some(first));
        assert_eq!(file.advance(None, NOW - 5_000_000).unwrap().get(), NOW + 1);
        drop(file);
        assert_eq!(again.lock("k").unwrap().advance(None, NOW + 10).unwrap().get(), NOW + 10);
        // A floor above the file (this process's memory) wins.
        let floor = Nonce::new(NOW + 100).unwrap();
        assert_eq!(again.lock("k").unwrap().advance(Some(floor), NOW).unwrap().get(), NOW + 101);
        // Another key has its own file.
        assert_eq!(again.lock("other").unwrap().advance(None, NOW).unwrap().get(), NOW);
    }

    #[test]
    fn default_dir_is_bfx_nonces_under_the_state_dir() {
        if let Some(dir) = NonceStore::default_dir() {
            assert!(dir.ends_with("bfx/nonces"), "{}", dir.display());
            assert!(dir.is_absolute(), "{}", dir.display());
        }
    }

    #[test]
    fn file_is_named_by_the_key_hash_and_holds_only_the_nonce() {
        let (_tmp, store) = store();
        // SHA-256("abc"), the FIPS 180-2 test vector.
        let hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(store.path_for("abc"), store.dir().join(hash));
        store.lock("abc").unwrap().advance(None, NOW).unwrap();
        let names: Vec<_> = std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [hash]); // `lock` alone records no pid file
        assert_eq!(std::fs::read_to_string(store.dir().join(hash)).unwrap(), NOW.to_string());
    }

    #[cfg(unix)]
    #[test]
    fn directory_is_private_and_file_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, store) = store();
        let file = store.lock("k").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(file.path()), 0o600);
    }

    #[test]
    fn missing_or_empty_is_no_last_nonce_but_garbage_is_an_error() {
        let (_tmp, store) = store();
        assert_eq!(store.lock("k").unwrap().last().unwrap(), None);
        let path = store.path_for("k");
        std::fs::write(&path, "1700000000000123\n").unwrap();
        assert_eq!(store.lock("k").unwrap().last().unwrap(), Some(Nonce::new(NOW + 123).unwrap()));
        for garbage in ["17000000000x0000", "-1", "0", "9007199254740992", "\u{0}\u{0}", "1 2"] {
            std::fs::write(&path, garbage).unwrap();
            let err = store.lock("k").unwrap().advance(None, NOW).unwrap_err();
            assert!(matches!(&err, Error::NonceFile { path: p, .. } if *p == path), "{garbage:?}: {err:?}");
            assert!(err.to_string().contains(&path.display().to_string()), "{err}");
            assert_eq!(err.kind(), crate::ErrorKind::Config);
            // The file is left as it was for the user to inspect.
            assert_eq!(std::fs::read_to_string(&path).unwrap(), garbage);
        }
        std::fs::write(&path, "1".repeat(100)).unwrap();
        assert!(matches!(store.lock("k").unwrap().last(), Err(Error::NonceFile { .. })));
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let (_tmp, store) = store();
        let held = store.lock("k").unwrap();
        let other = File::open(store.path_for("k")).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(held);
        assert!(other.try_lock().is_ok());
    }

    #[test]
    fn unusable_directory_is_an_error_naming_the_file() {
        let (tmp, _) = store();
        let blocker = tmp.path().join("not-a-dir");
        std::fs::write(&blocker, "").unwrap();
        let store = NonceStore::new(blocker.join("nonces"));
        let err = store.lock("k").unwrap_err();
        assert!(matches!(&err, Error::NonceFile { path, .. } if *path == store.path_for("k")), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_refused_not_followed() {
        let (tmp, store) = store();
        drop(store.lock("k").unwrap());
        let path = store.path_for("k");
        // A link to another file: that file is neither overwritten nor shown.
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, "hunter2-SECRET").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&secret, &path).unwrap();
        let err = store.lock("k").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "hunter2-SECRET");
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        // A dangling link: its target is not created.
        let target = tmp.path().join("created-by-bfx");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(store.lock("k"), Err(Error::NonceFile { .. })));
        assert!(matches!(store.try_lock("k"), Err(Error::NonceFile { .. })));
        assert!(!target.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, store) = store();
        drop(store.lock("k").unwrap());
        for mode in [0o770, 0o702, 0o777] {
            std::fs::set_permissions(store.dir(), std::fs::Permissions::from_mode(mode)).unwrap();
            let err = store.lock("k").unwrap_err();
            let text = err.to_string();
            assert!(text.contains("writable by other users") && text.contains("chmod 700"), "{text}");
            assert_eq!(err.kind(), crate::ErrorKind::Config);
        }
        std::fs::set_permissions(store.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(store.lock("k").is_ok());
    }

    #[test]
    fn corrupt_content_is_never_shown() {
        let (_tmp, store) = store();
        let path = store.path_for("k");
        drop(store.lock("k").unwrap());
        std::fs::write(&path, "sk-live-SECRET-abc").unwrap();
        let err = store.lock("k").unwrap().advance(None, NOW).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("not a nonce") && text.contains(&path.display().to_string()), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }

    #[test]
    fn a_nonce_far_ahead_of_the_clock_is_refused_not_sent() {
        let (_tmp, store) = store();
        let path = store.path_for("k");
        drop(store.lock("k").unwrap());
        // One below 2^53 - 1: continuing from it would send the last nonce the key can ever use.
        std::fs::write(&path, "9007199254740990").unwrap();
        let err = store.lock("k").unwrap().advance(None, NOW).unwrap_err();
        assert!(matches!(&err, Error::NonceFile { path: p, .. } if *p == path), "{err:?}");
        assert!(err.to_string().contains("days ahead of this machine's clock"), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "9007199254740990");
        // Within a day ahead (a burst, a small clock step back) it continues as before.
        let ahead = NOW + MAX_AHEAD_US;
        std::fs::write(&path, ahead.to_string()).unwrap();
        assert_eq!(store.lock("k").unwrap().advance(None, NOW).unwrap().get(), ahead + 1);
    }
}
