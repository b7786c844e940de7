//! What is legal but likely a mistake: a layer (but the last) whose output
//! nothing reads. It costs time and memory and changes nothing.

use std::collections::HashMap;

use super::{Layer, Operand};
use crate::diagnostic::{Diagnostic, Span};
use crate::syntax::{Program, Statement};

/// One warning per line of source, naming every layer that line made whose
/// output nothing reads (a block used twice, or a `repeat`, makes several).
/// `labels` gives the name a line gives its layer, if any.
pub(super) fn unused_outputs<K>(layers: &[Layer<K>], labels: &HashMap<Span, String>) -> Vec<Diagnostic> {
    let mut read = vec![false; layers.len()];
    for operand in layers.iter().flat_map(|l| &l.inputs) {
        if let Operand::Layer(j) = operand {
            read[*j] = true;
        }
    }
    // The unread layers of each line, lines in the order they first appear.
    let mut lines: Vec<(Span, Vec<&str>)> = Vec::new();
    let last = layers.len().saturating_sub(1);
    for (l, _) in layers[..last].iter().zip(&read).filter(|(_, read)| !**read) {
        match lines.iter_mut().find(|(span, _)| *span == l.span) {
            Some((_, names)) => names.push(&l.name),
            None => lines.push((l.span, vec![&l.name])),
        }
    }
    lines
        .into_iter()
        .map(|(span, names)| {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            let title = match quoted.as_slice() {
                [one] => format!("the output of {one} is never used"),
                [first @ .., last] => format!(
                    "the outputs of {} and {last} (each use of this line) are never used",
                    first.join(", ")
                ),
                [] => unreachable!("a line is listed with its first layer"),
            };
            let help = match labels.get(&span) {
                Some(name) => format!(
                    "it is named `{name}`: read it by that name (`add {name}`, `concat {name}`, `from {name}`), or remove the line"
                ),
                None => "name it and read it (`add`, `concat`, `from NAME`), or remove the line".to_string(),
            };
            Diagnostic::warning(title)
                .label(span, "nothing reads this layer's output")
                .help(help)
        })
        .collect()
}

/// The name each named layer statement gives its output, by the layer's span.
pub(super) fn labels(program: &Program) -> HashMap<Span, String> {
    let mut labels = HashMap::new();
    let bodies = program.statements.iter().flat_map(|s| match &s.node {
        Statement::Block(b) => b.body.iter().collect::<Vec<_>>(),
        _ => vec![s],
    });
    for s in bodies {
        if let Statement::Wired {
            label: Some(label),
            layer,
            ..
        } = &s.node
        {
            labels.insert(layer.span, label.node.clone());
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use crate::model::CheckOptions;
    use crate::source::Source;

    fn warnings(text: &str) -> Vec<(String, String)> {
        let model = crate::load(&Source::new("m.cnn", text), &CheckOptions::default()).unwrap();
        model
            .warnings
            .iter()
            .map(|d| (d.message.clone(), d.help.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn every_use_is_named_and_a_named_output_is_not_told_to_be_named() {
        let text =
            "input 8x8x1\nblock b()\n  x: conv 2 3x3 same\n  conv 2 1x1 from in\nend\nb()\nb()\ndense 2";
        let w = warnings(text);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            w[0].0,
            "the outputs of `conv1` and `conv3` (each use of this line) are never used"
        );
        assert!(
            w[0].1.starts_with("it is named `x`: read it by that name"),
            "{}",
            w[0].1
        );
        // A repeat whose layers all read `x`: all but the last are unread.
        let w = warnings("input 8x8x1\nx: conv 2 1x1\nrepeat 3 conv 2 1x1 from x\ndense 2");
        assert_eq!(
            w[0].0,
            "the outputs of `conv2` and `conv3` (each use of this line) are never used"
        );
        assert!(w[0].1.starts_with("name it and read it"), "{}", w[0].1);
    }
}
