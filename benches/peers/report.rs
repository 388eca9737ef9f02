//! The side-by-side table (markdown, also written with a CSV next to the plot).

use std::fmt::Write as _;

use crate::compare::{Cell, Scenario};
use crate::servers::ServerKind;
use crate::stats::{median, spread_pct};

/// Median figures of one cell, as the table and plot show them.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Median requests per second.
    pub rps: f64,
    /// ± half-range of req/s over rounds, percent of the median.
    pub rps_spread: f64,
    /// Median server CPU microseconds per request.
    pub cpu_us: f64,
    /// ± half-range of CPU/request, percent.
    pub cpu_spread: f64,
    /// Median p50, p99, p99.9 latency in microseconds.
    pub lat_us: [f64; 3],
    /// Median share of the machine busy with other work, percent.
    pub other_pct: f64,
}

/// Summarises a cell; `None` when every round failed.
pub fn summarize(cell: &Cell) -> Option<Summary> {
    if cell.samples.is_empty() {
        return None;
    }
    let rps: Vec<f64> = cell.samples.iter().map(|s| s.rps).collect();
    let cpu: Vec<f64> = cell.samples.iter().map(|s| s.cpu_us).collect();
    let lat = |q: usize| median(&cell.samples.iter().map(|s| s.lat_us[q]).collect::<Vec<_>>());
    Some(Summary {
        rps: median(&rps),
        rps_spread: spread_pct(&rps),
        cpu_us: median(&cpu),
        cpu_spread: spread_pct(&cpu),
        lat_us: [lat(0), lat(1), lat(2)],
        other_pct: median(&cell.samples.iter().map(|s| s.other_pct).collect::<Vec<_>>()),
    })
}

fn find(cells: &[Cell], scenario: usize, server: ServerKind) -> Option<Summary> {
    cells.iter().find(|c| c.scenario == scenario && c.server == server).and_then(summarize)
}

fn ratio(x: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 && x.is_finite() => format!("{:.2}", x / b),
        _ => "-".into(),
    }
}

/// The markdown table: one row per scenario and server.
pub fn markdown(scenarios: &[Scenario], cells: &[Cell]) -> String {
    let mut out = String::from(
        "| scenario | server | req/s | ± | p50 us | p99 us | p99.9 us | CPU us/req | ± | req/s vs tokio | req/s vs bare | CPU vs tokio | CPU vs bare | CPU vs bare-uring | other load |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (si, sc) in scenarios.iter().enumerate() {
        let tokio = find(cells, si, ServerKind::Tokio);
        let bare = find(cells, si, ServerKind::BareEpoll);
        let bare_uring = find(cells, si, ServerKind::BareUring);
        for cell in cells.iter().filter(|c| c.scenario == si) {
            let Some(s) = summarize(cell) else {
                let why = cell.errors.first().map(String::as_str).unwrap_or("no rounds");
                let _ = writeln!(out, "| {} | {} | FAILED: {why} |||||||||||||", sc.name, cell.server.name());
                continue;
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.1}% | {:.1} | {:.1} | {:.1} | {:.2} | {:.1}% | {} | {} | {} | {} | {} | {:.0}% |",
                sc.name,
                cell.server.name(),
                s.rps,
                s.rps_spread,
                s.lat_us[0],
                s.lat_us[1],
                s.lat_us[2],
                s.cpu_us,
                s.cpu_spread,
                ratio(s.rps, tokio.map(|t| t.rps)),
                ratio(s.rps, bare.map(|b| b.rps)),
                ratio(s.cpu_us, tokio.map(|t| t.cpu_us)),
                ratio(s.cpu_us, bare.map(|b| b.cpu_us)),
                ratio(s.cpu_us, bare_uring.map(|b| b.cpu_us)),
                s.other_pct,
            );
        }
    }
    out
}

/// Every sample, one line each, for anyone who wants to re-plot.
pub fn csv(scenarios: &[Scenario], cells: &[Cell]) -> String {
    let mut out = String::from("scenario,server,round,rps,cpu_us_per_req,p50_us,p99_us,p999_us,other_load_pct\n");
    for cell in cells {
        for (round, s) in cell.samples.iter().enumerate() {
            let _ = writeln!(
                out,
                "{},{},{},{:.1},{:.4},{:.2},{:.2},{:.2},{:.1}",
                scenarios[cell.scenario].name,
                cell.server.name(),
                round + 1,
                s.rps,
                s.cpu_us,
                s.lat_us[0],
                s.lat_us[1],
                s.lat_us[2],
                s.other_pct
            );
        }
    }
    out
}
