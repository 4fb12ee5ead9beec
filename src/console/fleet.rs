//! The fleet screen: replicas seen (worker id, host, version, last seen), the leader, queue
//! depth by status, the oldest due delivery, and deliveries/s and failures/s over the last 15
//! minutes as a small chart. One call to `store::fleet::overview` (bounded reads: 100 registry
//! rows, the leader view, four snapshot rows, the first due-index entry, 15 rollup rows).

use std::fmt::Write;

use bytes::Bytes;
use chrono::{DurationRound, TimeDelta, Utc};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::{
    html::{esc, page, respond},
    Ctx,
};
use crate::{
    api::error::ApiError,
    domain::status::DeliveryStatus,
    store::{fleet, stats::MinuteRate},
};

const MINUTES: i32 = 15;

pub async fn screen(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, ApiError> {
    let o = fleet::overview(&ctx.state.pool, MINUTES, 100)
        .await
        .map_err(|e| ApiError::internal("reading the fleet", &e))?;
    let now = Utc::now();
    let leader = o.leader.as_ref().map(|l| l.worker_id.clone());
    let mut body = String::from(
        "<h2>Replicas (seen in the last 24 hours)</h2><table id=\"replicas\"><thead><tr><th>Worker id</th><th>Host</th><th>Version</th><th>Started</th><th>Last seen</th><th>Role</th></tr></thead><tbody>",
    );
    for r in &o.replicas {
        let role = if leader.as_deref() == Some(r.worker_id.to_string().as_str()) {
            "leader"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{} s ago</td><td>{role}</td></tr>",
            r.worker_id,
            esc(&r.host),
            esc(&r.version),
            r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            (now - r.last_seen_at).num_seconds().max(0)
        );
    }
    if o.replicas.is_empty() {
        body += "<tr><td colspan=\"6\" class=\"muted\">no replica seen</td></tr>";
    }
    body += "</tbody></table>";
    let _ = write!(
        body,
        "<p id=\"leader\">Leader: {}</p>",
        match &o.leader {
            Some(l) => format!(
                "<code>{}</code> (session since {})",
                esc(&l.worker_id),
                l.since.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => "<span class=\"muted\">nobody leads</span>".to_owned(),
        }
    );
    body += "<h2>Queue</h2><table id=\"queue\"><thead><tr><th>Status</th><th>Deliveries</th></tr></thead><tbody>";
    for s in DeliveryStatus::UNFINISHED_FIRST {
        let n = o.queue.by_status.get(s.as_str()).copied().unwrap_or(0);
        let _ = write!(
            body,
            "<tr><td class=\"status-{s}\">{s}</td><td class=\"num\">{n}</td></tr>"
        );
    }
    let _ = write!(
        body,
        "</tbody></table><p class=\"muted\">Counted {} by the leader. Oldest due delivery: {}.</p>",
        o.queue.counted_at.map_or_else(
            || "not yet".to_owned(),
            |t| t.format("%H:%M:%S UTC").to_string()
        ),
        o.queue.oldest_due.map_or_else(
            || "none".to_owned(),
            |t| format!(
                "due since {} ({} s)",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                (now - t).num_seconds().max(0)
            )
        )
    );
    let _ = write!(
        body,
        "<h2>Last {MINUTES} minutes</h2><p>Last complete minute: {:.1} deliveries/s, {:.1} failures/s.</p>{}",
        o.deliveries_per_s,
        o.failures_per_s,
        chart(&o.per_minute)
    );
    Ok(respond(
        StatusCode::OK,
        page("Fleet", Some(&ctx.csrf), &body),
    ))
}

/// Bars per minute (deliveries/s green, failures/s red), oldest left; an inline SVG.
fn chart(rates: &[MinuteRate]) -> String {
    let now = Utc::now();
    let current = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let minutes: Vec<_> = (0..MINUTES)
        .rev()
        .map(|i| current - TimeDelta::minutes(i64::from(i)))
        .collect();
    let per_s = |m: &chrono::DateTime<Utc>| {
        rates
            .iter()
            .find(|r| r.minute == *m)
            .map_or((0.0, 0.0), |r| {
                (r.delivered as f64 / 60.0, r.failed as f64 / 60.0)
            })
    };
    let max = minutes
        .iter()
        .map(|m| {
            let (d, f) = per_s(m);
            d.max(f)
        })
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let (w, h, bar) = (600.0, 120.0, 600.0 / f64::from(MINUTES));
    let mut svg = format!(
        "<svg id=\"rates-chart\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"deliveries and failures per second\">",
        h + 20.0,
        h + 20.0
    );
    for (i, m) in minutes.iter().enumerate() {
        let (d, f) = per_s(m);
        let x = i as f64 * bar;
        let dh = d / max * h;
        let fh = f / max * h;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{dh:.1}\" fill=\"#1a7f37\"><title>{} deliveries/s {d:.2}</title></rect>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{fh:.1}\" fill=\"#b42318\"><title>{} failures/s {f:.2}</title></rect>",
            x + 2.0,
            h - dh,
            bar / 2.0 - 2.0,
            m.format("%H:%M"),
            x + bar / 2.0,
            h - fh,
            bar / 2.0 - 2.0,
            m.format("%H:%M"),
        );
        if i % 5 == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{}\" font-size=\"10\">{}</text>",
                h + 14.0,
                m.format("%H:%M")
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"10\" font-size=\"10\" text-anchor=\"end\">max {max:.1}/s</text></svg>",
        w - 4.0
    );
    svg
}
