//! PNG charts, drawn with plotters into a buffer and encoded with `image`;
//! text uses DejaVu Sans, embedded, so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

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

/// Training curves: loss and accuracy per epoch, train and validation.
pub fn training_curves(
    path: &Path,
    title: &str,
    rows: &[crate::train::EpochMetrics],
) -> Result<(), ChartError> {
    let pick = |f: &dyn Fn(&crate::train::EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    let loss = [
        Series {
            name: "train".into(),
            points: pick(&|r| Some(r.train_loss)),
            thin: false,
            color: PALETTE[0],
        },
        Series {
            name: "validation".into(),
            points: pick(&|r| r.val_loss),
            thin: false,
            color: PALETTE[1],
        },
    ];
    let accuracy = [
        Series {
            name: "train".into(),
            points: pick(&|r| Some(100.0 * r.train_accuracy)),
            thin: false,
            color: PALETTE[0],
        },
        Series {
            name: "validation".into(),
            points: pick(&|r| r.val_accuracy.map(|a| 100.0 * a)),
            thin: false,
            color: PALETTE[1],
        },
    ];
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
