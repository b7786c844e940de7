//! The loss: softmax cross-entropy of the scores (fused), each `l2`
//! layer's penalty, and the step's totals.

use super::plan::{Access, BufferRole, Phase};
use super::planner::{Planner, REDUCE_WG};
use crate::model::{Operand, Registry, Shape};
use crate::template;

pub fn loss<K: Registry>(p: &mut Planner<K>, classes: usize) {
    let last = p.model.layers.len() - 1;
    let b = p.options.batch;
    let scores = p.io.layer_outputs[last];
    let grad = p.tensor("logits_grad".into(), Shape::Flat(classes), BufferRole::Gradient);
    p.give_gradient(Operand::Layer(last), grad);
    // The scores may come out of an activation (`dense 10 tanh`): the
    // loss kernel applies its derivative, as any layer's backward would.
    let header = super::template::Header::default()
        .u32("B", b)
        .u32("K", classes)
        .input_derivative(p.producer_activation(Operand::Layer(last)));
    let bindings = vec![
        (scores, Access::Read),
        (p.io.labels, Access::Read),
        (grad, Access::ReadWrite),
        (p.io.probs, Access::ReadWrite),
        (p.io.stats, Access::ReadWrite),
        (p.io.step, Access::Uniform),
    ];
    let template = template!("softmax_cross_entropy");
    p.kernel(
        template.name.into(),
        template,
        Phase::Loss,
        None,
        header,
        bindings,
        b,
        0,
    );
    let slots = l2_penalties(p);
    let bindings = vec![
        (p.io.stats, Access::Read),
        (p.io.totals, Access::ReadWrite),
        (p.io.penalties, Access::Read),
    ];
    let header = super::template::Header::default().u32("B", b).u32("P", slots);
    p.kernel(
        "metrics".into(),
        template!("metrics"),
        Phase::Loss,
        None,
        header,
        bindings,
        1,
        0,
    );
}

/// One kernel per layer with `l2` (over its tensor that decays), each
/// writing its penalty to its slot; returns how many.
fn l2_penalties<K: Registry>(p: &mut Planner<K>) -> usize {
    let mut slot = 0;
    for i in 0..p.model.layers.len() {
        let l2 = p.model.layers[i].l2();
        if l2 <= 0.0 {
            continue;
        }
        let w = p
            .layout
            .decaying(i)
            .expect("a layer with l2 has a tensor that decays");
        let header = super::template::Header::default()
            .u32("N", w.len())
            .u32("OFF", w.offset)
            .f32("L2", l2)
            .u32("SLOT", slot)
            .workgroup_sum();
        let bindings = vec![(p.io.params, Access::Read), (p.io.penalties, Access::ReadWrite)];
        let name = format!("{}_l2_penalty", p.model.layers[i].name);
        p.kernel_in_groups(
            name,
            template!("l2_penalty"),
            Phase::Loss,
            Some(i),
            header,
            bindings,
            REDUCE_WG,
            [1, 1, 1],
            0,
        );
        slot += 1;
    }
    slot
}
