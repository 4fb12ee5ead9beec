//! Throwaway PostgreSQL clusters started from the machine's own binaries: for `herald demo`
//! without a `DATABASE_URL`, and for tests.
//!
//! [`Cluster::start`] is blocking (initdb takes a second or two); call it from
//! `spawn_blocking` in async code. It runs `initdb` into a fresh temporary folder, starts
//! `postgres` on a free port of 127.0.0.1 (the socket goes in the same folder), waits until the
//! server accepts a login, and hands back a `postgres://` URL for the superuser `postgres`.
//! Dropping the [`Cluster`] stops the server (fast shutdown) and removes the folder.
//!
//! PostgreSQL refuses to run as root: when the euid is 0, the folder is given to the OS user
//! `postgres` and both programs run as that user.

use std::{
    ffi::OsString,
    fs,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

/// What to install when no binaries are found. This text is the whole message.
const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, postgres) were not found \
in `pg_config --bindir`, on PATH, or in the usual folders. Install PostgreSQL: \
Debian/Ubuntu `apt-get install postgresql`, Fedora `dnf install postgresql-server`, \
macOS `brew install postgresql`. If they are installed elsewhere, set HERALD_PG_SEARCH_DIRS \
to their folder; or set DATABASE_URL to an existing server.";

/// Folders to search for the binaries instead of the usual install folders (`PATH`-style;
/// empty: none). For a PostgreSQL installed somewhere unusual, and for tests.
pub const SEARCH_DIRS_VAR: &str = "HERALD_PG_SEARCH_DIRS";

/// Prefix of every cluster folder in the temp dir: `herald-pg-<pid>-<n>`.
const DIR_PREFIX: &str = "herald-pg-";

/// How long the server gets to accept its first login.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a fast shutdown may take before the postmaster is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{INSTALL_HINT}")]
    BinariesNotFound,
    #[error(
        "running as root, and there is no OS user `postgres` to run PostgreSQL as \
         (PostgreSQL refuses to run as root); create one, e.g. `useradd --system postgres`"
    )]
    NoPostgresUser,
    #[error("throwaway PostgreSQL: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("initdb failed ({status}):\n{output}")]
    Initdb { status: String, output: String },
    #[error("PostgreSQL did not start: {reason}; server log tail:\n{log_tail}")]
    NotReady { reason: String, log_tail: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// How to run the cluster. The default is a throwaway one: not durable, 100 connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `false` turns off `fsync`, `synchronous_commit` and `full_page_writes`: fast, and a
    /// crash of the machine may lose or corrupt the data (fine for a throwaway cluster).
    pub durable: bool,
    pub max_connections: u32,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            durable: false,
            max_connections: 100,
        }
    }
}

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

/// The OS user the server runs as when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn run_as() -> Result<Option<RunAs>, ClusterError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    // SAFETY: getpwnam with a NUL-terminated name; the result is read at once, before any
    // other call that could overwrite the static buffer.
    let pw = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    if pw.is_null() {
        return Err(ClusterError::NoPostgresUser);
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some(RunAs { uid, gid }))
}

/// A running throwaway cluster. Dropping it stops the server and removes its folder.
#[derive(Debug)]
pub struct Cluster {
    url: String,
    port: u16,
    dir: PathBuf,
    postmaster: Mutex<Option<Child>>,
    /// What [`Cluster::start_again`] needs to start the same server again.
    bins: Binaries,
    run_as: Option<RunAs>,
    opts: ClusterOptions,
}

impl Cluster {
    /// Starts a cluster (blocking). See the module documentation.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        Cluster::start_with(opts, &BinarySearch::system(), false)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the data directory, the socket and `server.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `die_with_thread`: the postmaster gets SIGQUIT when the spawning thread exits
    /// (PR_SET_PDEATHSIG; Linux only).
    fn start_with(
        opts: ClusterOptions,
        search: &BinarySearch,
        die_with_thread: bool,
    ) -> Result<Cluster, ClusterError> {
        let bins = search.find()?;
        let run_as = run_as()?;
        remove_stale_dirs();
        let dir = make_dir(run_as)?;
        // From here on, a failure must remove the folder: build the Cluster early so that its
        // Drop does it.
        let mut cluster = Cluster {
            url: String::new(),
            port: 0,
            dir,
            postmaster: Mutex::new(None),
            bins: bins.clone(),
            run_as,
            opts,
        };
        initdb(&bins, &cluster.dir, run_as, opts)?;
        // A port picked by binding :0 may be taken by someone else before postgres binds it;
        // try a few.
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let child = spawn_postgres(&bins, &cluster.dir, port, run_as, opts, die_with_thread)?;
            cluster.port = port;
            *cluster.lock() = Some(child);
            match cluster.wait_ready() {
                Ok(()) => {
                    cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                    return Ok(cluster);
                }
                Err(e) => {
                    cluster.stop();
                    let port_taken = matches!(&e, ClusterError::NotReady { log_tail, .. }
                        if log_tail.contains("could not bind") || log_tail.contains("already in use"));
                    if !port_taken {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or(ClusterError::NotReady {
            reason: "no free port".into(),
            log_tail: String::new(),
        }))
    }

    /// Stops the server (fast shutdown: every session is disconnected), keeping its data
    /// folder and port, so that [`Cluster::start_again`] can bring the same database back: a
    /// database outage, for fault-injection tests. Blocking.
    pub fn stop_server(&self) {
        self.stop();
    }

    /// Stops the server the way a crash does: immediate shutdown (SIGQUIT; no checkpoint,
    /// the next start replays the WAL), so commits not yet flushed (`synchronous_commit =
    /// off`) are lost. Keeps the data folder and port, like [`Cluster::stop_server`]. Blocking.
    pub fn crash_server(&self) {
        let Some(mut child) = self.lock().take() else {
            return;
        };
        for signal in [libc::SIGQUIT, libc::SIGKILL] {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts the server stopped by [`Cluster::stop_server`] again, on the same port and data,
    /// and waits until it accepts a login. Blocking.
    pub fn start_again(&self) -> Result<(), ClusterError> {
        if self.lock().is_some() {
            return Ok(());
        }
        let child = spawn_postgres(
            &self.bins,
            &self.dir,
            self.port,
            self.run_as,
            self.opts,
            false,
        )?;
        *self.lock() = Some(child);
        self.wait_ready()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.postmaster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until the server completes a login as `postgres`, the postmaster exits, or the
    /// deadline passes.
    fn wait_ready(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.lock().as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(ClusterError::NotReady {
                        reason: format!("the server exited ({status})"),
                        log_tail: self.log_tail(),
                    });
                }
            }
            if login_succeeds(self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NotReady {
                    reason: format!(
                        "no successful login on 127.0.0.1:{} within {READY_TIMEOUT:?}",
                        self.port
                    ),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fast shutdown (SIGINT: disconnect sessions, checkpoint, exit), escalating to SIGQUIT
    /// and SIGKILL when it takes too long. Idempotent.
    fn stop(&self) {
        let Some(mut child) = self.lock().take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        for (signal, wait) in [
            (libc::SIGINT, STOP_TIMEOUT),
            (libc::SIGQUIT, Duration::from_secs(5)),
            (libc::SIGKILL, Duration::from_secs(5)),
        ] {
            // SAFETY: pid is our own child, not yet reaped, so it cannot have been reused.
            unsafe { libc::kill(pid, signal) };
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => return,
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn make_dir(run_as: Option<RunAs>) -> Result<PathBuf, ClusterError> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let tmp = std::env::temp_dir();
    loop {
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = tmp.join(format!("{DIR_PREFIX}{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                    .map_err(io(format!("chmod {}", dir.display())))?;
                if let Some(RunAs { uid, gid }) = run_as {
                    std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                        .map_err(io(format!("chown {} to postgres", dir.display())))?;
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(format!("create {}", dir.display()))(e)),
        }
    }
}

/// Removes the folders of processes that died without cleaning up (killed tests, crashes).
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // The owner is gone, and so is its postmaster (it may still be shutting down).
        let postmaster = fs::read_to_string(entry.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()));
        if !process_alive(pid) && !postmaster.is_some_and(process_alive) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn process_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn command(program: &Path, dir: &Path, run_as: Option<RunAs>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env("LC_ALL", "C")
        .env_remove("PGDATA")
        .env_remove("PGPORT")
        .env_remove("PGHOST");
    if let Some(RunAs { uid, gid }) = run_as {
        // std drops supplementary groups (setgroups(0)), then setgid, then setuid.
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn initdb(
    bins: &Binaries,
    dir: &Path,
    run_as: Option<RunAs>,
    opts: ClusterOptions,
) -> Result<(), ClusterError> {
    let mut cmd = command(&bins.initdb, dir, run_as);
    cmd.arg("--pgdata")
        .arg(dir.join("data"))
        .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
        .arg("--no-locale");
    if !opts.durable {
        cmd.arg("--no-sync");
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("run {}", bins.initdb.display())))?;
    if !out.status.success() {
        return Err(ClusterError::Initdb {
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(())
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(io("bind a free port on 127.0.0.1"))?;
    Ok(listener
        .local_addr()
        .map_err(io("read the bound port"))?
        .port())
}

fn spawn_postgres(
    bins: &Binaries,
    dir: &Path,
    port: u16,
    run_as: Option<RunAs>,
    opts: ClusterOptions,
    die_with_thread: bool,
) -> Result<Child, ClusterError> {
    let log_path = dir.join("server.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(format!("open {}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(io(format!("open {}", log_path.display())))?;
    let mut cmd = command(&bins.postgres, dir, run_as);
    cmd.arg("-D")
        .arg(dir.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", &format!("max_connections={}", opts.max_connections)]);
    if !opts.durable {
        cmd.args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"]);
    }
    // Its own process group: a terminal's Ctrl-C reaches us, and we stop it properly.
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    if die_with_thread {
        set_parent_death_signal(&mut cmd);
    }
    cmd.spawn()
        .map_err(io(format!("run {}", bins.postgres.display())))
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // calls. std runs it after setgid/setuid, which matters: a credential change clears the
    // parent-death signal.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would ever stop us.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_cmd: &mut Command) {}

/// True when a startup packet for user and database `postgres` is answered with
/// AuthenticationOk ('R', length 8, code 0): the server is up and accepts logins.
fn login_succeeds(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut body = Vec::new();
        body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
        for kv in ["user", "postgres", "database", "postgres"] {
            body.extend_from_slice(kv.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        packet.extend_from_slice(&body);
        s.write_all(&packet)?;
        let mut reply = [0u8; 9];
        s.read_exact(&mut reply)?;
        let ok = reply == [b'R', 0, 0, 0, 8, 0, 0, 0, 0];
        // Terminate.
        let _ = s.write_all(&[b'X', 0, 0, 0, 4]);
        Ok(ok)
    };
    attempt().unwrap_or(false)
}

/// The cluster shared by one test process, started on first use (test config: fsync off,
/// 300 connections). The postmaster is spawned from a dedicated thread that lives as long as
/// the process, with a parent-death signal, so it dies with the process even when the process
/// is killed; on a normal exit it is stopped and its folder removed. Folders left by killed
/// processes are removed by the next start.
///
/// Panics when the cluster cannot start: it is meant for tests.
pub fn shared_for_tests() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let opts = ClusterOptions {
            durable: false,
            max_connections: 300,
        };
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("herald-pgcluster".into())
            .spawn(move || {
                let _ = started_tx.send(Cluster::start_with(opts, &BinarySearch::system(), true));
                // PR_SET_PDEATHSIG fires when this thread exits: it must outlive the process.
                loop {
                    std::thread::park();
                }
            });
        let started = match spawned {
            Ok(_) => started_rx
                .recv()
                .unwrap_or_else(|_| panic!("the throwaway PostgreSQL thread died")),
            Err(e) => panic!("cannot spawn the throwaway PostgreSQL thread: {e}"),
        };
        let cluster = started.unwrap_or_else(|e| panic!("{e}"));
        extern "C" fn stop_shared() {
            if let Some(cluster) = SHARED.get() {
                cluster.stop();
                let _ = fs::remove_dir_all(&cluster.dir);
            }
        }
        // SAFETY: registering a plain extern "C" fn; it runs at normal process exit.
        unsafe { libc::atexit(stop_shared) };
        cluster
    })
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

    #[tokio::test]
    async fn pgcluster_drop_stops_the_server_and_removes_its_folder() {
        let cluster = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default()))
            .await
            .expect("join")
            .expect("cluster starts");
        let (client, conn) = tokio_postgres::connect(cluster.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        let conn = tokio::spawn(conn);
        let fsync: String = client
            .query_one("show fsync", &[])
            .await
            .expect("query")
            .get(0);
        assert_eq!(fsync, "off");
        let (port, dir) = (cluster.port(), cluster.dir().to_owned());
        assert!(dir.join("data/PG_VERSION").exists());

        tokio::task::spawn_blocking(move || drop(cluster))
            .await
            .expect("join");
        let _ = conn.await;
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(
            TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_err(),
            "port {port} still accepts connections"
        );
    }
}
