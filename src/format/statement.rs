//! One statement in canonical form: keywords spelt out once, options in a
//! fixed order (the order of the usage lines), single spaces, expressions
//! without spaces and with only the parentheses their meaning needs.

use crate::diagnostic::Spanned;
use crate::syntax::{Block, Conv, Dense, Expr, Line, Padding, Pool, PoolKind, Statement, Window};

/// The canonical text of a line parsed from `text` (its spans point into
/// it; literals such as `3x3` and `5e-4` are kept as written).
pub(super) fn print_line(line: &Line, text: &str) -> String {
    match line {
        Line::Statement(s) => statement(&s.node, s.span.range(), text),
        Line::BlockStart(b) => block_header(&b.node),
        Line::End(_) => "end".to_string(),
    }
}

fn statement(s: &Statement, range: std::ops::Range<usize>, text: &str) -> String {
    let written = &text[range];
    match s {
        Statement::Model(name) => format!("model {}", name.node),
        Statement::Input(dims) => format!("input {}", &text[dims.span.range()]),
        Statement::Param { name, value } => format!("param {} = {}", name.node, expr(&value.node)),
        Statement::Conv(c) => conv(c, text),
        Statement::Pool(p) => pool(p, text),
        Statement::Dense(d) => dense(d, text),
        Statement::Flatten => "flatten".to_string(),
        Statement::Dropout(rate) => format!("dropout {}", &text[rate.span.range()]),
        Statement::BatchNorm => "batchnorm".to_string(),
        Statement::Activation(a) => a.keyword().to_string(),
        Statement::Add(names) => format!("add {}", names_list(names)),
        Statement::Concat(names) => format!("concat {}", names_list(names)),
        Statement::GlobalPool(kind) => {
            // The kind is optional (`avg`); keep it when it was written.
            if written.split_whitespace().count() > 1 {
                format!("globalpool {}", pool_kind(*kind))
            } else {
                "globalpool".to_string()
            }
        }
        Statement::Wired { label, layer, from } => {
            let mut out = String::new();
            if let Some(label) = label {
                out.push_str(&format!("{}: ", label.node));
            }
            out.push_str(&statement(&layer.node, layer.span.range(), text));
            if let Some(from) = from {
                out.push_str(&format!(" from {}", from.node));
            }
            out
        }
        Statement::Block(b) => block_header(b),
        Statement::Call { name, args } => {
            let args: Vec<String> = args.iter().map(|a| expr(&a.node)).collect();
            format!("{}({})", name.node, args.join(", "))
        }
        Statement::Repeat { count, body } => format!(
            "repeat {} {}",
            expr(&count.node),
            statement(&body.node, body.span.range(), text)
        ),
    }
}

fn block_header(b: &Block) -> String {
    let params: Vec<String> = b
        .params
        .iter()
        .map(|(name, default)| match default {
            Some(d) => format!("{} = {}", name.node, expr(&d.node)),
            None => name.node.clone(),
        })
        .collect();
    format!("block {}({})", b.name.node, params.join(", "))
}

fn names_list(names: &[Spanned<String>]) -> String {
    names
        .iter()
        .map(|n| n.node.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `conv N KxK [stride S] [same|valid] [ACT] [l2 F] [groups G]`
fn conv(c: &Conv, text: &str) -> String {
    let mut out = format!("conv {} {}", expr(&c.filters.node), window(&c.kernel.node));
    if let Some(s) = &c.stride {
        out.push_str(&format!(" stride {}", expr(&s.node)));
    }
    if let Some(p) = &c.padding {
        out.push_str(match p.node {
            Padding::Same => " same",
            Padding::Valid => " valid",
        });
    }
    if let Some(a) = &c.activation {
        out.push_str(&format!(" {}", a.node.keyword()));
    }
    if let Some(l2) = &c.l2 {
        out.push_str(&format!(" l2 {}", option_value(&text[l2.span.range()])));
    }
    if let Some(g) = &c.groups {
        out.push_str(&format!(" groups {}", expr(&g.node)));
    }
    out
}

/// `pool [max|avg] K[xK] [stride S]`; the kind stays implicit when it was.
fn pool(p: &Pool, text: &str) -> String {
    let before_window = &text[..p.window.span.start];
    let kind_written = before_window.split_whitespace().any(|w| w == "max" || w == "avg");
    let mut out = "pool".to_string();
    if kind_written {
        out.push_str(&format!(" {}", pool_kind(p.kind)));
    }
    out.push_str(&format!(" {}", window(&p.window.node)));
    if let Some(s) = &p.stride {
        out.push_str(&format!(" stride {}", expr(&s.node)));
    }
    out
}

/// `dense N [ACT] [l2 F]`
fn dense(d: &Dense, text: &str) -> String {
    let mut out = format!("dense {}", expr(&d.units.node));
    if let Some(a) = &d.activation {
        out.push_str(&format!(" {}", a.node.keyword()));
    }
    if let Some(l2) = &d.l2 {
        out.push_str(&format!(" l2 {}", option_value(&text[l2.span.range()])));
    }
    out
}

/// A window: `3x3` between numbers; `k x 3` with spaces where a side is a
/// name (`kx3` would be one name) or a parenthesised expression; one
/// expression for a square.
fn window(w: &Window) -> String {
    match w {
        Window::Square(k) => expr(&k.node),
        Window::Rect(h, w) => match (&h.node, &w.node) {
            (Expr::Int(h), Expr::Int(w)) => format!("{h}x{w}"),
            (h, w) => format!("{} x {}", window_side(h), window_side(w)),
        },
    }
}

/// A side of `H x W`: a number, a name, or an expression in parentheses.
fn window_side(e: &Expr) -> String {
    match e {
        Expr::Int(_) | Expr::Param(_) => expr(e),
        Expr::Binary { .. } => format!("({})", expr(e)),
    }
}

/// The value of an option written as `KEYWORD VALUE`.
fn option_value(written: &str) -> &str {
    written.split_whitespace().last().unwrap_or(written)
}

fn pool_kind(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::Max => "max",
        PoolKind::Avg => "avg",
    }
}

/// An expression that parses back to the same tree: operators are
/// left-associative, so a right operand of equal precedence keeps its
/// parentheses (`a-(b-c)`), and a looser one inside a tighter one too.
pub(super) fn expr(e: &Expr) -> String {
    operand(e, 0, false)
}

fn operand(e: &Expr, parent: u8, right: bool) -> String {
    match e {
        Expr::Int(n) => n.to_string(),
        Expr::Param(name) => name.clone(),
        Expr::Binary { op, lhs, rhs } => {
            let own = match op.symbol() {
                "+" | "-" => 1,
                _ => 2,
            };
            let text = format!(
                "{}{}{}",
                operand(&lhs.node, own, false),
                op.symbol(),
                operand(&rhs.node, own, true)
            );
            if own < parent || (own == parent && right) {
                format!("({text})")
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse_line;

    fn canonical(text: &str) -> String {
        print_line(&parse_line(text).expect("parses"), text)
    }

    #[test]
    fn options_come_in_usage_order() {
        assert_eq!(
            canonical("conv  32 3x3 groups 2 l2 5e-4 relu same stride 2"),
            "conv 32 3x3 stride 2 same relu l2 5e-4 groups 2"
        );
        assert_eq!(
            canonical("dense 10   l2 0.01 softmax"),
            "dense 10 softmax l2 0.01"
        );
        assert_eq!(canonical("pool 2 stride 1"), "pool 2 stride 1");
        assert_eq!(canonical("pool avg  2x2"), "pool avg 2x2");
        assert_eq!(canonical("globalpool"), "globalpool");
        assert_eq!(canonical("globalpool   max"), "globalpool max");
    }

    #[test]
    fn graph_statements() {
        assert_eq!(canonical("m :conv 8 1x1 from  x"), "m: conv 8 1x1 from x");
        assert_eq!(canonical("repeat 3  basic( w * 2 ,4)"), "repeat 3 basic(w*2, 4)");
        assert_eq!(canonical("block b( f ,g=1 )"), "block b(f, g = 1)");
        assert_eq!(canonical("add  a b"), "add a b");
        assert_eq!(canonical("param  w=(32)"), "param w = 32");
    }

    #[test]
    fn parentheses_only_where_the_tree_needs_them() {
        assert_eq!(canonical("dense (a+b)*c"), "dense (a+b)*c");
        assert_eq!(canonical("dense a-(b-c)"), "dense a-(b-c)");
        assert_eq!(canonical("dense (a-b)-c"), "dense a-b-c");
        assert_eq!(canonical("dense a/(b*c)"), "dense a/(b*c)");
        assert_eq!(canonical("dense a+(b*c)"), "dense a+b*c");
    }
}
