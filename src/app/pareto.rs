//! The Pareto front of accuracy against a cost (parameters, FLOPs, time):
//! the points no other point beats on both, that is, none is at most as
//! costly and at least as accurate, and better on one of the two. For any
//! budget of that cost, the most accurate point within it is on the front.

use std::path::Path;

use plotters::style::RGBColor;

use crate::chart::{self, ChartError, Point};

/// Whether each `(cost, accuracy)` point is on the front. Equal points are
/// on it together (neither beats the other); a point with a non-finite
/// figure is never on it, and beats none.
pub fn front(points: &[(f64, f64)]) -> Vec<bool> {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    points
        .iter()
        .map(|p| {
            finite(p)
                && !points
                    .iter()
                    .any(|q| finite(q) && q.0 <= p.0 && q.1 >= p.1 && (q.0 < p.0 || q.1 > p.1))
        })
        .collect()
}

/// A labelled point of an accuracy chart: its cost, its accuracy (%), its colour.
pub struct Labelled {
    pub label: String,
    pub cost: f64,
    pub accuracy: f64,
    pub color: RGBColor,
}

/// Accuracy (y) against a cost (x, log scale), every point labelled and
/// the front highlighted: `compare`'s and `search`'s charts.
pub fn accuracy_chart(
    path: &Path,
    title: &str,
    cost: &str,
    y_desc: &str,
    points: &[Labelled],
) -> Result<(), ChartError> {
    let on_front = front(&points.iter().map(|p| (p.cost, p.accuracy)).collect::<Vec<_>>());
    let points: Vec<Point> = points
        .iter()
        .zip(on_front)
        .map(|(p, on_front)| Point {
            label: p.label.clone(),
            x: p.cost,
            y: p.accuracy,
            color: p.color,
            on_front,
        })
        .collect();
    chart::scatter(path, title, cost, y_desc, &points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_of_known_points() {
        // (cost, accuracy): a is cheapest; b beats c (cheaper and more
        // accurate); d is the most accurate; e ties d's accuracy at a
        // higher cost; f equals b; g is not a number.
        let points = [
            (1.0, 0.80),     // a: front (cheapest)
            (2.0, 0.90),     // b: front
            (3.0, 0.85),     // c: beaten by b
            (4.0, 0.95),     // d: front (most accurate)
            (5.0, 0.95),     // e: beaten by d (as accurate, costlier)
            (2.0, 0.90),     // f: equal to b, so on the front with it
            (0.5, f64::NAN), // g: never on the front, and beats nothing
            (1.0, 0.70),     // h: beaten by a (as cheap, less accurate)
        ];
        assert_eq!(
            front(&points),
            [true, true, false, true, false, true, false, false]
        );
        assert_eq!(front(&[]), Vec::<bool>::new());
        assert_eq!(front(&[(7.0, 0.1)]), [true]);
        // Accuracy rising with cost all the way: every point is on it.
        let rising: Vec<(f64, f64)> = (1..6).map(|i| (i as f64, i as f64 / 10.0)).collect();
        assert!(front(&rising).iter().all(|&f| f));
        // Falling: only the cheapest.
        let falling: Vec<(f64, f64)> = (1..6).map(|i| (i as f64, 1.0 - i as f64 / 10.0)).collect();
        assert_eq!(front(&falling), [true, false, false, false, false]);
    }
}
