//! The checker's integer expressions: every size and count of a layer
//! (filters, units, kernel and pool window sizes, strides, groups, repeat
//! counts, block arguments) is an expression over `param`s and block
//! parameters, evaluated here with overflow and division checks, and
//! refused with a located error when it is not what its place needs.

use super::check::Checker;
use crate::diagnostic::{Diagnostic, Span, Spanned};
use crate::syntax::{BinOp, Expr, Window};

/// What binding block parameters shadowed: each name with its previous
/// value, if it had one.
pub(super) type Shadowed = Vec<(String, Option<(i64, Span)>)>;

impl Checker {
    /// Evaluates an integer expression with overflow and division checks.
    pub fn eval(&mut self, expr: &Spanned<Expr>) -> Option<i64> {
        match &expr.node {
            Expr::Int(v) => Some(*v),
            Expr::Param(name) => self.param_value(name, expr.span),
            Expr::Binary { op, lhs, rhs } => {
                let (a, b) = (self.eval(lhs)?, self.eval(rhs)?);
                let result = match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    BinOp::Mul => a.checked_mul(b),
                    BinOp::Div if b == 0 => {
                        self.error(
                            Diagnostic::error("division by zero")
                                .label(rhs.span, "this is 0")
                                .label(expr.span, "in this expression"),
                        );
                        return None;
                    }
                    BinOp::Div => a.checked_div(b),
                };
                let result = result.filter(|r| r.unsigned_abs() <= i32::MAX as u64);
                if result.is_none() {
                    self.error(Diagnostic::error("integer overflow").label(
                        expr.span,
                        format!("{a} {} {b} does not fit in 31 bits", op.symbol()),
                    ));
                }
                result
            }
        }
    }

    /// A parameter's value where `span` reads it, or why there is none.
    fn param_value(&mut self, name: &str, span: Span) -> Option<i64> {
        if let Some((v, _)) = self.params.get(name) {
            return Some(*v);
        }
        if self.failed_params.contains(name) {
            // Its declaration was reported already (a bad value).
            return None;
        }
        let mut d = Diagnostic::error(format!("unknown parameter `{name}`"))
            .label(span, "not declared before this point");
        if let Some(later) = self.declared_later.get(name) {
            d = d
                .label(*later, "declared here, after its use")
                .help("declare a parameter before the first line that uses it");
        } else {
            let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
            d = match crate::diagnostic::closest(name, known.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => match window_name(name, |side| self.params.contains_key(side)) {
                    Some((h, w)) => d.help(format!(
                        "a name runs on through `x`: for a {h} by {w} window write `{h} x {w}`, with spaces"
                    )),
                    None => d.help(format!("declare it first: `param {name} = 32`")),
                },
            };
        }
        self.error(d);
        None
    }

    /// A count (filters, units): an expression that must be at least 1.
    pub fn count(&mut self, expr: &Spanned<Expr>, what: &str) -> Option<usize> {
        self.at_least_one(expr, what, Some(&format!("a layer needs one or more {what}")))
    }

    /// A size (a stride, groups, a window's side): an expression that
    /// must be a positive integer; `what` names it in the error.
    pub fn positive(&mut self, expr: &Spanned<Expr>, what: &str) -> Option<usize> {
        self.at_least_one(expr, what, None)
    }

    fn at_least_one(&mut self, expr: &Spanned<Expr>, what: &str, help: Option<&str>) -> Option<usize> {
        let value = self.eval(expr)?;
        if value < 1 {
            let mut d = Diagnostic::error(format!("{what} must be at least 1"))
                .label(expr.span, evaluates_to(expr, value));
            if let Some(help) = help {
                d = d.help(help);
            }
            self.error(d);
            return None;
        }
        Some(value as usize)
    }

    /// A `repeat` count: 0 or more (0 writes the layer no times, so that a
    /// block can leave a layer out by its argument).
    pub fn repetitions(&mut self, expr: &Spanned<Expr>) -> Option<usize> {
        let value = self.eval(expr)?;
        if value < 0 {
            self.error(
                Diagnostic::error("a repeat count cannot be negative")
                    .label(expr.span, evaluates_to(expr, value))
                    .help("`repeat N` writes its layer N times, N = 0 or more"),
            );
            return None;
        }
        Some(value as usize)
    }

    /// A kernel or pool window (`what`): each side a positive integer.
    pub fn window(&mut self, window: &Spanned<Window>, what: &str) -> Option<[usize; 2]> {
        let [h, w] = window.node.sides();
        let h = self.positive(h, &format!("a {what}'s height"));
        let w = match &window.node {
            // One expression for both sides: reported once.
            Window::Square(_) => h,
            Window::Rect(..) => self.positive(w, &format!("a {what}'s width")),
        };
        Some([h?, w?])
    }

    pub fn l2(&mut self, value: &Option<Spanned<f64>>) -> f32 {
        match value {
            Some(v) if v.node < 0.0 => {
                self.error(
                    Diagnostic::error("the l2 factor cannot be negative")
                        .label(v.span, format!("{}", v.node)),
                );
                0.0
            }
            Some(v) => v.node as f32,
            None => 0.0,
        }
    }

    /// Binds one block parameter for a call, shadowing any `param` of the
    /// same name; returns what it shadowed, for [`Self::unbind_params`].
    pub(super) fn bind_param(&mut self, name: &str, value: i64, span: Span) -> (String, Option<(i64, Span)>) {
        let old = self.params.insert(name.to_string(), (value, span));
        (name.to_string(), old)
    }

    pub(super) fn unbind_params(&mut self, shadowed: Shadowed) {
        for (name, old) in shadowed.into_iter().rev() {
            match old {
                Some(old) => self.params.insert(name, old),
                None => self.params.remove(&name),
            };
        }
    }
}

/// `-1` for a literal, else "this evaluates to -1".
fn evaluates_to(expr: &Spanned<Expr>, value: i64) -> String {
    match expr.node {
        Expr::Int(_) => format!("{value}"),
        _ => format!("this evaluates to {value}"),
    }
}

/// `kxk` → `(k, k)`, `kx3` → `(k, 3)`: a name that reads as a window
/// written without the spaces a name needs around `x`, each side a
/// number or a `known` parameter.
fn window_name(name: &str, known: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
    let (h, w) = name.split_once('x')?;
    let side = |s: &str| !s.is_empty() && (s.bytes().all(|b| b.is_ascii_digit()) || known(s));
    (side(h) && side(w)).then_some((h, w))
}

#[cfg(test)]
mod tests {
    use super::window_name;

    #[test]
    fn names_that_read_as_windows() {
        let known = |s: &str| ["k", "ma", "_width"].contains(&s);
        assert_eq!(window_name("kxk", known), Some(("k", "k")));
        assert_eq!(window_name("kx3", known), Some(("k", "3")));
        assert_eq!(window_name("3xk", known), Some(("3", "k")));
        assert_eq!(window_name("jxk", known), None, "`j` is no parameter");
        assert_eq!(window_name("x", known), None);
        assert_eq!(window_name("width", |_| false), None);
    }
}
