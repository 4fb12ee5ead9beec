//! `herald demo` as a child process: against a test database, without PostgreSQL binaries,
//! and interrupted.

use std::{
    net::{SocketAddr, TcpStream},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use crate::harness::{count, succeeded, TestDb};

/// Generous: the demo itself takes a few seconds, but the machine is shared.
const DEMO_TIMEOUT: Duration = Duration::from_secs(90);

fn demo_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.arg("demo")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// `herald demo --events <events>` against the test database, within [`DEMO_TIMEOUT`].
async fn demo_against(db: &TestDb, events: &str) -> std::process::Output {
    tokio::time::timeout(
        DEMO_TIMEOUT,
        demo_command()
            .args(["--events", events])
            .env("DATABASE_URL", &db.url)
            .output(),
    )
    .await
    .expect("the demo finishes in time")
    .expect("run herald demo")
}

#[tokio::test]
async fn demo_against_a_database_url_delivers_and_prints_the_summary() {
    let db = TestDb::new().await;
    let out = demo_against(&db, "8").await;
    let stdout = succeeded(&out, "herald demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "Summary",
        "events                 14",
        "signatures",
        ", 0 failed",
        "latency, 1st attempt",
        "TRIPPED",
        "OK: every signature verified",
        "herald bench",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
    // Without a terminal, progress is plain lines on stderr.
    assert!(stderr.contains(" done: delivered "), "stderr:\n{stderr}");

    // Its table went into its own schema, and its webhooks, whose receiver is gone, are off.
    let client = db.client().await;
    assert_eq!(
        count(
            &client,
            "select count(*) from herald_demo.batches where status = 'completed'"
        )
        .await,
        4
    );
    let demo_hooks =
        "select count(*) from herald.user_webhooks where description like 'herald demo:%' and enabled";
    assert_eq!(count(&client, demo_hooks).await, 0);
    let unfinished = "select count(*) from herald.webhook_deliveries
                       where status not in ('delivered', 'exhausted')";
    assert_eq!(count(&client, unfinished).await, 0);
}

#[tokio::test]
async fn demo_sends_no_platform_event_when_the_database_has_platform_webhooks() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let manager = uuid::Uuid::new_v4();
    let secret = herald::domain::secret::WebhookSecret::generate()
        .expect("secret")
        .expose();
    client
        .execute(
            "insert into herald.user_roles (user_id, role) values ($1, 'PLATFORMMANAGER')",
            &[&manager],
        )
        .await
        .expect("grant");
    client
        .execute(
            "insert into herald.user_webhooks (user_id, url, secret, scope)
             values ($1, 'https://example.com/platform', $2, 'platform')",
            &[&manager, &secret],
        )
        .await
        .expect("their platform webhook");
    let out = demo_against(&db, "4").await;
    let stdout = succeeded(&out, "herald demo");
    assert!(
        stdout.contains("the demo sends no platform event"),
        "{stdout}"
    );
    assert_eq!(
        count(
            &client,
            "select count(*) from herald.webhook_deliveries d join herald.user_webhooks w
                 on w.id = d.webhook_id where w.scope = 'platform'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn demo_without_postgres_binaries_names_what_to_install() {
    let empty = std::env::temp_dir().join(format!("herald-no-pg-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = tokio::time::timeout(
        DEMO_TIMEOUT,
        demo_command()
            .env("PATH", &empty)
            .env("HERALD_PG_SEARCH_DIRS", "")
            .output(),
    )
    .await
    .expect("the demo gives up in time")
    .expect("run herald demo");
    let _ = std::fs::remove_dir_all(&empty);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "stderr:\n{stderr}");
    for needle in ["apt-get install postgresql", "DATABASE_URL"] {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn demo_interrupted_exits_130_and_stops_its_throwaway_postgres() {
    let mut child = demo_command()
        // The flaky webhook's retry is a minute away: the demo is still running when the
        // signal comes.
        .args(["--events", "4", "--retry-schedule", "0,60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn herald demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    // Wait until the throwaway cluster is up and named, then until Herald runs.
    let port: u16 = tokio::time::timeout(DEMO_TIMEOUT, async {
        let mut port = None;
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(rest) = line
                .trim()
                .strip_prefix("database      postgres://postgres@127.0.0.1:")
            {
                port = rest.split('/').next().and_then(|p| p.parse().ok());
            }
            if line.trim().starts_with("herald ") {
                return port;
            }
        }
        None
    })
    .await
    .expect("the demo starts in time")
    .expect("the demo prints its throwaway database and Herald's address");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        TcpStream::connect(addr).is_ok(),
        "PostgreSQL is up on {addr}"
    );

    let pid = child.id().expect("pid");
    // SAFETY: signalling our own child, which has not been reaped.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = tokio::time::timeout(DEMO_TIMEOUT, child.wait())
        .await
        .expect("the demo stops in time")
        .expect("wait for herald demo");
    assert_eq!(status.code(), Some(130));
    assert!(
        TcpStream::connect(addr).is_err(),
        "PostgreSQL still accepts connections on {addr}"
    );
    let prefix = format!("herald-pg-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("read the temp dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "cluster folders left behind: {left:?}");
}
