//! The SVG plot: for every scenario, req/s (left) and server CPU us/request (right) per server,
//! bars at the median with a line from the lowest to the highest round.

use std::io;
use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::compare::{Cell, Scenario};
use crate::servers::ServerKind;
use crate::stats::median;

const PANEL: (u32, u32) = (520, 230);

/// Draws the plot to `path`.
pub fn draw(path: &Path, scenarios: &[Scenario], cells: &[Cell]) -> io::Result<()> {
    let rows = scenarios.len().max(1) as u32;
    let root = SVGBackend::new(path, (PANEL.0 * 2, PANEL.1 * rows + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let (title, body) = root.split_vertically(40);
    let heading = "ringpoll vs peers: echo over loopback (median, line = min..max of rounds)";
    title.titled(heading, ("sans-serif", 20)).map_err(plot_err)?;
    let panels = body.split_evenly((rows as usize, 2));
    for (si, sc) in scenarios.iter().enumerate() {
        let row: Vec<&Cell> = cells.iter().filter(|c| c.scenario == si).collect();
        let rps = |c: &Cell| c.samples.iter().map(|s| s.rps / 1000.0).collect::<Vec<_>>();
        let cpu = |c: &Cell| c.samples.iter().map(|s| s.cpu_us).collect::<Vec<_>>();
        bars(&panels[si * 2], &format!("{}: k req/s", sc.name), &row, rps)?;
        bars(&panels[si * 2 + 1], &format!("{}: server CPU us/req", sc.name), &row, cpu)?;
    }
    root.present().map_err(plot_err)
}

/// One panel: a bar per server at the median of `values(cell)`, with its min..max.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    row: &[&Cell],
    values: impl Fn(&Cell) -> Vec<f64>,
) -> io::Result<()> {
    let series: Vec<Vec<f64>> = row.iter().map(|c| values(c)).collect();
    let top = series.iter().flatten().copied().fold(0.0, f64::max).max(1e-9) * 1.1;
    let names: Vec<&str> = row.iter().map(|c| short(c.server)).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(48)
        .build_cartesian_2d((0..row.len() as i32).into_segmented(), 0.0..top)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(row.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).copied().unwrap_or("").to_string(),
            _ => String::new(),
        })
        .y_labels(5)
        .draw()
        .map_err(plot_err)?;
    for (i, (cell, vals)) in row.iter().zip(&series).enumerate() {
        if vals.is_empty() {
            continue;
        }
        let (x, color) = (i as i32, colour(cell.server));
        let (lo, hi) = vals.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let mut bar =
            Rectangle::new([(SegmentValue::Exact(x), 0.0), (SegmentValue::Exact(x + 1), median(vals))], color.filled());
        bar.set_margin(0, 0, 6, 6);
        let whisker = PathElement::new(
            vec![(SegmentValue::CenterOf(x), lo), (SegmentValue::CenterOf(x), hi)],
            BLACK.stroke_width(2),
        );
        chart.draw_series([bar]).map_err(plot_err)?;
        chart.draw_series([whisker]).map_err(plot_err)?;
    }
    Ok(())
}

fn short(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::RingpollEpoll => "rp-epoll",
        ServerKind::RingpollUring => "rp-uring",
        ServerKind::Tokio => "tokio",
        ServerKind::MonoioEpoll => "mo-epoll",
        ServerKind::MonoioUring => "mo-uring",
        ServerKind::BareEpoll => "bare",
        ServerKind::BareUring => "bare-ur",
        ServerKind::BareUringFixed => "bare-urf",
        ServerKind::RingpollEpollVec => "rp-epoll-vec",
        ServerKind::RingpollUringVec => "rp-uring-vec",
        ServerKind::BaselineEpoll => "base-epoll",
        ServerKind::BaselineUring => "base-uring",
    }
}

fn colour(kind: ServerKind) -> RGBColor {
    match kind {
        ServerKind::RingpollEpoll => RGBColor(52, 120, 198),
        ServerKind::RingpollUring => RGBColor(22, 60, 130),
        ServerKind::Tokio => RGBColor(230, 126, 34),
        ServerKind::MonoioEpoll => RGBColor(88, 180, 96),
        ServerKind::MonoioUring => RGBColor(30, 120, 50),
        ServerKind::BareEpoll => RGBColor(128, 128, 128),
        ServerKind::BareUring => RGBColor(64, 64, 64),
        ServerKind::BareUringFixed => RGBColor(32, 32, 32),
        ServerKind::RingpollEpollVec => RGBColor(120, 170, 230),
        ServerKind::RingpollUringVec => RGBColor(70, 110, 180),
        ServerKind::BaselineEpoll => RGBColor(190, 150, 220),
        ServerKind::BaselineUring => RGBColor(120, 70, 160),
    }
}

fn plot_err<E: std::fmt::Debug>(e: E) -> io::Error {
    io::Error::other(format!("plot: {e:?}"))
}
