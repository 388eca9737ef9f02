//! A fresh directory for one test under the system's temporary directory, removed when
//! dropped (also when the test fails).

use std::path::{Path, PathBuf};

/// A fresh directory for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `ringpoll-NAME-PID` under the temporary directory, emptied if a killed run left it.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ringpoll-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The path of `name` in it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A new FIFO (named pipe) `name` in it.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let fifo = self.join(name);
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path, alive for the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo {}", fifo.display());
        fifo
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
