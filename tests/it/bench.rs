//! `herald bench` runs end to end and reports figures: each scenario at a tiny size, so none
//! of them rots. Speed is measured, never asserted.

use std::{process::Command, time::Duration};

use serde_json::Value;

use crate::{
    harness::{eventually, succeeded, TestDb},
    process::HeraldProcess,
};

/// Runs `herald bench --json --quiet <args>` (`args` split at spaces) against a fresh
/// database; the reports.
async fn bench(args: &str) -> Vec<Value> {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let args: Vec<String> = ["bench", "--json", "--quiet"]
        .into_iter()
        .chain(args.split_whitespace())
        .map(|s| s.to_string())
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(&args)
            .env("DATABASE_URL", url)
            .env_remove("HERALD_BENCH_LOG")
            .output()
    })
    .await
    .expect("join")
    .expect("run herald bench");
    let stdout = succeeded(&output, "herald bench");
    match serde_json::from_str(&stdout) {
        Ok(Value::Array(reports)) => reports,
        other => panic!("expected a JSON array of reports, got {other:?}: {stdout}"),
    }
}

/// The value of the entry `name` in the list `list` ("figures", "settings") of `report`.
fn entry<'a>(report: &'a Value, list: &str, name: &str) -> &'a Value {
    let entries = report[list].as_array().expect(list);
    let found = entries.iter().find(|e| e["name"] == name);
    &found.unwrap_or_else(|| panic!("no {list} entry {name:?} in {report:#}"))["value"]
}

/// The value of the figure `name` of `report`.
fn figure(report: &Value, name: &str) -> Value {
    entry(report, "figures", name).clone()
}

fn number(report: &Value, name: &str) -> f64 {
    figure(report, name)
        .as_f64()
        .unwrap_or_else(|| panic!("figure {name:?} is not a number in {report:#}"))
}

fn setting(report: &Value, name: &str) -> String {
    let value = entry(report, "settings", name);
    value.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_drain_reports_http_engine_only_and_database_rates_side_by_side() {
    let reports = bench("drain --events 1000").await;
    let r = &reports[0];
    assert_eq!(r["scenario"], "drain");
    assert!(setting(r, "layout").starts_with("4 users x 25 webhooks = 100 webhooks"));
    for leg in ["HTTP", "engine-only"] {
        assert!(number(r, &format!("{leg} deliveries/s")) > 0.0, "{r:#}");
        assert_eq!(number(r, &format!("{leg}: delivered rows")), 1000.0);
        assert_eq!(number(r, &format!("{leg}: attempts recorded")), 1000.0);
    }
    assert!(number(r, "database ceiling rows/s") > 0.0, "{r:#}");
    assert_eq!(number(r, "HTTP: duplicate requests"), 0.0);
    let ratio = number(r, "HTTP / engine-only");
    let expected = number(r, "HTTP deliveries/s") / number(r, "engine-only deliveries/s") * 100.0;
    assert!((ratio - expected).abs() < 0.01, "{ratio} vs {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_drain_sends_every_delivery_to_one_endpoint_with_webhooks_1() {
    let reports = bench("drain --events 200 --webhooks 1 --http-only").await;
    let r = &reports[0];
    assert!(
        setting(r, "layout").starts_with("1 users x 1 webhooks = 1 webhooks; 200 events"),
        "{r:#}"
    );
    assert_eq!(number(r, "HTTP: delivered rows"), 200.0);
    assert!(
        r["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .all(|f| !f["name"].as_str().unwrap_or("").starts_with("engine-only")),
        "--http-only ran another leg: {r:#}"
    );
}

#[test]
fn bench_engine_only_option_of_run_is_hidden_from_help() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["run", "--help"])
        .output()
        .expect("herald run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    assert!(help.contains("--migrate"), "{help}");
    assert!(!help.contains("engine-only"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_engine_only_run_warns_at_start_that_nothing_is_sent() {
    let db = TestDb::new().await;
    let herald = HeraldProcess::spawn_with_args(&db.url, &["--bench-engine-only"], &[]);
    eventually(
        "herald run --bench-engine-only warns",
        Duration::from_secs(60),
        || std::future::ready(herald.log_text().contains("NOTHING IS SENT")),
    )
    .await;
    assert!(
        herald.log_text().contains("WARN"),
        "the warning is not at level warn: {}",
        herald.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_steady_batches_producer_statements_and_loses_nothing() {
    let reports = bench("steady --rate 1000 --seconds 1 --batch-max 10").await;
    let r = &reports[0];
    assert!(setting(r, "producers").contains("at most 10"), "{r:#}");
    assert_eq!(number(r, "events committed"), 1000.0);
    let per_statement = number(r, "events per statement (mean)");
    assert!((1.0..=10.0).contains(&per_statement), "{r:#}");
    assert_eq!(number(r, "lost"), 0.0, "{r:#}");
    let p99 = r["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .find(|f| f["name"] == "p99")
        .expect("p99")
        .clone();
    assert_eq!(p99["target"], "<= 25", "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_soak_samples_claim_p99_tuples_notify_queue_and_memory() {
    let reports = bench("soak --minutes 0.05 --sample-seconds 1 --rate 200").await;
    let r = &reports[0];
    assert_eq!(r["scenario"], "soak");
    let samples = &r["samples"];
    let columns: Vec<&str> = samples["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in ["claim p99 ms", "RSS MiB", "notify queue"] {
        assert!(columns.contains(&c), "{columns:?}");
    }
    for table in ["queue", "deliveries", "delivery_attempts"] {
        let column = format!("{table} live/dead");
        assert!(columns.contains(&column.as_str()), "{columns:?}");
    }
    let rows = samples["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "one sample a second for 3 s: {rows:?}");
    let claims: f64 = rows.iter().filter_map(|row| row[2].as_f64()).sum();
    assert!(claims > 0.0, "no claim observed in the samples: {rows:?}");
    assert!(number(r, "herald RSS, max") > 1.0, "{r:#}");
    assert!(number(r, "claim p99, first 1 s") > 0.0, "{r:#}");
    assert!(number(r, "claim p99, last 1 s") > 0.0, "{r:#}");
    assert!(number(r, "pg_notification_queue_usage(), max") >= 0.0);
    assert_eq!(number(r, "lost"), 0.0, "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_replicas_report_rate_ratio_and_duplicates_per_count() {
    let reports = bench("replicas --events 300 --counts 1,2").await;
    let r = &reports[0];
    assert_eq!(r["scenario"], "replicas");
    for n in ["1 replica", "2 replicas"] {
        assert_eq!(number(r, &format!("{n}: delivered rows")), 300.0, "{r:#}");
        assert_eq!(number(r, &format!("{n}: duplicate requests")), 0.0, "{r:#}");
        assert!(number(r, &format!("{n}: deliveries/s")) > 0.0);
    }
    let ratio = number(r, "2 replicas: rate / 1 replica");
    let expected =
        number(r, "2 replicas: deliveries/s") / number(r, "1 replica: deliveries/s") * 100.0;
    assert!((ratio - expected).abs() < 0.5, "{ratio} vs {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fairness_measures_healthy_latency_beside_a_dead_webhook_and_a_slow_one_alone() {
    let reports = bench("fairness --seconds 1 --rate 100 --healthy 10 --slow-deliveries 100").await;
    let r = &reports[0];
    assert_eq!(r["scenario"], "fairness");
    assert_eq!(number(r, "(a) lost, both halves"), 0.0, "{r:#}");
    assert!(
        number(r, "(a) requests left unanswered (dead webhook)") >= 1.0,
        "the dead webhook got no request: {r:#}"
    );
    assert!(number(r, "(a) healthy p99 with the dead webhook") > 0.0);
    assert!(number(r, "(b) deliveries/s") > 0.0);
    assert!(
        number(r, "(b) most requests waiting at once") > 1.0,
        "the slow endpoint was never sent two requests at once: {r:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_lists_every_run_and_the_median_of_each_figure() {
    let reports = bench("--runs 2 fan-out --webhooks 10 --repetitions 3").await;
    assert_eq!(reports.len(), 3, "{reports:#?}");
    assert_eq!(reports[0]["run"], 1);
    assert_eq!(reports[1]["run"], 2);
    let median = &reports[2];
    assert_eq!(median["aggregate"], "median of 2 runs");
    let insert = median["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .find(|f| f["name"] == "insert (writes the rows), median")
        .expect("the insert figure")
        .clone();
    let runs: Vec<f64> = insert["runs"]
        .as_array()
        .expect("every run's value")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(runs.len(), 2);
    let mean = (runs[0] + runs[1]) / 2.0;
    assert!((insert["value"].as_f64().expect("median") - mean).abs() < 0.01);
    assert!(insert["met_in_runs"]
        .as_str()
        .expect("met in")
        .ends_with("of 2"));
    assert_eq!(number(median, "delivery rows per event"), 10.0);
}
