//! Models the language cannot write yet, built by hand from ones it can.

use cnnc::model::{Layer, LayerKind, Model, Operand};

/// From a chain `a; b; c; d…` (with `b` and `c` of one output shape),
/// the graph where `a` feeds both `b` and `c` and `add(b, c)` feeds `d`:
/// `a`'s output has two readers, so its gradient is a sum, and the add's
/// gradient goes to both branches.
pub fn residual(chain: &Model) -> Model {
    let mut m = chain.clone();
    let (b, c) = (&m.layers[1], &m.layers[2]);
    assert_eq!(b.output, c.output, "the two branches must agree in shape");
    m.layers[2].inputs = vec![Operand::Layer(0)];
    m.layers[2].input = m.layers[0].output;
    let add = Layer {
        name: "add1".into(),
        kind: LayerKind::Add,
        inputs: vec![Operand::Layer(1), Operand::Layer(2)],
        input: m.layers[1].output,
        output: m.layers[1].output,
        span: m.layers[2].span,
    };
    m.layers.insert(3, add);
    for layer in &mut m.layers[4..] {
        for operand in &mut layer.inputs {
            if let Operand::Layer(j) = operand {
                *j += 1;
            }
        }
    }
    m.layers[4].inputs = vec![Operand::Layer(3)];
    m
}

/// From a chain `a; b…` whose first layer `a` keeps the input's shape, the
/// graph where `add(input, a)` feeds `b`: a layer that reads the model's
/// input beside the first one.
pub fn input_skip(chain: &Model) -> Model {
    let mut m = chain.clone();
    assert_eq!(
        m.input, m.layers[0].output,
        "the first layer must keep the input's shape"
    );
    let add = Layer {
        name: "add1".into(),
        kind: LayerKind::Add,
        inputs: vec![Operand::Input, Operand::Layer(0)],
        input: m.input,
        output: m.input,
        span: m.layers[0].span,
    };
    m.layers.insert(1, add);
    for layer in &mut m.layers[2..] {
        for operand in &mut layer.inputs {
            if let Operand::Layer(j) = operand {
                *j += 1;
            }
        }
    }
    m
}
