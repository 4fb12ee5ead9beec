//! What the database did during a drain: its processes' CPU (the postmaster and every child,
//! live or reaped: `/proc/<pid>/stat` utime + stime + cutime + cstime) and its counters
//! (`pg_stat_database` commits and rows, the queue's index scans and updates). The server must
//! run on this machine for the CPU figure (0 otherwise).

use tokio_postgres::Client;

use crate::store::bench as sql;

/// Cumulative figures; [`PgWork::since`] turns two readings into a drain's share.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgWork {
    pub cpu: f64,
    pub commits: f64,
    pub fetched: f64,
    pub returned: f64,
    pub queue_scans: f64,
    pub queue_updates: f64,
}

impl PgWork {
    /// Reads the figures once every other client of this database has gone (a backend's
    /// counters reach the shared statistics at its exit at the latest), or after 5 s.
    pub async fn read(c: &Client) -> anyhow::Result<PgWork> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let row = loop {
            let row = c.query_one(sql::PG_COUNTERS, &[]).await?;
            if row.get::<_, i64>(6) == 0 || tokio::time::Instant::now() >= deadline {
                break row;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let data_dir: String = row.get(5);
        Ok(PgWork {
            cpu: postmaster_cpu(&data_dir).unwrap_or(0.0),
            commits: row.get::<_, i64>(0) as f64,
            fetched: row.get::<_, i64>(1) as f64,
            returned: row.get::<_, i64>(2) as f64,
            queue_scans: row.get::<_, i64>(3) as f64,
            queue_updates: row.get::<_, i64>(4) as f64,
        })
    }

    pub fn since(&self, before: &PgWork) -> PgWork {
        PgWork {
            cpu: self.cpu - before.cpu,
            commits: self.commits - before.commits,
            fetched: self.fetched - before.fetched,
            returned: self.returned - before.returned,
            queue_scans: self.queue_scans - before.queue_scans,
            queue_updates: self.queue_updates - before.queue_updates,
        }
    }
}

/// CPU seconds of the server whose data folder is `data_dir`: the postmaster's own and its
/// reaped children's, plus every live child's.
fn postmaster_cpu(data_dir: &str) -> Option<f64> {
    let pid_file = std::fs::read_to_string(format!("{data_dir}/postmaster.pid")).ok()?;
    let postmaster: i64 = pid_file.lines().next()?.trim().parse().ok()?;
    let own = proc_stat(postmaster)?;
    let mut ticks = own.own + own.children;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i64>().ok())
        else {
            continue;
        };
        if let Some(child) = proc_stat(pid).filter(|c| c.ppid == postmaster) {
            ticks += child.own + child.children;
        }
    }
    Some(ticks_to_seconds(ticks))
}

/// A process's parent and CPU clock ticks, from `/proc/<pid>/stat`.
pub(super) struct ProcStat {
    pub ppid: i64,
    /// utime + stime: the process's own.
    pub own: f64,
    /// cutime + cstime: its reaped children's.
    pub children: f64,
}

pub(super) fn proc_stat(pid: i64) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')': state,
    // ppid (field 4 of the line) ... utime, stime, cutime, cstime (fields 14..17).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    Some(ProcStat {
        ppid: fields.get(1)?.parse().ok()?,
        own: ticks(11)? + ticks(12)?,
        children: ticks(13)? + ticks(14)?,
    })
}

pub(super) fn ticks_to_seconds(ticks: f64) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}
