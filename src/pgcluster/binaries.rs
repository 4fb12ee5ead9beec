//! Finding `initdb` and `postgres` on this machine.

use std::{
    ffi::OsString,
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use super::ClusterError;

/// What to install when no binaries are found. This text is the whole message.
pub(super) const INSTALL_HINT: &str =
    "PostgreSQL server binaries (initdb, postgres) were not found \
in `pg_config --bindir`, on PATH, or in the usual folders. Install PostgreSQL: \
Debian/Ubuntu `apt-get install postgresql`, Fedora `dnf install postgresql-server`, \
macOS `brew install postgresql`. If they are installed elsewhere, set HERALD_PG_SEARCH_DIRS \
to their folder; or set DATABASE_URL to an existing server.";

/// Folders to search for the binaries instead of the usual install folders (`PATH`-style;
/// empty: none). For a PostgreSQL installed somewhere unusual, and for tests.
const SEARCH_DIRS_VAR: &str = "HERALD_PG_SEARCH_DIRS";

/// Where to look for `initdb` and `postgres`. [`BinarySearch::system`] is the real search;
/// tests build a scrubbed one.
#[derive(Debug, Clone, Default)]
pub struct BinarySearch {
    /// A `PATH`-style list, searched for `pg_config` (its `--bindir` wins) and then for the
    /// binaries themselves.
    pub path: Option<OsString>,
    /// Further folders, in order of preference.
    pub folders: Vec<PathBuf>,
}

impl BinarySearch {
    /// `pg_config --bindir`, `PATH`, then `/usr/lib/postgresql/*/bin` (highest version first),
    /// `/usr/local/pgsql/bin`, `/opt/homebrew/bin`, `/usr/pgsql-*/bin` (highest first).
    ///
    /// When the environment variable [`SEARCH_DIRS_VAR`] is set, its `PATH`-style list
    /// replaces those usual folders (set it empty to search only `PATH`).
    pub fn system() -> BinarySearch {
        let folders = match std::env::var_os(SEARCH_DIRS_VAR) {
            Some(dirs) => std::env::split_paths(&dirs)
                .filter(|d| !d.as_os_str().is_empty())
                .collect(),
            None => Self::usual_folders(),
        };
        BinarySearch {
            path: std::env::var_os("PATH"),
            folders,
        }
    }

    fn usual_folders() -> Vec<PathBuf> {
        let mut folders = versioned_dirs(Path::new("/usr/lib/postgresql"), "", "bin");
        folders.push(PathBuf::from("/usr/local/pgsql/bin"));
        folders.push(PathBuf::from("/opt/homebrew/bin"));
        folders.extend(versioned_dirs(Path::new("/usr"), "pgsql-", "bin"));
        folders
    }

    /// The folder holding both `initdb` and `postgres`.
    pub fn find(&self) -> Result<Binaries, ClusterError> {
        let path_dirs: Vec<PathBuf> = self
            .path
            .as_ref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        let from_pg_config = path_dirs
            .iter()
            .map(|d| d.join("pg_config"))
            .find(|p| is_executable(p))
            .and_then(|pg_config| {
                let out = Command::new(pg_config).arg("--bindir").output().ok()?;
                out.status
                    .success()
                    .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
            });
        from_pg_config
            .into_iter()
            .chain(path_dirs)
            .chain(self.folders.iter().cloned())
            .find_map(|dir| Binaries::in_folder(&dir))
            .ok_or(ClusterError::BinariesNotFound)
    }
}

/// `<parent>/<prefix><version>/<leaf>` for every version present, highest version first.
fn versioned_dirs(parent: &Path, prefix: &str, leaf: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix(prefix)?;
            let key: Vec<u32> = version
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            Some((key, e.path().join(leaf)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

impl Binaries {
    fn in_folder(dir: &Path) -> Option<Binaries> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        if !(is_executable(&initdb) && is_executable(&postgres)) {
            return None;
        }
        // Resolve symlinks (e.g. /usr/local/bin/postgres -> /usr/lib/postgresql/15/bin) so
        // that both come from the same installation.
        Some(Binaries {
            initdb: fs::canonicalize(&initdb).unwrap_or(initdb),
            postgres: fs::canonicalize(&postgres).unwrap_or(postgres),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgcluster_without_binaries_names_the_package() {
        let search = BinarySearch {
            path: Some(OsString::new()),
            folders: Vec::new(),
        };
        let err = search.find().expect_err("nothing to find");
        let msg = err.to_string();
        for needle in [
            "apt-get install postgresql",
            "dnf install postgresql-server",
            "brew install postgresql",
            "initdb",
        ] {
            assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
        }
    }

    #[test]
    fn pgcluster_versioned_dirs_prefer_the_highest_version() {
        let base = std::env::temp_dir().join(format!("herald-vdirs-{}", std::process::id()));
        for v in ["9.6", "15", "13", "notaversion"] {
            fs::create_dir_all(base.join(v).join("bin")).expect("mkdir");
        }
        let found = versioned_dirs(&base, "", "bin");
        let _ = fs::remove_dir_all(&base);
        assert_eq!(
            found,
            vec![
                base.join("15/bin"),
                base.join("13/bin"),
                base.join("9.6/bin")
            ]
        );
    }
}
