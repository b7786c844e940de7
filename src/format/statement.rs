//! One statement in canonical form: keywords spelt out once, a layer's
//! arguments then its options in its signature's order, single spaces,
//! expressions without spaces and with only the parentheses their meaning
//! needs.

use crate::diagnostic::Spanned;
use crate::kinds::SIGNATURES;
use crate::syntax::signature::{Form, LayerStatement, Signature, Value};
use crate::syntax::{Activation, Arg, Block, Expr, Line, Statement, Window};

/// The canonical text of a line parsed from `text` (its spans point into
/// it; literals such as `3x3` and `5e-4` are kept as written).
pub(super) fn print_line(line: &Line, text: &str) -> String {
    match line {
        Line::Statement(s) => statement(&s.node, text),
        Line::BlockStart(b) => block_header(&b.node),
        Line::End(_) => "end".to_string(),
    }
}

fn statement(s: &Statement, text: &str) -> String {
    match s {
        Statement::Model(name) => format!("model {}", name.node),
        Statement::Input(dims) => format!("input {}", &text[dims.span.range()]),
        Statement::Param { name, value } => format!("param {} = {}", name.node, expr(&value.node)),
        Statement::Layer(layer) => layer_statement(layer, text),
        Statement::Wired { label, layer, from } => {
            let mut out = String::new();
            if let Some(label) = label {
                out.push_str(&format!("{}: ", label.node));
            }
            out.push_str(&statement(&layer.node, text));
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
        Statement::Repeat { count, body } => {
            format!("repeat {} {}", expr(&count.node), statement(&body.node, text))
        }
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

/// `KEYWORD ARGUMENTS OPTIONS`, in the signature's order; an optional
/// argument (`pool`'s `max`) stays implicit when it was.
fn layer_statement(layer: &LayerStatement, text: &str) -> String {
    let signature: &Signature = SIGNATURES
        .iter()
        .find(|s| s.name() == layer.kind)
        .expect("read by one of the signatures");
    let mut out = match Activation::named(&layer.keyword.node) {
        Some(a) => a.keyword().to_string(),
        None => layer.keyword.node.clone(),
    };
    for argument in signature.arguments {
        if argument.value == Value::Names {
            for n in &layer.operands {
                out.push_str(&format!(" {}", n.node));
            }
        }
        if let Some(value) = layer.get(argument.name) {
            out.push_str(&format!(" {}", arg(value, text)));
        }
    }
    for option in signature.options {
        let Some(value) = layer.get(option.name) else {
            continue;
        };
        match option.form {
            Form::Valued(_) => out.push_str(&format!(" {} {}", option.name, arg(value, text))),
            Form::Flag(_) | Form::Activation => out.push_str(&format!(" {}", arg(value, text))),
        }
    }
    out
}

/// A value as canonical text: numbers as written (`5e-4`), activations by
/// their keyword.
fn arg(value: &Spanned<Arg>, text: &str) -> String {
    match &value.node {
        Arg::Expr(e) => expr(e),
        Arg::Window(w) => window(w),
        Arg::Number(_) => text[value.span.range()].to_string(),
        Arg::Word(w) => Activation::named(w).map_or(w.clone(), |a| a.keyword().to_string()),
    }
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
        print_line(&parse_line(text, SIGNATURES).expect("parses"), text)
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
        assert_eq!(canonical("pad  2 x 1"), "pad 2x1");
        assert_eq!(canonical("pad  (p+1)"), "pad p+1");
    }

    /// Each kind's example is written in canonical form, and its options
    /// shuffled come back in its signature's order.
    #[test]
    fn every_kinds_example_is_canonical() {
        for signature in SIGNATURES {
            let example = signature.example;
            assert_eq!(canonical(example), example);
            if signature.arguments.iter().any(|a| a.value == Value::Names) {
                continue;
            }
            // The options, each with its value, in reverse order.
            let words: Vec<&str> = example.split(' ').collect();
            let arguments = 1 + signature.arguments.len().min(words.len() - 1);
            let mut options: Vec<String> = Vec::new();
            let mut rest = words[arguments..].iter();
            while let Some(word) = rest.next() {
                let valued = signature
                    .options
                    .iter()
                    .any(|o| o.name == *word && matches!(o.form, Form::Valued(_)));
                match valued {
                    true => options.push(format!("{word} {}", rest.next().unwrap())),
                    false => options.push(word.to_string()),
                }
            }
            options.reverse();
            let reversed = format!("{}  {}", words[..arguments].join(" "), options.join("  "));
            assert_eq!(canonical(reversed.trim_end()), example, "{reversed}");
        }
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
