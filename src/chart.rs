//! PNG charts, drawn with plotters into a buffer and encoded with `image`;
//! text uses DejaVu Sans, embedded, so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours that stay apart for up to 8 series (Okabe and Ito's palette).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

pub type ChartError = Box<dyn std::error::Error + Send + Sync>;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registering an embedded, valid font cannot fail.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draws `draw` on a `width` x `height` canvas and writes it as a PNG,
/// atomically.
pub fn render(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), ChartError>,
) -> Result<(), ChartError> {
    register_font();
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let img = image::RgbImage::from_raw(width, height, pixels).ok_or("chart buffer size")?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)?;
    crate::atomic::write(path, png.get_ref())?;
    Ok(())
}

/// A series of (x, y) points with a name for the legend.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Dashed-looking (thin) instead of solid (thick).
    pub thin: bool,
    pub color: RGBColor,
}

/// Lines over epochs: one panel of a chart.
pub fn lines(
    area: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
    legend: SeriesLabelPosition,
) -> Result<(), ChartError> {
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let (y_min, y_max) = y_range.unwrap_or_else(|| {
        let lo = all.clone().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = all.clone().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi.is_finite() {
            let pad = ((hi - lo) * 0.1).max(1e-3);
            ((lo - pad).max(0.0), hi + pad)
        } else {
            (0.0, 1.0)
        }
    });
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(58)
        .build_cartesian_2d(0.8f64..x_max + 0.2, y_min..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels((x_max as usize).clamp(2, 12))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    for s in series {
        let style = s.color.stroke_width(if s.thin { 1 } else { 3 });
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, s.color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// (epoch, value) points of the four training curves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curves {
    pub train_loss: Vec<(f64, f64)>,
    pub val_loss: Vec<(f64, f64)>,
    /// Percent.
    pub train_accuracy: Vec<(f64, f64)>,
    pub val_accuracy: Vec<(f64, f64)>,
}

/// Training curves: loss and accuracy per epoch, train and validation.
pub fn training_curves(path: &Path, title: &str, curves: &Curves) -> Result<(), ChartError> {
    let pair = |train: &[(f64, f64)], validation: &[(f64, f64)]| {
        [
            ("train", train, PALETTE[0]),
            ("validation", validation, PALETTE[1]),
        ]
        .map(|(name, points, color)| Series {
            name: name.into(),
            points: points.to_vec(),
            thin: false,
            color,
        })
    };
    let loss = pair(&curves.train_loss, &curves.val_loss);
    let accuracy = pair(&curves.train_accuracy, &curves.val_accuracy);
    render(path, (1200, 480), |root| {
        let root = root.titled(title, ("sans-serif", 24))?;
        let (left, right) = root.split_horizontally(600);
        lines(
            &left,
            "Loss",
            "epoch",
            "cross-entropy",
            &loss,
            None,
            SeriesLabelPosition::UpperRight,
        )?;
        lines(
            &right,
            "Accuracy",
            "epoch",
            "accuracy (%)",
            &accuracy,
            None,
            SeriesLabelPosition::LowerRight,
        )?;
        Ok(())
    })
}

/// A point of a [`scatter`] chart.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub color: RGBColor,
    /// On the Pareto front: drawn larger, ringed, and joined to the
    /// front's other points by a staircase.
    pub on_front: bool,
}

/// Points on a log-scale x axis, each labelled with its variant's name,
/// labels moved around their point until they overlap no other label. When
/// some are on a Pareto front (least x for most y), the front is drawn as a
/// staircase through them, with a legend.
pub fn scatter(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    points: &[Point],
) -> Result<(), ChartError> {
    let (w, h) = (900u32, 560u32);
    render(path, (w, h), |root| {
        let xs = points.iter().map(|p| p.x.max(1.0));
        let (x_lo, x_hi) = (xs.clone().fold(f64::INFINITY, f64::min), xs.fold(0.0, f64::max));
        let (x_lo, x_hi) = if x_lo.is_finite() {
            (x_lo / 2.0, x_hi * 2.0)
        } else {
            (1.0, 10.0)
        };
        let ys = points.iter().map(|p| p.y);
        let (y_lo, y_hi) = (
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(f64::NEG_INFINITY, f64::max),
        );
        let pad = ((y_hi - y_lo) * 0.25).max(0.5);
        let (y_lo, y_hi) = if y_lo.is_finite() {
            ((y_lo - pad).max(0.0), y_hi + pad)
        } else {
            (0.0, 1.0)
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(62)
            .build_cartesian_2d((x_lo..x_hi).log_scale(), y_lo..y_hi)?;
        let pixels = chart.plotting_area().get_pixel_range().0;
        let labels = log_axis_labels(x_lo, x_hi, (pixels.end - pixels.start) as f64);
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(40)
            // plotters puts no tick below the first power of ten, so the
            // x labels are drawn here, at `labels`.
            .x_label_formatter(&|_| String::new())
            .label_style(("sans-serif", 14))
            .draw()?;
        let style = TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for &v in &labels {
            let (px, py) = chart.backend_coord(&(v, y_lo));
            root.draw(&Text::new(short_number(v), (px, py + 10), style.clone()))?;
        }
        draw_front(&mut chart, points)?;
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        for p in points {
            let (px, py) = chart.backend_coord(&(p.x.max(1.0), p.y));
            let (dx, dy) = label_offset(&p.label, (px, py), w, &mut placed);
            let (ring, radius, fill) = if p.on_front {
                (BLACK.stroke_width(2), 6, p.color.filled())
            } else {
                (TRANSPARENT.stroke_width(0), 4, p.color.mix(0.45).filled())
            };
            let marker = EmptyElement::at((p.x.max(1.0), p.y))
                + Circle::new((0, 0), radius + 2, ring)
                + Circle::new((0, 0), radius, fill);
            let font = ("sans-serif", 13).into_font().color(&if p.on_front {
                BLACK
            } else {
                RGBColor(110, 110, 110)
            });
            chart.draw_series(std::iter::once(
                marker + Text::new(p.label.clone(), (dx, dy), font),
            ))?;
        }
        Ok(())
    })
}

type LogChart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::combinators::LogCoord<f64>, plotters::coord::types::RangedCoordf64>,
>;

/// The front's staircase (from each point, across to the next one's cost,
/// then up to its accuracy) and its legend; nothing when no point is on it.
fn draw_front<'a>(chart: &mut LogChart<'a, 'a>, points: &[Point]) -> Result<(), ChartError> {
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.on_front)
        .map(|p| (p.x.max(1.0), p.y))
        .collect();
    if front.is_empty() {
        return Ok(());
    }
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut stairs = vec![front[0]];
    for pair in front.windows(2) {
        stairs.push((pair[1].0, pair[0].1));
        stairs.push(pair[1]);
    }
    let style = BLACK.mix(0.7).stroke_width(2);
    chart
        .draw_series(LineSeries::new(stairs, style))?
        .label("Pareto front: no other point is both cheaper and more accurate")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

/// Where a point's label goes: right, left, above or below it, then
/// further out, the first place that overlaps no label already `placed`.
fn label_offset(
    label: &str,
    (px, py): (i32, i32),
    width: u32,
    placed: &mut Vec<(i32, i32, i32, i32)>,
) -> (i32, i32) {
    let text_w = 7 * label.chars().count() as i32;
    let candidates = [
        (10, -20),
        (10, 6),
        (-text_w - 10, -20),
        (-text_w - 10, 6),
        (10, -36),
        (10, 22),
        (-text_w - 10, -36),
        (-text_w - 10, 22),
    ];
    let (dx, dy) = candidates
        .iter()
        .copied()
        .find(|&(dx, dy)| {
            let b = (px + dx, py + dy, px + dx + text_w, py + dy + 15);
            b.0 >= 0
                && b.2 <= width as i32
                && !placed
                    .iter()
                    .any(|p| b.0 < p.2 && p.0 < b.2 && b.1 < p.3 && p.1 < b.3)
        })
        .unwrap_or(candidates[0]);
    placed.push((px + dx, py + dy, px + dx + text_w, py + dy + 15));
    (dx, dy)
}

/// Pixels per character of a 14-pixel label, and the least space between two labels.
const LABEL_CHAR_PX: f64 = 8.0;
const LABEL_GAP_PX: f64 = 10.0;

/// The values a log axis from `lo` to `hi`, `width` pixels wide, labels:
/// powers of ten first, then 5 and 2 times them, each kept only if its
/// label stays clear of every label already kept (so the crowded end of a
/// decade, 700k, 800k, 900k, 1M, never has labels over one another).
pub fn log_axis_labels(lo: f64, hi: f64, width: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && width > 0.0) {
        return Vec::new();
    }
    let px = |v: f64| (v.ln() - lo.ln()) / (hi.ln() - lo.ln()) * width;
    let half = |v: f64| short_number(v).len() as f64 * LABEL_CHAR_PX / 2.0;
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    let mut kept: Vec<f64> = Vec::new();
    for mantissa in [1.0, 5.0, 2.0] {
        for e in decades.clone() {
            let v = mantissa * 10f64.powi(e);
            let clear = kept
                .iter()
                .all(|&k| (px(v) - px(k)).abs() >= half(v) + half(k) + LABEL_GAP_PX);
            if (lo..=hi).contains(&v) && clear {
                kept.push(v);
            }
        }
    }
    kept.sort_by(f64::total_cmp);
    kept
}

/// `12k`, `3.4M`: axis labels.
fn short_number(v: f64) -> String {
    let (value, suffix) = match v {
        v if v >= 1e9 => (v / 1e9, "G"),
        v if v >= 1e6 => (v / 1e6, "M"),
        v if v >= 1e3 => (v / 1e3, "k"),
        v => (v, ""),
    };
    let digits = format!("{value:.2}");
    format!("{}{suffix}", digits.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(12_000.0), "12k");
        assert_eq!(short_number(3_400_000.0), "3.4M");
        assert_eq!(short_number(999.0), "999");
    }

    /// Labels, as drawn centred on their ticks, never overlap.
    fn assert_clear(lo: f64, hi: f64, width: f64, labels: &[f64]) {
        let px = |v: f64| (v.ln() - lo.ln()) / (hi.ln() - lo.ln()) * width;
        for pair in labels.windows(2) {
            let room =
                (short_number(pair[0]).len() + short_number(pair[1]).len()) as f64 * LABEL_CHAR_PX / 2.0;
            assert!(
                px(pair[1]) - px(pair[0]) >= room + LABEL_GAP_PX,
                "{pair:?} overlap in {labels:?}"
            );
        }
    }

    #[test]
    fn log_axis_labels_never_overlap() {
        // The compare chart's axis: 50k to 2M parameters over 800 pixels.
        let labels = log_axis_labels(50_000.0, 2_000_000.0, 800.0);
        assert_eq!(labels, [50_000.0, 100_000.0, 200_000.0, 500_000.0, 1e6, 2e6]);
        assert_clear(50_000.0, 2_000_000.0, 800.0, &labels);
        // Crowded: six decades in 300 pixels keeps the powers of ten only.
        let crowded = log_axis_labels(1.0, 1e6, 300.0);
        assert_eq!(crowded, [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]);
        assert_clear(1.0, 1e6, 300.0, &crowded);
        // Narrower still: every other power of ten.
        let tight = log_axis_labels(1.0, 1e6, 120.0);
        assert!(tight.len() < 7 && tight.contains(&1.0), "{tight:?}");
        assert_clear(1.0, 1e6, 120.0, &tight);
    }
}
