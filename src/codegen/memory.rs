//! Liveness: gradient buffers share memory when their lives do not overlap.

use super::plan::{BufferDecl, BufferId, BufferRole, Io, Kernel};

/// Gradients live only from the kernel that writes them to the last one
/// that reads them; buffers whose lifetimes do not overlap are merged
/// (greedy interval colouring), so the backward pass needs a few gradient
/// buffers rather than one per layer. Renumbers every binding and `io`.
pub fn share_gradient_buffers(buffers: &mut Vec<BufferDecl>, kernels: &mut [Kernel], io: &mut Io) {
    let groups = colour(buffers, kernels);
    // The first logical buffer of each group becomes the physical one.
    let mut target: Vec<BufferId> = (0..buffers.len()).collect();
    for (i, (bytes, group)) in groups.iter().enumerate() {
        let keep = group[0];
        buffers[keep].bytes = *bytes;
        buffers[keep].name = format!("gradients{i}");
        for &b in &group[1..] {
            target[b] = keep;
        }
    }
    // Drop merged buffers and renumber the rest.
    let mut new_id = vec![usize::MAX; buffers.len()];
    let mut kept = Vec::new();
    for (b, decl) in buffers.iter().enumerate() {
        if target[b] == b {
            new_id[b] = kept.len();
            kept.push(decl.clone());
        }
    }
    let remap = |b: BufferId| new_id[target[b]];
    for binding in kernels.iter_mut().flat_map(|k| k.bindings.iter_mut()) {
        binding.buffer = remap(binding.buffer);
    }
    for b in io
        .dataset
        .iter_mut()
        .chain(io.layer_outputs.iter_mut())
        .chain(io.layer_grads.iter_mut().flatten())
    {
        *b = remap(*b);
    }
    for b in [
        &mut io.indices,
        &mut io.input,
        &mut io.labels,
        &mut io.step,
        &mut io.params,
        &mut io.grads,
        &mut io.probs,
        &mut io.stats,
        &mut io.totals,
        &mut io.penalties,
    ] {
        *b = remap(*b);
    }
    *buffers = kept;
}

/// Groups of gradient buffers that can share one physical buffer, with
/// the size it needs.
fn colour(buffers: &[BufferDecl], kernels: &[Kernel]) -> Vec<(u64, Vec<BufferId>)> {
    // Each gradient buffer's first and last use, by kernel index, in one
    // pass over the bindings.
    let mut uses: Vec<Option<(usize, usize)>> = vec![None; buffers.len()];
    for (k, kernel) in kernels.iter().enumerate() {
        for binding in &kernel.bindings {
            let life = &mut uses[binding.buffer];
            *life = Some(life.map_or((k, k), |(first, _)| (first, k)));
        }
    }
    let mut lives: Vec<(usize, usize, BufferId)> = (0..buffers.len())
        .filter(|&b| buffers[b].role == BufferRole::Gradient)
        .filter_map(|b| uses[b].map(|(first, last)| (first, last, b)))
        .collect();
    lives.sort_unstable();
    // Physical buffers: (last use so far, size, logical buffers).
    let mut shared: Vec<(usize, u64, Vec<BufferId>)> = Vec::new();
    for (first, last, b) in lives {
        let bytes = buffers[b].bytes;
        match shared.iter_mut().find(|s| s.0 < first) {
            Some(s) => {
                s.0 = last;
                s.1 = s.1.max(bytes);
                s.2.push(b);
            }
            None => shared.push((last, bytes, vec![b])),
        }
    }
    shared
        .into_iter()
        .map(|(_, bytes, group)| (bytes, group))
        .collect()
}
