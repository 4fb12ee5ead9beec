//! The processes of a cluster: its folder, `initdb`, the postmaster, and the login check.

use std::{
    fs,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{io, Binaries, ClusterError, ClusterOptions};

/// Prefix of every cluster folder in the temp dir: `herald-pg-<pid>-<n>`.
const DIR_PREFIX: &str = "herald-pg-";

/// The OS user the server runs as when we are root.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunAs {
    uid: u32,
    gid: u32,
}

pub(super) fn run_as() -> Result<Option<RunAs>, ClusterError> {
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

pub(super) fn make_dir(run_as: Option<RunAs>) -> Result<PathBuf, ClusterError> {
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
pub(super) fn remove_stale_dirs() {
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

pub(super) fn initdb(
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

pub(super) fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(io("bind a free port on 127.0.0.1"))?;
    Ok(listener
        .local_addr()
        .map_err(io("read the bound port"))?
        .port())
}

pub(super) fn spawn_postgres(
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
pub(super) fn login_succeeds(port: u16) -> bool {
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
