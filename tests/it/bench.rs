//! `herald bench` runs end to end and reports figures. Speed is measured, never asserted.

use std::process::Command;

use crate::harness::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_drain_reports_deliveries_per_second() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["bench", "--json", "--quiet", "drain", "--events", "2000"])
            .env("DATABASE_URL", url)
            .output()
    })
    .await
    .expect("join")
    .expect("run herald bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "herald bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reports: serde_json::Value = serde_json::from_str(&stdout).expect("JSON reports");
    let figures = reports[0]["figures"].as_array().expect("figures");
    let figure = |name: &str| {
        figures
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no figure {name}: {stdout}"))["value"]
            .clone()
    };
    assert_eq!(reports[0]["scenario"], "drain");
    assert!(
        figure("deliveries/s").as_f64().unwrap_or(0.0) > 0.0,
        "{stdout}"
    );
    assert_eq!(figure("delivered rows").as_u64(), Some(2000), "{stdout}");
    assert_eq!(figure("duplicate requests").as_u64(), Some(0), "{stdout}");
}
