//! A search's report written out: a table as text, Markdown and CSV
//! (compare's columns and a search's), the rungs, what was spent, the
//! fronts as tables, and the charts (compare's per-epoch chart, and
//! accuracy against each cost with its front).

use std::path::Path;

use super::report::{Best, Fronts, SearchReport, SearchRow, plural};
use crate::app::compare::report::{
    COLUMNS, CSV_COLUMNS, csv_text, markdown_table, text_table, val_accuracy_chart,
};
use crate::app::pareto::{self, Labelled};
use crate::chart::{ChartError, PALETTE};
use crate::units::thousands;

/// A chart's file, its x axis, and the cost it puts there.
type CostChart = (&'static str, &'static str, fn(&SearchRow) -> f64);

const EXTRA_COLUMNS: [&str; 3] = ["epochs", "stopped", "Pareto front"];

impl SearchRow {
    fn cells(&self) -> Vec<String> {
        let mut cells = self.row.cells().to_vec();
        if !self.trained {
            // Counts only: it never trained.
            for cell in &mut cells[5..COLUMNS.len()] {
                *cell = "-".into();
            }
        }
        cells.pop(); // compare's note: `stopped` says it here
        let fronts: Vec<&str> = [
            (self.front.params, "params"),
            (self.front.flops, "FLOPs"),
            (self.front.time, "time"),
        ]
        .iter()
        .filter_map(|&(on, name)| on.then_some(name))
        .collect();
        cells.extend([
            self.epochs_reached.to_string(),
            self.stopped.clone(),
            if fronts.is_empty() {
                "-".into()
            } else {
                fronts.join(", ")
            },
        ]);
        cells
    }
}

impl SearchReport {
    fn columns() -> Vec<&'static str> {
        COLUMNS[..COLUMNS.len() - 1]
            .iter()
            .chain(&EXTRA_COLUMNS)
            .copied()
            .collect()
    }

    fn table(&self) -> Vec<Vec<String>> {
        self.rows.iter().map(SearchRow::cells).collect()
    }

    /// The table as text, and the best configuration.
    pub fn to_text(&self) -> String {
        let columns = Self::columns();
        let left = [0, columns.len() - 2, columns.len() - 1];
        let mut out = text_table(&columns, &self.table(), &left);
        out += &format!("\n{}\n", self.spent_sentence());
        if let Some(b) = &self.best {
            out += &format!("{}\n", best_sentence(b));
        }
        out
    }

    fn spent_sentence(&self) -> String {
        let s = &self.spent;
        let share = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
        format!(
            "Spent {} epochs ({} training images): {:.1} % of the {} epochs ({} images) that training all {} configurations tried to {} epochs takes.",
            s.epochs,
            thousands(s.images),
            share(s.images, s.grid_images),
            s.grid_epochs,
            thousands(s.grid_images),
            self.rows.iter().filter(|r| r.trained).count(),
            self.options.epochs
        )
    }
}

fn best_sentence(b: &Best) -> String {
    format!(
        "Best: {} at {:.2} % validation accuracy after {} (weights: {}); train it again with\n    {}",
        b.name,
        100.0 * b.val_accuracy,
        plural(b.epochs, "epoch"),
        b.weights,
        b.command
    )
}

impl SearchReport {
    pub fn to_markdown(&self) -> String {
        let o = &self.options;
        let tried = self.rows.iter().filter(|r| r.trained).count();
        let pruned = self.rows.len() - tried;
        let mut out = format!(
            "# cnnc search\n\nData `{}`; successive halving over {tried} configurations (of a grid of {}; {pruned} pruned), keeping {} at each rung, from {} to {} epochs; batch {}, {:?} lr {}, seed {}, on {}.{}\n\n",
            self.data,
            self.grid_size,
            self.keep,
            self.schedule.first().map_or(0, |r| r.epochs),
            o.epochs,
            o.batch,
            o.optimizer,
            o.lr,
            o.seed,
            self.adapter,
            match self.constraints.flags().join(", ") {
                c if c.is_empty() => String::new(),
                c => format!(" Constraints: {c}."),
            }
        );
        out += &self.rungs_table();
        out += &format!("\n{}\n\n", self.spent_sentence());
        match &self.best {
            Some(b) => out += &format!("{}\n\n", best_sentence(b).replace("\n    ", "\n\n    ")),
            None => out += "No configuration has a validation accuracy yet.\n\n",
        }
        out += "## Every configuration\n\n";
        out += &markdown_table(&Self::columns(), &self.table());
        out += &self.fronts_markdown();
        out += "\n![validation accuracy per epoch](val_accuracy.png)\n\n";
        for (file, what) in [
            ("accuracy_vs_params.png", "parameters"),
            ("accuracy_vs_flops.png", "FLOPs"),
            ("accuracy_vs_time.png", "training time"),
        ] {
            out += &format!("![validation accuracy against {what}]({file})\n\n");
        }
        out
    }

    fn rungs_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .schedule
            .iter()
            .enumerate()
            .map(|(i, planned)| {
                let record = self.rungs.get(i);
                let kept = record
                    .and_then(|r| r.ranking.as_ref())
                    .map_or("-".into(), |r| r.iter().filter(|x| x.kept).count().to_string());
                vec![
                    (i + 1).to_string(),
                    planned.epochs.to_string(),
                    planned.configs.to_string(),
                    record.map_or("-".into(), |r| r.members.len().to_string()),
                    kept,
                ]
            })
            .collect();
        markdown_table(&["rung", "epochs", "planned", "trained", "kept"], &rows)
    }

    /// For each cost, the front from the cheapest up: the best
    /// configuration within each budget, with its command.
    fn fronts_markdown(&self) -> String {
        let mut out = String::from(
            "\n## Best under each budget: the Pareto fronts\n\nEach line is the most accurate configuration for at most its cost: no other is both cheaper and more accurate.\n",
        );
        type Cost = fn(&SearchRow) -> (bool, f64, String);
        let costs: [(&str, Cost); 3] = [
            ("parameters", |r| {
                (
                    r.front.params,
                    r.row.params as f64,
                    thousands(r.row.params as u64),
                )
            }),
            ("FLOPs per image", |r| {
                (
                    r.front.flops,
                    r.row.flops_per_image as f64,
                    thousands(r.row.flops_per_image),
                )
            }),
            ("training seconds per epoch", |r| {
                let s = r.seconds_per_epoch.unwrap_or(f64::NAN);
                (r.front.time, s, format!("{s:.1}"))
            }),
        ];
        for (what, cost) in costs {
            let mut front: Vec<(f64, Vec<String>)> = self
                .rows
                .iter()
                .filter_map(|r| {
                    let (on, x, shown) = cost(r);
                    on.then(|| {
                        let acc = format!("{:.2}%", 100.0 * r.row.best_val_accuracy.unwrap_or(0.0));
                        (
                            x,
                            vec![shown, r.row.name.clone(), acc, r.epochs_reached.to_string()],
                        )
                    })
                })
                .collect();
            front.sort_by(|a, b| a.0.total_cmp(&b.0));
            let rows: Vec<Vec<String>> = front.into_iter().map(|f| f.1).collect();
            out += &format!("\n### {what}\n\n");
            out += &markdown_table(
                &[
                    &format!("at most ({what})"),
                    "configuration",
                    "best val acc",
                    "epochs",
                ],
                &rows,
            );
        }
        out += "\n### The commands that train them\n\n";
        for r in self.rows.iter().filter(|r| r.front != Fronts::default()) {
            out += &format!("- {}: `{}`\n", r.row.name, r.command.as_deref().unwrap_or(""));
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let mut out = format!(
            "{CSV_COLUMNS},trained,epochs_reached,rungs_reached,stopped,step_ms,seconds_per_epoch,front_params,front_flops,front_time,command\n"
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
        for r in &self.rows {
            out += &format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                r.row.csv_fields(),
                r.trained,
                r.epochs_reached,
                r.rungs_reached,
                csv_text(&r.stopped),
                opt(r.step_ms),
                opt(r.seconds_per_epoch),
                r.front.params,
                r.front.flops,
                r.front.time,
                csv_text(r.command.as_deref().unwrap_or("")),
            );
        }
        out
    }

    /// Writes report.md, report.json, report.csv and the charts, atomically.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let io = |e: std::io::Error| format!("{}: {e}", dir.display());
        crate::atomic::write(&dir.join("report.md"), self.to_markdown().as_bytes()).map_err(io)?;
        let json = serde_json::to_string_pretty(self).expect("a report serialises") + "\n";
        crate::atomic::write(&dir.join("report.json"), json.as_bytes()).map_err(io)?;
        crate::atomic::write(&dir.join("report.csv"), self.to_csv().as_bytes()).map_err(io)?;
        self.charts(dir).map_err(|e| format!("drawing charts: {e}"))
    }

    fn charts(&self, dir: &Path) -> Result<(), ChartError> {
        let trained: Vec<&SearchRow> = self.rows.iter().filter(|r| !r.row.epochs.is_empty()).collect();
        val_accuracy_chart(
            &dir.join("val_accuracy.png"),
            &trained.iter().map(|r| &r.row).collect::<Vec<_>>(),
        )?;
        let charts: [CostChart; 3] = [
            ("accuracy_vs_params.png", "parameters (log scale)", |r| {
                r.row.params as f64
            }),
            (
                "accuracy_vs_flops.png",
                "forward FLOPs per image (log scale)",
                |r| r.row.flops_per_image as f64,
            ),
            (
                "accuracy_vs_time.png",
                "training seconds per epoch (log scale)",
                |r| r.seconds_per_epoch.unwrap_or(f64::NAN),
            ),
        ];
        for (file, x_desc, cost) in charts {
            let points: Vec<Labelled> = trained
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    Some(Labelled {
                        label: format!("{} ({} ep)", r.row.name, r.epochs_reached),
                        cost: cost(r),
                        accuracy: 100.0 * r.row.best_val_accuracy?,
                        color: PALETTE[i % PALETTE.len()],
                    })
                })
                .collect();
            pareto::accuracy_chart(
                &dir.join(file),
                "Best validation accuracy against cost, at the epochs each reached",
                x_desc,
                "best validation accuracy (%)",
                &points,
            )?;
        }
        Ok(())
    }
}
