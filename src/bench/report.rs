//! What a scenario hands back: its settings and figures, printed as a table or as JSON, each
//! figure next to its SPEC §6 target where there is one.

use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub mode: String,
    pub settings: Vec<Setting>,
    pub figures: Vec<Figure>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: Value,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether the target is met, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

impl Report {
    pub fn new(scenario: &str, mode: super::WakeMode) -> Self {
        Report {
            scenario: scenario.into(),
            mode: mode.name().into(),
            settings: Vec::new(),
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn setting(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.settings.push(Setting {
            name: name.into(),
            value: value.to_string(),
        });
        self
    }

    pub fn figure(&mut self, name: &str, value: impl Into<Value>, unit: &str) -> &mut Self {
        self.figures.push(Figure {
            name: name.into(),
            value: value.into(),
            unit: unit.into(),
            target: None,
            met: None,
        });
        self
    }

    /// A figure with its target; `met` says whether the value reaches it.
    pub fn target(
        &mut self,
        name: &str,
        value: f64,
        unit: &str,
        target: &str,
        met: bool,
    ) -> &mut Self {
        self.figures.push(Figure {
            name: name.into(),
            value: json!(round(value)),
            unit: unit.into(),
            target: Some(target.into()),
            met: Some(met),
        });
        self
    }

    pub fn note(&mut self, note: impl Into<String>) -> &mut Self {
        self.notes.push(note.into());
        self
    }

    pub fn print(&self) {
        println!();
        println!("== {} ({}) ==", self.scenario, self.mode);
        let width = self
            .settings
            .iter()
            .map(|s| s.name.len())
            .chain(self.figures.iter().map(|f| f.name.len()))
            .max()
            .unwrap_or(0);
        for s in &self.settings {
            println!("  {:width$}  {}", s.name, s.value);
        }
        println!("  {}", "-".repeat(width + 40));
        for f in &self.figures {
            let value = match &f.value {
                Value::String(s) => s.clone(),
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(" | "),
                v => v.to_string(),
            };
            let target = match (&f.target, f.met) {
                (Some(t), Some(true)) => format!("   target {t}: met"),
                (Some(t), Some(false)) => format!("   target {t}: MISSED"),
                _ => String::new(),
            };
            println!("  {:width$}  {value} {}{target}", f.name, f.unit);
        }
        for n in &self.notes {
            println!("  note: {n}");
        }
    }
}

/// Rounds to 3 decimals for display and JSON.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// NOTIFY vs poll-only, side by side: every latency figure (`… ms`) of reports of the same
/// scenario in both modes.
pub fn compare(reports: &[&Report]) -> Report {
    let mut out = Report::new("notify-vs-poll-only", super::WakeMode::Notify);
    out.mode = "both".into();
    for r in reports.iter().filter(|r| r.mode == "notify") {
        let Some(poll) = reports
            .iter()
            .find(|p| p.mode == "poll-only" && p.scenario == r.scenario)
        else {
            continue;
        };
        for f in r
            .figures
            .iter()
            .filter(|f| f.unit == "ms" || f.name == "lost")
        {
            let other = poll
                .figures
                .iter()
                .find(|g| g.name == f.name)
                .map(|g| g.value.clone())
                .unwrap_or(Value::Null);
            out.figures.push(Figure {
                name: format!("{} {}", r.scenario, f.name),
                value: json!({ "notify": f.value, "poll_only": other }),
                unit: f.unit.clone(),
                target: None,
                met: None,
            });
        }
    }
    out.note(
        "value: {notify, poll_only}; poll-only waits for the safety poll (HERALD_POLL_INTERVAL)",
    );
    out
}
