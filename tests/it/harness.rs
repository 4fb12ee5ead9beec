//! Test databases: one per test, cloned from a migrated template whose name is a hash of the
//! embedded SQL (created once, under an advisory lock, by whichever test process gets there
//! first). NOTIFY channels and advisory locks are per database, so tests never see each other.

use std::{future::Future, sync::OnceLock, time::Duration};

use herald::store::{self, migrate, Pool};
use tokio_postgres::NoTls;

/// The server the tests use: `HERALD_TEST_DATABASE_URL`, else `DATABASE_URL`, else a throwaway
/// cluster started from the local PostgreSQL binaries (once per test process).
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        raise_open_files_limit();
        std::env::var("HERALD_TEST_DATABASE_URL")
            .or_else(|_| std::env::var("DATABASE_URL"))
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| crate::cluster::shared().url().to_owned())
    })
}

/// The open-files limit this process needs: tests run an in-process Herald with up to 1,024
/// requests in flight against an in-process receiver (a socket at each end), beside their
/// pools. The whole suite peaked at 2,484 open files (sampled every 100 ms, 2 test threads).
const OPEN_FILES_NEEDED: u64 = 4_096;

/// Raises the soft open-files limit to the hard one, once per test process, as `herald` does
/// for itself: `#[tokio::test]` builds its own runtimes, and a normal user's soft limit is
/// often 1,024 ("Too many open files" in the tests that open many connections). Says so once
/// on stderr when the hard limit keeps it lower than the suite needs.
pub fn raise_open_files_limit() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| match rlimit::increase_nofile_limit(u64::MAX).ok() {
        Some(limit) if limit < OPEN_FILES_NEEDED => eprintln!(
            "warning: the open-files limit is {limit} and the hard limit allows no more; tests \
             that open many connections may fail with \"Too many open files\" (raise the hard \
             limit to {OPEN_FILES_NEEDED} or more, e.g. in /etc/security/limits.conf)"
        ),
        _ => {}
    });
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let mut cfg: tokio_postgres::Config = url.parse().expect("database URL parses");
    cfg.dbname(db);
    // Rebuild as a key/value string: works for URL and key/value inputs alike.
    let mut parts = vec![format!("dbname={db}")];
    for host in cfg.get_hosts() {
        if let tokio_postgres::config::Host::Tcp(h) = host {
            parts.push(format!("host={h}"));
        }
        #[cfg(unix)]
        if let tokio_postgres::config::Host::Unix(p) = host {
            parts.push(format!("host={}", p.display()));
        }
    }
    if let Some(port) = cfg.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = cfg.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(pw) = cfg.get_password() {
        parts.push(format!("password={}", String::from_utf8_lossy(pw)));
    }
    parts.join(" ")
}

/// A client on the test server's own database (`postgres`), for creating and dropping others.
pub async fn admin_client() -> tokio_postgres::Client {
    let url = server_url();
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server {url}: {e}"));
    tokio::spawn(conn);
    client
}

/// Best effort: drops `herald_test_%` databases older than an hour, left behind by test
/// processes that were killed before their `TestDb` was dropped. Age is the modification time
/// of the database's `PG_VERSION` file, written when the database is created (needs a
/// superuser or `pg_read_server_files`; without it, nothing is dropped).
async fn drop_stale_databases(admin: &tokio_postgres::Client) {
    let Ok(rows) = admin
        .query(
            "select datname from pg_database
              where datname like 'herald\\_test\\_%'
                and (pg_stat_file('base/' || oid || '/PG_VERSION', true)).modification
                    < now() - interval '1 hour'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let _ = admin
            .batch_execute(&format!("drop database if exists \"{name}\" with (force)"))
            .await;
    }
}

async fn template_name() -> String {
    let name = format!("herald_tpl_{}", migrate::fingerprint());
    let admin = admin_client().await;
    drop_stale_databases(&admin).await;
    admin
        .execute("select pg_advisory_lock(8675309)", &[])
        .await
        .expect("template lock");
    let exists = admin
        .query_opt("select 1 from pg_database where datname = $1", &[&name])
        .await
        .expect("look up template")
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        admin
            .batch_execute(&format!("drop database if exists {building}"))
            .await
            .expect("drop half-built template");
        admin
            .batch_execute(&format!("create database {building}"))
            .await
            .expect("create template");
        {
            let (mut c, conn) =
                tokio_postgres::connect(&with_database(server_url(), &building), NoTls)
                    .await
                    .expect("connect to template");
            let task = tokio::spawn(conn);
            migrate::run(&mut c).await.expect("migrate the template");
            drop(c);
            let _ = task.await;
        }
        admin
            .batch_execute(&format!("alter database {building} rename to {name}"))
            .await
            .expect("publish template");
    }
    admin
        .execute("select pg_advisory_unlock(8675309)", &[])
        .await
        .expect("template unlock");
    name
}

/// A fresh, migrated database of its own, dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let template = TEMPLATE.get_or_init(template_name).await.clone();
        let name = format!(
            "herald_test_{}",
            uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
        );
        let admin = admin_client().await;
        // CREATE DATABASE ... TEMPLATE fails if another session is connected to the template
        // for a moment (e.g. another process publishing it); retry briefly.
        let mut tries = 0;
        loop {
            match admin
                .batch_execute(&format!("create database {name} template {template}"))
                .await
            {
                Ok(()) => break,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot create test database {name}: {e}"),
            }
        }
        TestDb {
            url: with_database(server_url(), &name),
            name,
        }
    }

    /// A fresh, empty database (no schema `herald`): for testing migrations themselves.
    pub async fn empty() -> TestDb {
        let name = format!(
            "herald_test_{}",
            uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
        );
        admin_client()
            .await
            .batch_execute(&format!("create database {name} template template0"))
            .await
            .unwrap_or_else(|e| panic!("cannot create empty database {name}: {e}"));
        TestDb {
            url: with_database(server_url(), &name),
            name,
        }
    }

    /// A fresh database and a client on it: `let (db, c) = TestDb::with_client().await;`.
    pub async fn with_client() -> (TestDb, tokio_postgres::Client) {
        let db = TestDb::new().await;
        let c = db.client().await;
        (db, c)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect to test database");
        tokio::spawn(conn);
        client
    }

    #[allow(dead_code)] // for the pipeline and API tests
    pub fn pool(&self) -> Pool {
        store::connect_pool(&self.url, 8).expect("test pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = &self.name;
        execute_best_effort(vec![(
            server_url().to_owned(),
            format!("drop database if exists {name} with (force)"),
        )]);
    }
}

/// Runs each `(url, sql)` in turn, ignoring failures, and returns when done. For `Drop`
/// impls, which run inside the test's runtime: a thread with its own small runtime does it.
pub fn execute_best_effort(statements: Vec<(String, String)>) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            for (url, sql) in statements {
                if let Ok((client, conn)) = tokio_postgres::connect(&url, NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                }
            }
        });
    })
    .join();
}

/// Waits until `check` returns true, polling every few milliseconds; panics with `what` when
/// `timeout` passes first. The way tests wait: never a bare sleep.
#[allow(dead_code)] // for the pipeline and API tests
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The deadline of a test's waits: long, so that a loaded machine passes.
pub const WAIT: Duration = Duration::from_secs(60);

/// `select count(*)` of the deliveries that are `delivered`.
pub const DELIVERED: &str =
    "select count(*) from herald.webhook_deliveries where status = 'delivered'";

/// `select count(*)` of the deliveries that are pending and due now.
pub const DUE: &str = "select count(*) from herald.webhook_deliveries
                        where status = 'pending' and next_attempt_at <= now()";

/// `select count(*)` of the triggers on `public.batches`, the tests' application table.
pub const BATCH_TRIGGERS: &str =
    "select count(*) from pg_trigger where tgrelid = 'public.batches'::regclass";

/// `herald.unwatch` of the `update` watch on `public.batches` emitting `event_type`: whether
/// there was one.
pub async fn unwatch_batches(c: &tokio_postgres::Client, event_type: &str) -> bool {
    let sql = "select herald.unwatch('public.batches', $1, 'update')";
    value(c, sql, &[&event_type]).await
}

/// The single value of a one-row query: `let on: bool = value(&c, "select ...", &[&id]).await`
/// (on a client or in a transaction).
pub async fn value<T>(
    c: &impl tokio_postgres::GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    c.query_one(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// Every row of a query, each read by `read`, collected:
/// `let names: Vec<String> = rows(&c, "select name from t", &[], |r| r.get(0)).await`.
pub async fn rows<T, C>(
    c: &impl tokio_postgres::GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    read: impl FnMut(&tokio_postgres::Row) -> T,
) -> C
where
    C: FromIterator<T>,
{
    c.query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(read)
        .collect()
}

/// Waits (up to [`WAIT`]) until `count(c, sql)` is `n`; `what` names the wait.
pub async fn eventually_count(c: &tokio_postgres::Client, sql: &str, n: i64, what: &str) {
    eventually(what, WAIT, || async { count(c, sql).await == n }).await;
}

/// The standard output of a command that must have succeeded; `what` names it.
pub fn succeeded(out: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Counts rows: `count(db, "select count(*) from herald.events")`.
pub async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// Waits (up to `timeout`) until exactly `n` deliveries are `delivered`; `what` names the wait.
pub async fn eventually_delivered(
    c: &tokio_postgres::Client,
    n: i64,
    what: &str,
    timeout: Duration,
) {
    eventually(what, timeout, || async {
        count(
            c,
            "select count(*) from herald.webhook_deliveries where status = 'delivered'",
        )
        .await
            == n
    })
    .await;
}

/// Like [`eventually`], for a check that produces a value: returns the first `Some`.
pub async fn eventually_some<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
