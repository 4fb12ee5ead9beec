//! `--runs N`: a scenario run N times, every run's figures listed, and the median of each.
//! A target is judged on the median, and the aggregate also says in how many runs it held.

use serde_json::Value;

use super::report::{number, Report};

/// One aggregate report per report position: run k's i-th report is grouped with every other
/// run's i-th report (a run of a scenario always yields the same sequence of reports).
pub fn medians(runs: &[Vec<Report>]) -> Vec<Report> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    (0..first.len())
        .filter_map(|i| {
            let group: Vec<&Report> = runs.iter().filter_map(|r| r.get(i)).collect();
            let same = group
                .iter()
                .all(|r| r.scenario == group[0].scenario && r.mode == group[0].mode);
            (same && group.len() == runs.len()).then(|| median_report(&group))
        })
        .collect()
}

fn median_report(group: &[&Report]) -> Report {
    let mut out = group[0].clone();
    out.run = None;
    out.aggregate = Some(format!("median of {} runs", group.len()));
    out.samples = None;
    out.notes = group
        .iter()
        .enumerate()
        .flat_map(|(k, r)| r.notes.iter().map(move |n| format!("run {}: {n}", k + 1)))
        .collect();
    for f in &mut out.figures {
        let values: Vec<Value> = group
            .iter()
            .map(|r| {
                r.figures
                    .iter()
                    .find(|g| g.name == f.name)
                    .map(|g| g.value.clone())
                    .unwrap_or(Value::Null)
            })
            .collect();
        f.value = median_value(&values);
        if let Some(goal) = f.goal {
            let met = values
                .iter()
                .filter(|v| v.as_f64().is_some_and(|x| goal.met(x)))
                .count();
            f.met = f.value.as_f64().map(|x| goal.met(x));
            f.met_in_runs = Some(format!("{met} of {}", values.len()));
        }
        f.runs = Some(values);
    }
    out
}

/// The median of numbers (the mean of the middle two for an even count); of objects, the
/// median of each key; otherwise the first value.
pub fn median_value(values: &[Value]) -> Value {
    let numbers: Option<Vec<f64>> = values.iter().map(Value::as_f64).collect();
    if let Some(mut xs) = numbers.filter(|x| !x.is_empty()) {
        xs.sort_by(|a, b| a.total_cmp(b));
        let n = xs.len();
        let m = if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        };
        return number(m);
    }
    if let Some(Value::Object(first)) = values.first() {
        if values.iter().all(Value::is_object) {
            let merged = first
                .keys()
                .map(|k| {
                    let column: Vec<Value> = values
                        .iter()
                        .map(|v| v.get(k).cloned().unwrap_or(Value::Null))
                        .collect();
                    (k.clone(), median_value(&column))
                })
                .collect();
            return Value::Object(merged);
        }
    }
    values.first().cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bench::{report::Goal, WakeMode};

    fn report(rate: f64, lost: f64) -> Report {
        let mut r = Report::new("drain", WakeMode::Notify);
        r.target("rate", rate, "/s", Goal::AtLeast(10.0))
            .target("lost", lost, "", Goal::Equals(0.0))
            .figure("label", "x", "");
        r
    }

    #[test]
    fn medians_take_the_middle_run_and_count_the_runs_that_met_the_target() {
        let runs = vec![
            vec![report(12.0, 0.0)],
            vec![report(8.0, 0.0)],
            vec![report(30.0, 2.0)],
        ];
        let m = &medians(&runs)[0];
        assert_eq!(m.aggregate.as_deref(), Some("median of 3 runs"));
        let rate = &m.figures[0];
        assert_eq!(rate.value, json!(12));
        assert_eq!(rate.met, Some(true));
        assert_eq!(rate.met_in_runs.as_deref(), Some("2 of 3"));
        assert_eq!(rate.runs, Some(vec![json!(12), json!(8), json!(30)]));
        let lost = &m.figures[1];
        assert_eq!(lost.value, json!(0));
        assert_eq!(lost.met_in_runs.as_deref(), Some("2 of 3"));
        assert_eq!(m.figures[2].value, json!("x"));
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(
            median_value(&[json!(1), json!(4), json!(2), json!(3)]),
            json!(2.5)
        );
    }

    #[test]
    fn median_of_objects_is_taken_per_key() {
        let v = [
            json!({"notify": 1.0, "poll_only": 900.0}),
            json!({"notify": 3.0, "poll_only": 1000.0}),
            json!({"notify": 2.0, "poll_only": 800.0}),
        ];
        assert_eq!(median_value(&v), json!({"notify": 2, "poll_only": 900}));
    }

    #[test]
    fn medians_skip_positions_whose_scenarios_differ_between_runs() {
        let mut other = report(1.0, 0.0);
        other.scenario = "steady".into();
        let runs = vec![vec![report(1.0, 0.0)], vec![other]];
        assert!(medians(&runs).is_empty());
    }
}
