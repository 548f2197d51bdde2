//! The comparison as an SVG bar chart (plotters' SVG backend: text is written as SVG text,
//! no system fonts are read): per workload, A/B throughput and A/B ops per daemon CPU second,
//! with the parity line at 1.

use std::path::Path;

use plotters::prelude::*;

use crate::cli::Workload;
use crate::report::{ratio, summarize, Sample};

const THROUGHPUT: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const EFFICIENCY: RGBColor = RGBColor(0xff, 0x7f, 0x0e);

/// Draws the ratios of daemon 0 over daemon 1 to `path`.
pub fn plot(
    path: &Path,
    names: &[String],
    workloads: &[Workload],
    samples: &[Sample],
    caption: &str,
) -> Result<(), String> {
    let bars: Vec<(Workload, f64, f64)> = workloads
        .iter()
        .filter_map(|&w| {
            let r = ratio(&summarize(samples, w, 0)?, &summarize(samples, w, 1)?);
            Some((w, r.ops, r.cpu_efficiency))
        })
        .filter(|(_, a, b)| a.is_finite() && b.is_finite())
        .collect();
    if bars.is_empty() || names.len() < 2 {
        return Err("--plot needs --compare and at least one workload measured on both".into());
    }
    let top = bars
        .iter()
        .map(|&(_, a, b)| a.max(b))
        .fold(1.0f64, f64::max)
        * 1.35;
    let n = bars.len();
    let width = (160 + 110 * n) as u32;
    let root = SVGBackend::new(path, (width.max(640), 420)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("plot: {e}");
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
        .map_err(e)?;
    let labels: Vec<&str> = bars.iter().map(|b| b.0.name()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                labels
                    .get(i as usize)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(format!("{} / {}", names[0], names[1]))
        .draw()
        .map_err(e)?;
    let w = 0.36;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let x = i as f64;
            Rectangle::new([(x - w, 0.0), (x, b.1)], THROUGHPUT.filled())
        }))
        .map_err(e)?
        .label("ops/s")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], THROUGHPUT.filled()));
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let x = i as f64;
            Rectangle::new([(x, 0.0), (x + w, b.2)], EFFICIENCY.filled())
        }))
        .map_err(e)?
        .label("ops per daemon CPU second")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], EFFICIENCY.filled()));
    chart
        .draw_series(bars.iter().enumerate().flat_map(|(i, b)| {
            let x = i as f64;
            [
                Text::new(
                    format!("{:.2}", b.1),
                    (x - w, b.1 + top * 0.02),
                    ("sans-serif", 11),
                ),
                Text::new(
                    format!("{:.2}", b.2),
                    (x + 0.02, b.2 + top * 0.02),
                    ("sans-serif", 11),
                ),
            ]
        }))
        .map_err(e)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(-0.5, 1.0), (n as f64 - 0.5, 1.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(e)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
