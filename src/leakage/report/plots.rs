//! Cost-versus-recovery plots of the report, one per scheme, with the
//! worst-case frontier over all attacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::AttackReport;
use crate::bench::plot::{FAMILY, plot_error, register_font};
use crate::{Error, Result};

impl AttackReport {
    /// Writes one cost-versus-recovery plot per scheme (`frontier-SCHEME.svg`/`.png`):
    /// x is the extra bytes per query a countermeasure costs, y the
    /// recovery at the highest known fraction, one line per attack.
    ///
    /// # Errors
    /// [`Error::Plot`] and I/O errors.
    pub fn write_plots(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        register_font()?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let top = self.rows.iter().map(|r| r.known).fold(0.0, f64::max);
        let mut files = Vec::new();
        let mut schemes: Vec<&str> = self.costs.iter().map(|c| c.scheme.as_str()).collect();
        schemes.dedup();
        for scheme in schemes {
            let mut series: BTreeMap<String, Vec<(f64, f64, String)>> = BTreeMap::new();
            for r in self.rows.iter().filter(|r| r.scheme == scheme && (r.known == top || r.known == 0.0)) {
                let Some(c) = self.cost(scheme, &r.countermeasure) else { continue };
                series.entry(r.attack.clone()).or_default().push((
                    c.extra_bytes_per_query_pct.max(0.0),
                    r.mean * 100.0,
                    r.countermeasure.clone(),
                ));
            }
            for s in series.values_mut() {
                s.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            if series.values().all(|s| s.len() < 2) {
                continue;
            }
            let frontier = worst_case_frontier(&series);
            let title = format!("{scheme}: recovery (known {top}) vs bandwidth cost of countermeasures");
            for ext in ["svg", "png"] {
                let path = dir.join(format!("frontier-{scheme}.{ext}"));
                if ext == "svg" {
                    draw_frontier(SVGBackend::new(&path, (1100, 650)).into_drawing_area(), &title, &series, &frontier)?;
                } else {
                    draw_frontier(
                        BitMapBackend::new(&path, (1100, 650)).into_drawing_area(),
                        &title,
                        &series,
                        &frontier,
                    )?;
                }
                files.push(path);
            }
        }
        Ok(files)
    }
}

/// The trade-off frontier: per countermeasure, the worst recovery over all
/// attacks; kept are the countermeasures no cheaper one beats (lower
/// worst-case recovery at lower cost), sorted by cost.
fn worst_case_frontier(series: &BTreeMap<String, Vec<(f64, f64, String)>>) -> Vec<(f64, f64, String)> {
    let mut worst: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (x, y, cm) in series.values().flatten() {
        let e = worst.entry(cm.as_str()).or_insert((*x, *y));
        e.1 = e.1.max(*y);
    }
    let mut points: Vec<(f64, f64, String)> = worst.into_iter().map(|(cm, (x, y))| (x, y, cm.to_owned())).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut best = f64::INFINITY;
    points.retain(|p| {
        let keep = p.1 < best;
        best = best.min(p.1);
        keep
    });
    points
}

/// Draws one frontier chart: a point per (attack, countermeasure), the
/// frontier as a labelled line, the legend on the right.
#[allow(clippy::cast_possible_truncation)] // legend rows are few
fn draw_frontier<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &BTreeMap<String, Vec<(f64, f64, String)>>,
    frontier: &[(f64, f64, String)],
) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let x_max = series.values().flatten().map(|p| p.0).fold(1.0, f64::max) * 1.1;
    let (plot_area, legend_area) = root.split_horizontally(1100 * 3 / 4);
    let mut c = ChartBuilder::on(&plot_area)
        .caption(title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..105.0)
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc("extra bytes per query (%)")
        .y_desc("recovered (%)")
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    // Points, not lines: countermeasures of different kinds are not a sequence.
    for (i, (name, s)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        c.draw_series(s.iter().map(|p| Circle::new((p.0, p.1), 5, color.filled()))).map_err(plot_error)?;
        let y = 40 + 24 * i as i32;
        legend_area.draw(&Circle::new((25, y), 5, color.filled())).map_err(plot_error)?;
        legend_area
            .draw(&Text::new(name.clone(), (48, y - 8), (FAMILY, 15).into_font().color(&BLACK)))
            .map_err(plot_error)?;
    }
    // The frontier of the worst case over all attacks, labelled by countermeasure.
    let line: Vec<(f64, f64)> = frontier.iter().map(|p| (p.0, p.1)).collect();
    c.draw_series(LineSeries::new(line, BLACK.stroke_width(2))).map_err(plot_error)?;
    for (x, y, label) in frontier {
        c.draw_series(std::iter::once(Text::new(label.clone(), (*x, *y + 3.0), (FAMILY, 13).into_font())))
            .map_err(plot_error)?;
    }
    let y = 40 + 24 * series.len() as i32;
    legend_area.draw(&PathElement::new(vec![(10, y), (40, y)], BLACK.stroke_width(2))).map_err(plot_error)?;
    legend_area
        .draw(&Text::new("worst case, frontier", (48, y - 8), (FAMILY, 15).into_font().color(&BLACK)))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}
