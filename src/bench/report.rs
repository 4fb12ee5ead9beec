//! What a scenario hands back: its settings and figures, printed as a table or as JSON, each
//! figure next to its target where there is one, and optionally a table over time.

use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub mode: String,
    /// Which run of `--runs N` this is (1-based); absent for a single run and for medians.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<usize>,
    /// `"median of N runs"` for the aggregate of `--runs N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<String>,
    pub settings: Vec<Setting>,
    pub figures: Vec<Figure>,
    /// Samples over time (the soak), every one of them in JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<Table>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

/// What a figure must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
    Equals(f64),
}

impl Goal {
    pub fn met(self, value: f64) -> bool {
        match self {
            Goal::AtLeast(t) => value >= t,
            Goal::AtMost(t) => value <= t,
            Goal::Equals(t) => value == t,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Goal::AtLeast(t) => format!(">= {t}"),
            Goal::AtMost(t) => format!("<= {t}"),
            Goal::Equals(t) => format!("= {t}"),
        }
    }
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
    #[serde(skip)]
    pub goal: Option<Goal>,
    /// Every run's value, for the median of `--runs N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<Value>>,
    /// In how many runs the target was met, for the median of `--runs N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_in_runs: Option<String>,
}

/// Rows over time: `columns` name each row's cells.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// Indexes of the rows printed in the text output (all when empty); JSON has every row.
    #[serde(skip)]
    pub shown: Vec<usize>,
}

impl Report {
    pub fn new(scenario: &str, mode: super::WakeMode) -> Self {
        Report {
            scenario: scenario.into(),
            mode: mode.name().into(),
            run: None,
            aggregate: None,
            settings: Vec::new(),
            figures: Vec::new(),
            samples: None,
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

    /// What every latency scenario states last: Herald's settings (`herald`), how the receiver
    /// answers and between which moments the latency is measured.
    pub fn latency_settings(&mut self, herald: String) -> &mut Self {
        self.setting("herald", herald)
            .setting("receiver", super::receiver::AT_ONCE)
            .setting("latency", super::receiver::LATENCY)
    }

    pub fn figure(&mut self, name: &str, value: impl Into<Value>, unit: &str) -> &mut Self {
        self.figures.push(Figure {
            name: name.into(),
            value: value.into(),
            unit: unit.into(),
            target: None,
            met: None,
            goal: None,
            runs: None,
            met_in_runs: None,
        });
        self
    }

    /// A figure with its target; `met` says whether the value reaches it.
    pub fn target(&mut self, name: &str, value: f64, unit: &str, goal: Goal) -> &mut Self {
        self.figures.push(Figure {
            name: name.into(),
            value: number(value),
            unit: unit.into(),
            target: Some(goal.describe()),
            met: Some(goal.met(round(value))),
            goal: Some(goal),
            runs: None,
            met_in_runs: None,
        });
        self
    }

    pub fn note(&mut self, note: impl Into<String>) -> &mut Self {
        self.notes.push(note.into());
        self
    }

    pub fn print(&self) {
        println!();
        let mut title = format!("== {} ({})", self.scenario, self.mode);
        if let Some(run) = self.run {
            title.push_str(&format!(", run {run}"));
        }
        if let Some(a) = &self.aggregate {
            title.push_str(&format!(", {a}"));
        }
        println!("{title} ==");
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
            let value = display(&f.value);
            let target = match (&f.target, f.met) {
                (Some(t), Some(true)) => format!("   target {t}: met"),
                (Some(t), Some(false)) => format!("   target {t}: MISSED"),
                _ => String::new(),
            };
            let in_runs = match &f.met_in_runs {
                Some(m) => format!(" (met in {m} runs)"),
                None => String::new(),
            };
            let runs = match &f.runs {
                Some(r) => format!(
                    "   runs: {}",
                    r.iter().map(display).collect::<Vec<_>>().join(" · ")
                ),
                None => String::new(),
            };
            println!(
                "  {:width$}  {value} {}{target}{in_runs}{runs}",
                f.name, f.unit
            );
        }
        if let Some(t) = &self.samples {
            t.print();
        }
        for n in &self.notes {
            println!("  note: {n}");
        }
    }
}

impl Table {
    fn print(&self) {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(i, _)| self.shown.is_empty() || self.shown.contains(i))
            .map(|(_, row)| row.iter().map(cell).collect())
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cells
                    .iter()
                    .filter_map(|r| r.get(i).map(String::len))
                    .chain([c.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |row: &[String]| {
            let parts: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            println!("  {}", parts.join("  "));
        };
        println!();
        line(&self.columns);
        for row in &cells {
            line(row);
        }
        if !self.shown.is_empty() && self.shown.len() < self.rows.len() {
            println!(
                "  ({} of {} samples shown; --json has them all)",
                cells.len(),
                self.rows.len()
            );
        }
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(" | "),
        v => v.to_string(),
    }
}

/// A table cell: numbers of 10,000 and more shortened (`12.3k`, `1.23M`), arrays as their
/// values joined by `/`, null as `-`.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.abs() >= 1e6 => format!("{:.2}M", x / 1e6),
            Some(x) if x.abs() >= 1e4 => format!("{:.1}k", x / 1e3),
            _ => n.to_string(),
        },
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join("/"),
        v => display(v),
    }
}

/// A figure's value: whole numbers as integers, others rounded to 3 decimals.
pub fn number(x: f64) -> Value {
    let x = round(x);
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
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
            out.figure(
                &format!("{} {}", r.scenario, f.name),
                json!({ "notify": f.value, "poll_only": other }),
                &f.unit,
            );
        }
    }
    out.note(
        "value: {notify, poll_only}; poll-only waits for the safety poll (HERALD_POLL_INTERVAL)",
    );
    out
}
