//! Names of layer outputs (`skip: batchnorm`) and what they mean where
//! they are read (`add skip`, `from skip`). Names are local to their
//! block: the model's lines see the model's names, a block's lines its
//! own and `in`. A name that exists in another scope is explained as such.

use super::Registry;
use super::check::Checker;
use super::expand::{Expander, Source};
use crate::diagnostic::{Diagnostic, Spanned, closest};
use crate::syntax::Statement;

impl<'p, K: Registry> Expander<'p, K> {
    /// Gives the current tensor a name.
    pub(super) fn name(&mut self, label: &Spanned<String>, cx: &mut Checker) {
        if label.node == "in" {
            return;
        }
        if let Some((_, first)) = self.scope.names.get(&label.node) {
            cx.error(
                Diagnostic::error(format!("the name `{}` is given twice", label.node))
                    .label(label.span, "named again here")
                    .label(*first, "first named here")
                    .help("names must differ within a block and within the model"),
            );
            return;
        }
        self.scope
            .names
            .insert(label.node.clone(), (self.scope.current, label.span));
    }

    /// The tensor a name means here, or a located reason.
    pub(super) fn resolve(&self, name: &Spanned<String>, cx: &mut Checker) -> Option<Source> {
        if let Some((source, _)) = self.scope.names.get(&name.node) {
            return Some(*source);
        }
        let here = self.stack.last().map(|(block, _)| *block);
        let mut d = Diagnostic::error(format!("unknown name `{}`", name.node));
        if name.node == "in" {
            d = d
                .label(name.span, "no layer output is named so before this point")
                .help("`in` is the input of a block, and means nothing outside one");
        } else if let (Some(block), Some(&span)) = (here, self.model_names.get(name.node.as_str())) {
            d = Diagnostic::error(format!(
                "`{}` is a name of the model, which block `{block}` cannot see",
                name.node
            ))
            .label(name.span, format!("read inside block `{block}`"))
            .label(span, "named here, outside the block")
            .note("names are local to their block: a block sees its own names and `in`, the tensor it is used on")
            .help(format!(
                "to give the block that tensor, use the block on it: `{block}(…) from {}`",
                name.node
            ));
        } else if let Some(&(block, span)) = self
            .block_names
            .get(name.node.as_str())
            .filter(|(block, _)| Some(*block) != here)
        {
            let reader = here.map_or("the model".to_string(), |b| format!("block `{b}`"));
            d = Diagnostic::error(format!(
                "`{}` is a name inside block `{block}`, which {reader} cannot see",
                name.node
            ))
            .label(name.span, "read here")
            .label(span, format!("named here, inside block `{block}`"))
            .note("names are local to their block: each use of a block makes its layers anew, and only its output leaves it")
            .help(format!(
                "to read that tensor here, make it the last layer of `{block}` (its output) and name the use: `{}: {block}(…)`",
                name.node
            ));
        } else {
            d = d.label(name.span, "no layer output is named so before this point");
            let known: Vec<&str> = self
                .scope
                .names
                .keys()
                .map(String::as_str)
                .filter(|n| *n != "in")
                .collect();
            d = match closest(&name.node, known.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "name a layer's output first: `{}: conv 32 3x3`",
                    name.node
                )),
            };
        }
        cx.error(d);
        None
    }

    /// Records the names the model's lines and each block's lines give,
    /// for explaining a name read in the wrong scope.
    pub(super) fn collect_names(&mut self, statements: &'p [Spanned<Statement>]) {
        for s in statements {
            match &s.node {
                Statement::Block(b) => {
                    for inner in &b.body {
                        if let Some(label) = label_of(&inner.node) {
                            self.block_names
                                .entry(&label.node)
                                .or_insert((&b.name.node, label.span));
                        }
                    }
                }
                other => {
                    if let Some(label) = label_of(other) {
                        self.model_names.entry(&label.node).or_insert(label.span);
                    }
                }
            }
        }
    }
}

fn label_of(statement: &Statement) -> Option<&Spanned<String>> {
    match statement {
        Statement::Wired { label, .. } => label.as_ref(),
        _ => None,
    }
}
