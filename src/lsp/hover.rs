//! Hover: on a name, a block call or a parameter, its definition; on a
//! layer's line, what the layer makes (shape, parameters, FLOPs, memory)
//! and the model's running totals up to it.

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use super::document::Document;
use super::index::SymbolKind;
use crate::diagnostic::Span;
use crate::units::{human_bytes, thousands};
use crate::{Layer, Model};

pub fn hover(doc: &Document, offset: usize) -> Option<Hover> {
    let text = match doc.index.at(offset) {
        Some(o) => definition(doc, o)?,
        None => layers_on_line(doc, doc.line_of(offset))?,
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: None,
    })
}

fn definition(doc: &Document, o: &super::index::Occurrence) -> Option<String> {
    let def = doc.index.definition(o)?;
    let source = |span: Span| doc.text.get(span.range()).unwrap_or("").to_string();
    Some(match def.kind {
        SymbolKind::Block => {
            let block = doc.index.blocks.iter().find(|b| b.name == def.name)?;
            format!("```cnn\n{}\n```", source(block.span()))
        }
        SymbolKind::Name | SymbolKind::Param => {
            let line = source(doc.line_span(doc.line_of(def.span.start)));
            let mut text = format!("```cnn\n{}\n```", line.trim());
            if def.kind == SymbolKind::Param && def.scope.is_none() {
                let value = doc
                    .model
                    .as_ref()
                    .and_then(|m| m.params.iter().find(|(n, _)| *n == def.name));
                if let Some((_, v)) = value {
                    text.push_str(&format!("\n\n`{}` = {v} in this check", def.name));
                }
            } else if def.kind == SymbolKind::Param {
                text.push_str("\n\na parameter of the block");
            }
            text
        }
    })
}

/// The layers a line makes: those whose model line ([`Layer::site`]) it
/// is, else (a line inside a block) those it makes at each use.
pub fn layers_of_line(model: &Model, doc: &Document, line: usize) -> (Vec<usize>, bool) {
    let on = |span: Span| doc.line_of(span.start) == line;
    let sited: Vec<usize> = (0..model.layers.len())
        .filter(|&i| on(model.layers[i].site))
        .collect();
    if !sited.is_empty() {
        return (sited, false);
    }
    (
        (0..model.layers.len())
            .filter(|&i| on(model.layers[i].span))
            .collect(),
        true,
    )
}

fn layers_on_line(doc: &Document, line: usize) -> Option<String> {
    let model = doc.model.as_ref()?;
    let (layers, in_block) = layers_of_line(model, doc, line);
    let last = *layers.last()?;
    let mut text = String::new();
    if in_block {
        text.push_str(&format!("In a block, used {} time(s):\n\n", layers.len()));
        for &i in &layers {
            text.push_str(&format!(
                "- `{}`: {}\n",
                model.layers[i].name, model.layers[i].output
            ));
        }
        text.push('\n');
    } else {
        let made: Vec<&Layer> = layers.iter().map(|&i| &model.layers[i]).collect();
        let names: Vec<&str> = made.iter().map(|l| l.name.as_str()).collect();
        text.push_str(&format!(
            "**{}** → `{}`\n\n",
            names.join(", "),
            model.layers[last].output
        ));
        text.push_str(&costs("this line", &made));
    }
    let upto: Vec<&Layer> = model.layers[..=last].iter().collect();
    text.push_str(&costs(
        &format!("model up to `{}`", model.layers[last].name),
        &upto,
    ));
    Some(text)
}

fn costs(what: &str, layers: &[&Layer]) -> String {
    let trainable: usize = layers.iter().map(|l| l.params().trainable).sum();
    let frozen: usize = layers.iter().map(|l| l.params().non_trainable).sum();
    let flops: u64 = layers.iter().map(|l| l.flops()).sum();
    let bytes: u64 = layers.iter().map(|l| l.activation_bytes()).sum();
    format!(
        "| {what} | |\n|---|---|\n| parameters | {} ({} trainable, {} non-trainable) |\n| FLOPs per image | {} |\n| activation memory per image | {} |\n\n",
        thousands((trainable + frozen) as u64),
        thousands(trainable as u64),
        thousands(frozen as u64),
        thousands(flops),
        human_bytes(bytes as u128)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckOptions;

    /// The text of the hover at the first `at` in `text`.
    fn hovered(text: &str, at: &str) -> String {
        let doc = Document::new(text.to_string(), &CheckOptions::default());
        let hover = hover(&doc, text.find(at).unwrap() + 1).expect("a hover");
        let HoverContents::Markup(m) = hover.contents else {
            panic!("markdown")
        };
        m.value
    }

    #[test]
    fn a_pad_line_shows_its_shape_and_no_parameters() {
        let text = hovered(
            "param p = 2\ninput 8x8x1\npad p x 1\nconv 2 3x3\ndense 3\n",
            "pad",
        );
        assert!(text.contains("**pad1** → `12x10x1`"), "{text}");
        assert!(
            text.contains("| parameters | 0 (0 trainable, 0 non-trainable) |"),
            "{text}"
        );
        let text = hovered("param p = 2\ninput 8x8x1\npad p x 1\ndense 3\n", "p x");
        assert!(text.contains("`p` = 2 in this check"), "{text}");
    }
}
