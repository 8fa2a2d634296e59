//! Plots of a [`BenchReport`] as SVG and PNG.
//!
//! Text is drawn with DejaVu Sans, compiled into the binary from
//! `assets/fonts/` (licence next to it), so PNGs render the same on a
//! machine without any system font.

// Pixel coordinates are small and positive.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{BenchReport, PointResult, SchemeResult, names, series};
use crate::{Error, Result};

/// The font every label is drawn with.
pub(crate) static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// Family name the font is registered under.
pub(crate) const FAMILY: &str = "sans-serif";
/// Image size in pixels.
const SIZE: (u32, u32) = (1100, 650);

pub(crate) fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok { Ok(()) } else { Err(Error::Plot("the bundled font does not parse".into())) }
}

pub(crate) fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

/// One chart: log-log lines, one per series.
#[derive(Debug)]
struct Chart {
    file: &'static str,
    title: String,
    x_label: &'static str,
    y_label: &'static str,
    series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Writes the four charts, each as `.svg` and `.png`, into `dir`. Charts
/// with no data (no synthetic points) are skipped.
///
/// # Errors
/// [`Error::Plot`] if drawing or encoding fails.
pub fn write_plots(report: &BenchReport, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    let mut files = Vec::new();
    for chart in charts(&report.points) {
        if chart.series.iter().all(|(_, s)| s.is_empty()) {
            continue;
        }
        let svg = dir.join(format!("{}.svg", chart.file));
        draw(SVGBackend::new(&svg, SIZE).into_drawing_area(), &chart)?;
        files.push(svg);
        let png = dir.join(format!("{}.png", chart.file));
        draw(BitMapBackend::new(&png, SIZE).into_drawing_area(), &chart)?;
        files.push(png);
    }
    Ok(files)
}

fn per_scheme(points: &[PointResult], f: impl Fn(&SchemeResult) -> f64 + Copy) -> Vec<(String, Vec<(f64, f64)>)> {
    names(points).into_iter().map(|n| (n.clone(), series(points, &n, f))).collect()
}

fn charts(points: &[PointResult]) -> Vec<Chart> {
    let is_baseline = |n: &str| n.starts_with("baseline");
    let mut bytes = per_scheme(points, |s| s.bytes_sent_per_query + s.bytes_received_per_query);
    for (name, s) in per_scheme(points, |s| s.cold_bytes_received as f64) {
        if is_baseline(&name) {
            bytes.push((format!("{name}, cold"), s));
        }
    }
    vec![
        Chart {
            file: "search_latency",
            title: "Search latency vs corpus size (baselines: warm device)".into(),
            x_label: "messages in the corpus",
            y_label: "mean time per query (µs)",
            series: per_scheme(points, |s| s.mean_query_us),
        },
        Chart {
            file: "bytes_per_query",
            title: "Bytes on the wire per query (baselines, cold: until the first result)".into(),
            x_label: "messages in the corpus",
            y_label: "bytes per query",
            series: bytes,
        },
        Chart {
            file: "setup_throughput",
            title: "Setup throughput (seal, index, upload; baselines: seal and upload)".into(),
            x_label: "messages in the corpus",
            y_label: "messages per second",
            series: per_scheme(
                points,
                |s| if s.setup_us_per_message > 0.0 { 1e6 / s.setup_us_per_message } else { 0.0 },
            ),
        },
        Chart {
            file: "crossover",
            title: "Time to first result on a new device: server-assisted vs client-only".into(),
            x_label: "messages in the corpus",
            y_label: "seconds to first result",
            series: per_scheme(points, |s| s.cold_first_result_seconds),
        },
    ]
}

/// Short axis labels: 1k, 10k, 1M, 0.01.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trim(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

#[allow(clippy::cast_possible_truncation)] // legend rows and decimal counts are small
fn trim(v: f64) -> String {
    let a = v.abs();
    if a > 0.0 && a < 1e-3 {
        return format!("{v:.0e}");
    }
    // Two significant digits below 10, so 0.01 and 0.002 stay apart.
    let decimals = if a >= 10.0 || a == 0.0 { 0 } else { ((-a.log10()).ceil().max(0.0) as usize) + 1 };
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Pad by a factor so end points are not on the frame; a single value gets a decade around it.
    (hi > 0.0).then(|| if hi / lo < 1.5 { (lo / 3.0, hi * 3.0) } else { (lo / 1.6, hi * 1.6) })
}

#[allow(clippy::cast_possible_truncation)] // legend rows and decimal counts are small
fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let pts = || chart.series.iter().flat_map(|(_, s)| s.iter());
    let (Some((x0, x1)), Some((y0, y1))) = (bounds(pts().map(|p| p.0)), bounds(pts().map(|p| p.1))) else {
        return Err(Error::Plot(format!("{}: no positive values to plot", chart.file)));
    };
    let (plot_area, legend_area) = root.split_horizontally(SIZE.0 * 3 / 4);
    let mut c = ChartBuilder::on(&plot_area)
        .caption(&chart.title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, 13))
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    for (i, (name, s)) in chart.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let valid: Vec<(f64, f64)> = s.iter().copied().filter(|(x, y)| *x > 0.0 && *y > 0.0).collect();
        if valid.is_empty() {
            continue;
        }
        c.draw_series(LineSeries::new(valid.clone(), color.stroke_width(2))).map_err(plot_error)?;
        c.draw_series(valid.iter().map(|p| Circle::new(*p, 4, color.filled()))).map_err(plot_error)?;
        // The legend sits beside the plot, so it never hides a line.
        let y = 40 + 24 * i as i32;
        legend_area.draw(&PathElement::new(vec![(10, y), (40, y)], color.stroke_width(3))).map_err(plot_error)?;
        legend_area.draw(&Circle::new((25, y), 4, color.filled())).map_err(plot_error)?;
        legend_area
            .draw(&Text::new(name.clone(), (48, y - 8), (FAMILY, 15).into_font().color(&BLACK)))
            .map_err(plot_error)?;
    }
    legend_area.draw(&Text::new("legend", (10, 10), (FAMILY, 15).into_font().color(&BLACK))).map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_labels() {
        assert_eq!(short(1000.0), "1k");
        assert_eq!(short(1_000_000.0), "1M");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(0.01), "0.01");
        assert_eq!(short(0.002), "0.002");
        assert_eq!(short(0.0001), "1e-4");
        assert_eq!(short(25_000.0), "25k");
        assert!(bounds([1.0, 10.0].into_iter()).is_some());
        assert!(bounds([0.0].into_iter()).is_none());
    }
}
