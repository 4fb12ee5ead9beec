//! Supervised tasks of `herald run`: a task that dies stops the process with one error line,
//! `/readyz` red in between; a normal SIGTERM stops it with exit 0 and no error line.

use std::time::{Duration, Instant};

use crate::{
    harness::{eventually, eventually_some, TestDb},
    process::{get, status_of, HeraldProcess},
};

/// `herald run`'s exit status after a task failed (README, "Running Herald").
const EXIT_TASK_FAILED: i32 = 70;

/// Starts `herald run` with the test hook armed for the claimer; returns it and its API
/// address once `/readyz` answers 200.
async fn ready_herald_with_hook(db: &TestDb) -> (HeraldProcess, String) {
    let herald = HeraldProcess::spawn(&db.url, &[("HERALD_TEST_KILL_TASK", "claimer")]);
    let api = herald.api_addr().await.to_string();
    eventually("/readyz answers 200", Duration::from_secs(60), || async {
        status_of(&api, "/readyz").await == 200
    })
    .await;
    (herald, api)
}

fn error_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(" ERROR ")).collect()
}

#[tokio::test]
async fn run_exits_non_zero_within_5s_naming_the_claimer_when_it_dies() {
    let db = TestDb::new().await;
    let (mut herald, api) = ready_herald_with_hook(&db).await;

    herald.signal(libc::SIGUSR1);
    let killed = Instant::now();
    let body = eventually_some(
        "/readyz answers 503 naming the claimer",
        Duration::from_secs(60),
        || async {
            match get(&api, "/readyz").await {
                // A 503 for another reason (a slow database check) is not the one awaited.
                Some((503, body)) if body.contains(r#""failed_task":"claimer""#) => Some(body),
                Some(_) => None,
                None => panic!(
                    "the API stopped before /readyz answered 503:\n{}",
                    herald.log_text()
                ),
            }
        },
    )
    .await;
    let readyz: serde_json::Value = serde_json::from_str(&body).expect("/readyz answers JSON");
    assert_eq!(readyz["failed_task"], "claimer", "{body}");
    // The rest may be stopping already (the listener, say): "tasks" is among the reasons.
    assert_eq!(readyz["checks"]["tasks"], false, "{body}");
    let reasons = readyz["not_ready"]
        .as_array()
        .expect("not_ready lists the reasons");
    assert!(reasons.contains(&"tasks".into()), "{body}");

    let code = herald.wait(Duration::from_secs(60)).await;
    let took = killed.elapsed();
    let log = herald.log_text();
    assert_eq!(code, Some(EXIT_TASK_FAILED), "exit status:\n{log}");
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after the kill:\n{log}"
    );
    let naming: Vec<&str> = log.lines().filter(|l| l.contains("claimer")).collect();
    assert_eq!(naming.len(), 1, "one line names the claimer:\n{log}");
    assert!(
        naming[0].contains(" ERROR ") && naming[0].contains("panicked"),
        "it is the error line of its panic: {}",
        naming[0]
    );
    assert_eq!(error_lines(&log), naming, "the only error line:\n{log}");
}

#[tokio::test]
async fn run_exits_0_without_an_error_line_on_sigterm() {
    let db = TestDb::new().await;
    let (mut herald, _api) = ready_herald_with_hook(&db).await;

    herald.signal(libc::SIGTERM);
    let code = herald.wait(Duration::from_secs(60)).await;
    let log = herald.log_text();
    assert_eq!(code, Some(0), "exit status:\n{log}");
    assert!(error_lines(&log).is_empty(), "no error line:\n{log}");
    assert!(log.contains("herald stopped"), "{log}");
}
