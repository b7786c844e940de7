//! The property test's generator: random valid models written as text,
//! chains and graphs (names, `from`, `add`, `concat`, blocks with
//! parameters called once or under `repeat`, `globalpool`, grouped convs),
//! with their parameter and FLOP counts computed here by Keras's formulas,
//! independently of `cnnc::model`.

use proptest::prelude::*;

/// Every activation a hidden layer may carry (all but softmax), from the
/// table, so that a new row is drawn without a change here; `linear` last.
static ACTS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    use cnnc::activation::Activation;
    let mut acts: Vec<&str> = Activation::all()
        .filter(|&a| a != Activation::SOFTMAX && a != Activation::LINEAR)
        .map(Activation::keyword)
        .collect();
    acts.push(Activation::LINEAR.keyword());
    acts
});

/// A step of the model as generated, before it is written as text. A step
/// that does not fit the current tensor is skipped, so every model checks.
#[derive(Debug, Clone)]
pub enum Gen {
    Conv {
        filters: usize,
        kh: usize,
        kw: usize,
        stride: usize,
        same: bool,
        act: &'static str,
        groups: usize,
    },
    Pool {
        avg: bool,
        k: usize,
        stride: usize,
    },
    Dropout(u8),
    Act(&'static str),
    BatchNorm,
    /// A dense layer in the middle: the tensor becomes a vector.
    Dense {
        units: usize,
        act: &'static str,
    },
    GlobalPool {
        avg: bool,
    },
    /// `A` named, two same-shape convs, `add A` (and the middle one, named).
    Residual {
        k: usize,
        bn: bool,
        act: &'static str,
        twice: bool,
    },
    /// A strided main branch and a 1x1 strided projection `from A`, added.
    Projection {
        filters: usize,
        stride: usize,
        k: usize,
        bn: bool,
    },
    /// Two branches from `A`, concatenated (with `A` itself if `keep`).
    Branches {
        a: usize,
        b: usize,
        k: usize,
        keep: bool,
    },
    /// On a vector: two dense branches joined by `add` or `concat`.
    FlatJoin {
        units: usize,
        concat: bool,
    },
    /// A block used: `which` of `BLOCKS`, with its arguments, `repeat`ed.
    Call {
        which: usize,
        filters: usize,
        extra: usize,
        repeat: usize,
    },
}

pub fn gen_layer() -> impl Strategy<Value = Gen> {
    prop_oneof![
        4 => (1usize..10, 1usize..5, 1usize..5, 1usize..4, any::<bool>(), 0..ACTS.len(), 1usize..4).prop_map(
            |(filters, kh, kw, stride, same, a, groups)| Gen::Conv { filters, kh, kw, stride, same, act: ACTS[a], groups }
        ),
        2 => (any::<bool>(), 1usize..4, 1usize..4).prop_map(|(avg, k, stride)| Gen::Pool { avg, k, stride }),
        1 => (0u8..9).prop_map(Gen::Dropout),
        1 => (0..ACTS.len() - 1).prop_map(|a| Gen::Act(ACTS[a])),
        1 => Just(Gen::BatchNorm),
        1 => (1usize..9, 0..ACTS.len()).prop_map(|(units, a)| Gen::Dense { units, act: ACTS[a] }),
        1 => any::<bool>().prop_map(|avg| Gen::GlobalPool { avg }),
        2 => (1usize..4, any::<bool>(), 0..ACTS.len(), any::<bool>())
            .prop_map(|(k, bn, a, twice)| Gen::Residual { k, bn, act: ACTS[a], twice }),
        2 => (1usize..7, 1usize..3, 1usize..4, any::<bool>())
            .prop_map(|(filters, stride, k, bn)| Gen::Projection { filters, stride, k, bn }),
        2 => (1usize..5, 1usize..5, 1usize..4, any::<bool>())
            .prop_map(|(a, b, k, keep)| Gen::Branches { a, b, k, keep }),
        1 => (1usize..7, any::<bool>()).prop_map(|(units, concat)| Gen::FlatJoin { units, concat }),
        3 => (0..BLOCKS.len(), 1usize..5, 0usize..4, 1usize..4)
            .prop_map(|(which, filters, extra, repeat)| Gen::Call { which, filters, extra, repeat }),
    ]
}

/// The blocks a model may define; `unit` is also used by `res` and `stack`.
const BLOCKS: [&str; 6] = ["unit", "res", "down", "mix", "grp", "stack"];

/// How this model's blocks are written: one kernel size, activation,
/// batchnorm or not, stride and group count for all of them; and how its
/// numbers are spelt ([`Spell`]).
#[derive(Debug, Clone)]
pub struct Style {
    k: usize,
    act: &'static str,
    bn: bool,
    stride: usize,
    groups: usize,
    spell: Spell,
}

/// Every size and count of a layer may be an expression: a model writes
/// its numbers as literals, as arithmetic, or through a `param`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spell {
    /// `3`, `3x3`.
    Literal,
    /// `(3+1)-1`, `3*1` for a square window, `(3+0)x2`.
    Arithmetic,
    /// `one*3`, `(one*3) x (one*2)`, with `param one = 1`.
    Param,
}

impl Spell {
    /// A number where an expression goes.
    fn n(self, v: usize) -> String {
        match self {
            Spell::Literal => v.to_string(),
            Spell::Arithmetic => format!("({v}+1)-1"),
            Spell::Param => format!("one*{v}"),
        }
    }

    /// A kernel or pool window of `h` x `w`.
    fn window(self, h: usize, w: usize) -> String {
        match self {
            Spell::Literal => format!("{h}x{w}"),
            Spell::Arithmetic if h == w => format!("{h}*1"),
            Spell::Arithmetic => format!("({h}+0)x{w}"),
            Spell::Param => format!("({}) x ({})", self.n(h), self.n(w)),
        }
    }
}

pub fn style() -> impl Strategy<Value = Style> {
    (
        1usize..4,
        0..ACTS.len(),
        any::<bool>(),
        1usize..3,
        2usize..4,
        0usize..3,
    )
        .prop_map(|(k, a, bn, stride, groups, spell)| Style {
            k,
            act: ACTS[a],
            bn,
            stride,
            groups,
            spell: [Spell::Literal, Spell::Arithmetic, Spell::Param][spell],
        })
}

/// A model, written as text, with its expected parameter and FLOP counts
/// and the largest tensor (elements per sample) it holds.
#[derive(Debug, Clone)]
pub struct Case {
    pub text: String,
    pub params: usize,
    pub flops: u64,
    pub elements: usize,
    /// Whether it has a name, a block or a global pool: not a plain chain.
    pub graph: bool,
}

/// A tensor's shape: an image, or a vector.
#[derive(Debug, Clone, Copy, PartialEq)]
enum T {
    Img(usize, usize, usize),
    Flat(usize),
}

impl T {
    fn elements(self) -> usize {
        match self {
            T::Img(h, w, c) => h * w * c,
            T::Flat(n) => n,
        }
    }

    fn channels(self) -> usize {
        match self {
            T::Img(_, _, c) => c,
            T::Flat(n) => n,
        }
    }
}

struct Line {
    text: String,
    /// `NAME: ` may go before it (a layer or a call, not a `repeat`).
    labelable: bool,
    label: Option<String>,
}

struct Builder {
    style: Style,
    lines: Vec<Line>,
    used: [bool; BLOCKS.len()],
    t: T,
    params: usize,
    flops: u64,
    elements: usize,
    names: usize,
    graph: bool,
}

impl Builder {
    fn line(&mut self, text: String) {
        self.lines.push(Line {
            text,
            labelable: true,
            label: None,
        });
    }

    fn seen(&mut self, t: T) -> T {
        self.elements = self.elements.max(t.elements());
        t
    }

    /// A conv's output; its parameters (`kh*kw*(ci/G)*co + co`) and FLOPs.
    fn conv(&mut self, input: T, f: usize, k: (usize, usize), stride: usize, same: bool, groups: usize) -> T {
        let T::Img(h, w, c) = input else {
            panic!("a conv on a vector")
        };
        let (oh, ow) = if same {
            (h.div_ceil(stride), w.div_ceil(stride))
        } else {
            ((h - k.0) / stride + 1, (w - k.1) / stride + 1)
        };
        self.params += k.0 * k.1 * (c / groups) * f + f;
        self.flops += 2 * (oh * ow * f * k.0 * k.1 * (c / groups)) as u64;
        self.seen(T::Img(oh, ow, f))
    }

    fn dense(&mut self, input: T, units: usize) -> T {
        self.params += input.elements() * units + units;
        self.flops += 2 * (input.elements() * units) as u64;
        self.seen(T::Flat(units))
    }

    /// Scale, shift, running mean and variance per channel.
    fn batchnorm(&mut self, t: T) -> T {
        self.params += 4 * t.channels();
        self.seen(t)
    }

    /// A name for the current tensor: on the last line if it can take one,
    /// else on a new 1x1 conv (or dense) that keeps its shape.
    fn name_current(&mut self) -> String {
        self.graph = true;
        self.names += 1;
        let name = format!("t{}", self.names);
        match self.lines.last_mut() {
            Some(last) if last.labelable && last.label.is_none() => last.label = Some(name.clone()),
            _ => {
                let t = self.t;
                self.t = match t {
                    T::Img(_, _, c) => {
                        self.line(format!("conv {c} 1x1 same"));
                        self.conv(t, c, (1, 1), 1, true, 1)
                    }
                    T::Flat(n) => {
                        self.line(format!("dense {n}"));
                        self.dense(t, n)
                    }
                };
                self.lines.last_mut().unwrap().label = Some(name.clone());
            }
        }
        name
    }

    fn step(&mut self, layer: Gen) {
        let t = self.t;
        let img = matches!(t, T::Img(..));
        let (h, w, c) = match t {
            T::Img(h, w, c) => (h, w, c),
            T::Flat(n) => (1, 1, n),
        };
        let act = self.style.act;
        match layer {
            Gen::Conv {
                filters,
                kh,
                kw,
                stride,
                same,
                act,
                groups,
            } => {
                if !img || !same && (kh > h || kw > w) {
                    return; // would not fit: skip, keeping the model valid
                }
                let g = if c.is_multiple_of(groups) { groups } else { 1 };
                let filters = g * filters.div_ceil(g);
                let padding = if same { "same" } else { "valid" };
                let groups = if g > 1 {
                    format!(" groups {}", self.style.spell.n(g))
                } else {
                    String::new()
                };
                let sp = self.style.spell;
                self.line(format!(
                    "conv {} {} stride {} {padding} {act}{groups}",
                    sp.n(filters),
                    sp.window(kh, kw),
                    sp.n(stride)
                ));
                self.t = self.conv(t, filters, (kh, kw), stride, same, g);
            }
            Gen::Pool { avg, k, stride } => {
                if !img || k > h || k > w {
                    return;
                }
                let sp = self.style.spell;
                self.line(format!(
                    "pool {} {} stride {}",
                    if avg { "avg" } else { "max" },
                    sp.window(k, k),
                    sp.n(stride)
                ));
                self.t = self.seen(T::Img((h - k) / stride + 1, (w - k) / stride + 1, c));
            }
            Gen::Dropout(tenths) => self.line(format!("dropout {}", tenths as f32 / 10.0)),
            Gen::Act(a) => self.line(a.to_string()),
            Gen::BatchNorm => {
                self.line("batchnorm".into());
                self.batchnorm(t);
            }
            Gen::Dense { units, act } => {
                self.line(format!("dense {} {act}", self.style.spell.n(units)));
                self.t = self.dense(t, units);
            }
            Gen::GlobalPool { avg } => {
                if !img {
                    return;
                }
                self.graph = true;
                self.line(format!("globalpool {}", if avg { "avg" } else { "max" }));
                self.t = self.seen(T::Flat(c));
            }
            Gen::Residual { k, bn, act, twice } => {
                if !img {
                    return;
                }
                let a = self.name_current();
                self.line(format!("conv {c} {} same {act}", self.style.spell.window(k, k)));
                self.conv(t, c, (k, k), 1, true, 1);
                let b = if twice {
                    format!(" {}", self.name_current())
                } else {
                    String::new()
                };
                if bn {
                    self.line("batchnorm".into());
                    self.batchnorm(t);
                }
                self.line(format!("conv {c} {k}x{k} same"));
                self.conv(t, c, (k, k), 1, true, 1);
                self.line(format!("add {a}{b}"));
            }
            Gen::Projection {
                filters,
                stride,
                k,
                bn,
            } => {
                if !img {
                    return;
                }
                let a = self.name_current();
                let sp = self.style.spell;
                self.line(format!(
                    "conv {} {} stride {} same {act}",
                    sp.n(filters),
                    sp.window(k, k),
                    sp.n(stride)
                ));
                let out = self.conv(t, filters, (k, k), stride, true, 1);
                if bn {
                    self.line("batchnorm".into());
                    self.batchnorm(out);
                } else {
                    self.line(format!("conv {filters} {k}x{k} same"));
                    self.conv(out, filters, (k, k), 1, true, 1);
                }
                let m = self.name_current();
                self.line(format!(
                    "conv {filters} 1x1 same stride {} from {a}",
                    self.style.spell.n(stride)
                ));
                self.conv(t, filters, (1, 1), stride, true, 1);
                self.line(format!("add {m}"));
                self.t = out;
            }
            Gen::Branches { a, b, k, keep } => {
                if !img {
                    return;
                }
                let x = self.name_current();
                self.line(format!("conv {a} 1x1 same {act}"));
                self.conv(t, a, (1, 1), 1, true, 1);
                let y = self.name_current();
                self.line(format!("conv {b} {k}x{k} same from {x}"));
                self.conv(t, b, (k, k), 1, true, 1);
                let kept = if keep { format!(" {x}") } else { String::new() };
                self.line(format!("concat {y}{kept}"));
                self.t = self.seen(T::Img(h, w, b + a + if keep { c } else { 0 }));
            }
            Gen::FlatJoin { units, concat } => {
                if img {
                    return;
                }
                let x = self.name_current();
                self.line(format!("dense {units} {act}"));
                let mid = self.dense(t, units);
                if concat {
                    let y = self.name_current();
                    self.line(format!("dense {units} from {x}"));
                    self.dense(t, units);
                    self.line(format!("concat {y} {x}"));
                    self.t = self.seen(T::Flat(2 * units + c));
                } else {
                    self.line(format!("dense {c}"));
                    self.dense(mid, c);
                    self.line(format!("add {x}"));
                }
            }
            Gen::Call {
                which,
                filters,
                extra,
                repeat,
            } => {
                if !img {
                    return;
                }
                let g = self.style.groups;
                // The arguments as written, and what they are.
                let (args, f, more) = match BLOCKS[which] {
                    "res" => (format!("{c}"), c, 0),
                    "grp" if !c.is_multiple_of(g) => return,
                    "grp" => (format!("{}", g * filters), g * filters, 0),
                    // A default argument, or one given as an expression.
                    "down" | "mix" | "stack" if extra == 0 => (format!("{filters}"), filters, 2),
                    "down" | "mix" | "stack" => (format!("{filters}, {extra} * 1"), filters, extra),
                    _ => (format!("{filters}"), filters, 0),
                };
                self.graph = true;
                self.used[which] = true;
                let call = format!("{}({args})", BLOCKS[which]);
                if repeat > 1 {
                    self.line(format!("repeat {} {call}", self.style.spell.n(repeat)));
                    self.lines.last_mut().unwrap().labelable = false;
                } else {
                    self.line(call);
                }
                for _ in 0..repeat {
                    self.t = self.call(which, self.t, f, more);
                }
            }
        }
        let t = self.t;
        self.seen(t);
    }

    /// One use of a block on `t`: its output shape; its costs counted.
    fn call(&mut self, which: usize, t: T, f: usize, more: usize) -> T {
        let T::Img(h, w, c) = t else { unreachable!() };
        let Style {
            k,
            bn,
            stride,
            groups,
            ..
        } = self.style;
        match BLOCKS[which] {
            "unit" => {
                let out = self.conv(t, f, (k, k), 1, true, 1);
                if bn { self.batchnorm(out) } else { out }
            }
            "res" => {
                self.used[0] = true;
                let out = self.call(0, t, f, 0);
                let out = self.conv(out, f, (k, k), 1, true, 1);
                if bn {
                    self.batchnorm(out);
                }
                out
            }
            "down" => {
                let out = self.conv(t, f * more, (k, k), stride, true, 1);
                let out = self.conv(out, f * more, (k, k), 1, true, 1);
                self.conv(t, f * more, (1, 1), stride, true, 1);
                out
            }
            "mix" => {
                self.conv(t, f, (1, 1), 1, true, 1);
                self.conv(t, more, (k, k), 1, true, 1);
                self.seen(T::Img(h, w, more + f + c))
            }
            "grp" => {
                let out = self.conv(t, f, (k, k), 1, true, groups);
                self.conv(out, f, (1, 1), 1, true, 1)
            }
            "stack" => {
                self.used[0] = true;
                (0..more).fold(t, |t, _| self.call(0, t, f, 0))
            }
            _ => unreachable!(),
        }
    }

    /// The definitions of the blocks used.
    fn blocks(&self) -> String {
        let Style {
            k,
            act,
            bn,
            stride,
            groups,
            spell,
        } = self.style;
        // The kernel, the stride and the groups as the blocks write them.
        let (kk, stride, groups) = (spell.window(k, k), spell.n(stride), spell.n(groups));
        let mut text = String::new();
        for (i, name) in BLOCKS.iter().enumerate().filter(|&(i, _)| self.used[i]) {
            text += &match *name {
                "unit" if bn => format!("block unit(f)\n  conv f {kk} same\n  batchnorm\n  {act}\nend\n"),
                "unit" => format!("block unit(f)\n  conv f {kk} same {act}\nend\n"),
                "res" => format!(
                    "block res(f)\n  unit(f)\n  conv f {kk} same\n{}  add in\n  relu\nend\n",
                    if bn { "  batchnorm\n" } else { "" }
                ),
                "down" => format!(
                    "block down(f, m = 2, s = {stride})\n  conv f*m {kk} stride s same {act}\n  \
                     main: conv f*m {kk} same\n  conv f * m 1x1 stride s same from in\n  add main\nend\n"
                ),
                "mix" => format!(
                    "block mix(a, b = 2)\n  x: conv a 1x1 same {act}\n  conv b {kk} same from in\n  concat x in\nend\n"
                ),
                "grp" => format!(
                    "block grp(f, g = {groups})\n  conv f {kk} same groups g {act}\n  conv f 1x1 same\nend\n"
                ),
                "stack" => "block stack(f, n = 2)\n  repeat n unit(f)\nend\n".to_string(),
                _ => unreachable!("{i}"),
            };
        }
        text
    }
}

pub fn case() -> impl Strategy<Value = Case> {
    (
        1usize..13,
        1usize..13,
        1usize..5,
        style(),
        prop::collection::vec(gen_layer(), 0..6),
        2usize..7,
        any::<bool>(),
    )
        .prop_map(|(h0, w0, c0, style, layers, units, softmax)| {
            let t = T::Img(h0, w0, c0);
            let mut b = Builder {
                style,
                lines: Vec::new(),
                used: [false; BLOCKS.len()],
                t,
                params: 0,
                flops: 0,
                elements: t.elements(),
                names: 0,
                graph: false,
            };
            for layer in layers {
                b.step(layer);
            }
            let act = if softmax { "softmax" } else { "linear" };
            let t = b.t;
            b.dense(t, units);
            let one = if b.style.spell == Spell::Param {
                "param one = 1\n"
            } else {
                ""
            };
            let mut text = format!("{one}input {h0}x{w0}x{c0}\n{}", b.blocks());
            for line in &b.lines {
                if let Some(label) = &line.label {
                    text += &format!("{label}: ");
                }
                text += &line.text;
                text.push('\n');
            }
            text += &format!("dense {units} {act}\n");
            Case {
                text,
                params: b.params,
                flops: b.flops,
                elements: b.elements,
                graph: b.graph || b.used.iter().any(|&u| u),
            }
        })
}
