//! Every activation, one row each: its keyword, its WGSL (the function and
//! its derivative, fused into the kernels that produce and consume it), the
//! CPU reference's f64 function and derivative, and its names in Keras,
//! PyTorch and ONNX. A new activation is a row here (and its tests).
//!
//! An [`Activation`] is a handle to a row. Two rows are special and named:
//! [`Activation::LINEAR`] (none) and [`Activation::SOFTMAX`], which can only
//! end a model and is the loss's own (every stage treats it as the
//! identity on the scores; the probabilities are softmax of them).

use std::f64::consts::{FRAC_1_SQRT_2, PI};
use std::fmt;

/// An activation: a row of [`ROWS`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Activation(usize);

/// What a row says about one activation.
pub struct Row {
    /// As written in a `.cnn` file.
    pub keyword: &'static str,
    /// Other spellings it is known by (`swish` for `silu`); `cnnc fmt`
    /// writes the keyword.
    pub aliases: &'static [&'static str],
    /// The WGSL expression of `f(x)`, valid for an `f32` or a `vec4<f32>`
    /// `x`: a literal in braces (`{0.0}`) is written `0.0` for a scalar and
    /// `vec4<f32>(0.0)` for a vector, as WGSL's built-ins want; a helper
    /// called `name#(…)` is `name` for a scalar and `name4` for a vector
    /// (WGSL has no overloads).
    pub wgsl: &'static str,
    /// WGSL functions the expressions call (an `erf` the language lacks),
    /// each written for `f32` and, named with a `4`, for `vec4<f32>`.
    pub wgsl_helpers: &'static str,
    /// The derivative, as the kernels compute it.
    pub derivative: Derivative,
    /// `f(z)` in f64, for the CPU reference.
    pub f: fn(f64) -> f64,
    /// `f'(z)` in f64, of the input `z`, for the CPU reference.
    pub df: fn(f64) -> f64,
    /// Keras's name (`keras.activations.get`).
    pub keras: &'static str,
    /// The PyTorch module that applies it (`nn.ReLU()`); `None` for the
    /// identity and for softmax (the loss's).
    pub torch: Option<&'static str>,
    /// The ONNX nodes that apply it to the value named `x`, returning the
    /// result's name; `None` for the identity and softmax.
    pub onnx: Option<OnnxNodes>,
}

/// Adds an activation's ONNX nodes, named from the second argument, to
/// the value named by the third; returns the result's name.
pub type OnnxNodes = fn(&mut dyn NodeSink, &str, &str) -> String;

/// How a kernel computes an activation's derivative.
#[derive(Clone, Copy)]
pub enum Derivative {
    /// From the activation's output `y` (WGSL over `x`, which is `y`): the
    /// kernel that reads the stored output for its own work applies it, so
    /// the activation is fused into the layer that produces it.
    OfOutput(&'static str),
    /// From its input `z` (WGSL over `x`, which is `z`): for an activation
    /// whose output does not determine its slope (GELU, SiLU). The planner
    /// keeps `z` and applies the activation in a kernel of its own.
    OfInput(&'static str),
}

/// What an ONNX graph offers the rows: one node at a time.
pub trait NodeSink {
    /// Adds node `op` named `name` reading `inputs`, with float
    /// attributes; returns its output's name.
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attributes: &[(&str, f32)]) -> String;
    /// A float32 scalar initializer named `name` holding `value`.
    fn scalar(&mut self, name: &str, value: f32) -> String;
}

/// `leaky_relu`'s negative slope (Keras's `LeakyReLU` and
/// `activations.leaky_relu` default, 0.2; PyTorch's default is 0.01).
pub const LEAKY_SLOPE: f32 = 0.2;

/// `erf`, which WGSL lacks: Abramowitz and Stegun's 7.1.26 (error at most
/// 1.5e-7 in exact arithmetic; `tests/activation_kernels.rs` measures the
/// kernels' against libm's).
const ERF: &str = "\
fn erf(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * abs(x));
    let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(x) * (1.0 - p * exp(-x * x));
}

fn erf4(x: vec4<f32>) -> vec4<f32> {
    let t = 1.0 / (1.0 + 0.3275911 * abs(x));
    let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(x) * (1.0 - p * exp(-x * x));
}
";

fn one(_: f64) -> f64 {
    1.0
}

fn identity(x: f64) -> f64 {
    x
}

/// The rows. The first two are [`Activation::LINEAR`] and
/// [`Activation::SOFTMAX`]; the order is otherwise the order of `cnnc
/// fmt`'s completion lists and the README's table.
pub static ROWS: &[Row] = &[
    Row {
        keyword: "linear",
        aliases: &[],
        wgsl: "x",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("1.0"),
        f: identity,
        df: one,
        keras: "linear",
        torch: None,
        onnx: None,
    },
    Row {
        keyword: "softmax",
        aliases: &[],
        wgsl: "x",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("1.0"),
        f: identity,
        df: one,
        keras: "softmax",
        torch: None,
        onnx: None,
    },
    Row {
        keyword: "relu",
        aliases: &[],
        wgsl: "max(x, {0.0})",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("select(0.0, 1.0, x > 0.0)"),
        f: |x| x.max(0.0),
        df: |x| f64::from(u8::from(x > 0.0)),
        keras: "relu",
        torch: Some("nn.ReLU()"),
        onnx: Some(|g, name, x| g.node("Relu", name, &[x], &[])),
    },
    Row {
        keyword: "leaky_relu",
        aliases: &[],
        wgsl: "select(0.2 * x, x, x > {0.0})",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("select(0.2, 1.0, x > 0.0)"),
        f: |x| if x > 0.0 { x } else { 0.2 * x },
        df: |x| if x > 0.0 { 1.0 } else { 0.2 },
        keras: "leaky_relu",
        torch: Some("nn.LeakyReLU(0.2)"),
        onnx: Some(|g, name, x| g.node("LeakyRelu", name, &[x], &[("alpha", LEAKY_SLOPE)])),
    },
    Row {
        keyword: "sigmoid",
        aliases: &[],
        wgsl: "1.0 / (1.0 + exp(-x))",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("x * (1.0 - x)"),
        f: |x| 1.0 / (1.0 + (-x).exp()),
        df: |x| {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 - s)
        },
        keras: "sigmoid",
        torch: Some("nn.Sigmoid()"),
        onnx: Some(|g, name, x| g.node("Sigmoid", name, &[x], &[])),
    },
    Row {
        keyword: "tanh",
        aliases: &[],
        wgsl: "tanh(x)",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("1.0 - x * x"),
        f: f64::tanh,
        df: |x| 1.0 - x.tanh().powi(2),
        keras: "tanh",
        torch: Some("nn.Tanh()"),
        onnx: Some(|g, name, x| g.node("Tanh", name, &[x], &[])),
    },
    Row {
        keyword: "relu6",
        aliases: &[],
        wgsl: "clamp(x, {0.0}, {6.0})",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("select(0.0, 1.0, x > 0.0 && x < 6.0)"),
        f: |x| x.clamp(0.0, 6.0),
        df: |x| f64::from(u8::from(x > 0.0 && x < 6.0)),
        keras: "relu6",
        torch: Some("nn.ReLU6()"),
        onnx: Some(|g, name, x| {
            let low = g.scalar(&format!("{name}_min"), 0.0);
            let high = g.scalar(&format!("{name}_max"), 6.0);
            g.node("Clip", name, &[x, &low, &high], &[])
        }),
    },
    Row {
        keyword: "gelu",
        aliases: &[],
        wgsl: "0.5 * x * (1.0 + erf#(0.70710678 * x))",
        wgsl_helpers: ERF,
        // Φ(z) + z φ(z); a GELU is not monotone, so its output cannot say.
        derivative: Derivative::OfInput(
            "0.5 * (1.0 + erf(0.70710678 * x)) + 0.39894228 * x * exp(-0.5 * x * x)",
        ),
        f: |x| 0.5 * x * (1.0 + libm::erf(x * FRAC_1_SQRT_2)),
        df: |x| 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2)) + x * (-0.5 * x * x).exp() / (2.0 * PI).sqrt(),
        keras: "gelu",
        torch: Some("nn.GELU()"),
        // Opset 17 has no `Gelu` (it came with 20): its erf form.
        onnx: Some(|g, name, x| {
            let scale = g.scalar(&format!("{name}_scale"), std::f32::consts::FRAC_1_SQRT_2);
            let one = g.scalar(&format!("{name}_one"), 1.0);
            let half = g.scalar(&format!("{name}_half"), 0.5);
            let scaled = g.node("Mul", &format!("{name}_scaled"), &[x, &scale], &[]);
            let erf = g.node("Erf", &format!("{name}_erf"), &[&scaled], &[]);
            let cdf = g.node("Add", &format!("{name}_erf_plus_one"), &[&erf, &one], &[]);
            let half_cdf = g.node("Mul", &format!("{name}_cdf"), &[&cdf, &half], &[]);
            g.node("Mul", name, &[x, &half_cdf], &[])
        }),
    },
    Row {
        keyword: "silu",
        aliases: &["swish"],
        wgsl: "x / (1.0 + exp(-x))",
        wgsl_helpers: "",
        // σ(z) (1 + z (1 - σ(z))); not monotone either.
        derivative: Derivative::OfInput("(1.0 + x * (1.0 - 1.0 / (1.0 + exp(-x)))) / (1.0 + exp(-x))"),
        f: |x| x / (1.0 + (-x).exp()),
        df: |x| {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 + x * (1.0 - s))
        },
        keras: "silu",
        torch: Some("nn.SiLU()"),
        onnx: Some(|g, name, x| {
            let s = g.node("Sigmoid", &format!("{name}_sigmoid"), &[x], &[]);
            g.node("Mul", name, &[x, &s], &[])
        }),
    },
    Row {
        keyword: "elu",
        aliases: &[],
        wgsl: "select(exp(x) - 1.0, x, x > {0.0})",
        wgsl_helpers: "",
        // e^z = y + 1 below zero.
        derivative: Derivative::OfOutput("select(x + 1.0, 1.0, x > 0.0)"),
        f: |x| if x > 0.0 { x } else { x.exp_m1() },
        df: |x| if x > 0.0 { 1.0 } else { x.exp() },
        keras: "elu",
        torch: Some("nn.ELU()"),
        onnx: Some(|g, name, x| g.node("Elu", name, &[x], &[("alpha", 1.0)])),
    },
    Row {
        keyword: "softplus",
        aliases: &[],
        // ln(1 + e^z), without overflow for large z.
        wgsl: "max(x, {0.0}) + log(1.0 + exp(-abs(x)))",
        wgsl_helpers: "",
        // σ(z) = 1 - e^-y.
        derivative: Derivative::OfOutput("1.0 - exp(-x)"),
        f: |x| x.max(0.0) + (-x.abs()).exp().ln_1p(),
        df: |x| 1.0 / (1.0 + (-x).exp()),
        keras: "softplus",
        torch: Some("nn.Softplus()"),
        onnx: Some(|g, name, x| g.node("Softplus", name, &[x], &[])),
    },
    Row {
        keyword: "hard_sigmoid",
        aliases: &[],
        // Keras 3's (and PyTorch's): relu6(z + 3) / 6.
        wgsl: "clamp(x / 6.0 + 0.5, {0.0}, {1.0})",
        wgsl_helpers: "",
        derivative: Derivative::OfOutput("select(0.0, 1.0 / 6.0, x > 0.0 && x < 1.0)"),
        f: |x| (x / 6.0 + 0.5).clamp(0.0, 1.0),
        df: |x| if x.abs() < 3.0 { 1.0 / 6.0 } else { 0.0 },
        keras: "hard_sigmoid",
        torch: Some("nn.Hardsigmoid()"),
        onnx: Some(|g, name, x| g.node("HardSigmoid", name, &[x], &[("alpha", 1.0 / 6.0), ("beta", 0.5)])),
    },
    Row {
        keyword: "hard_swish",
        aliases: &[],
        // Keras 3's `hard_silu` (also `hard_swish`): z relu6(z + 3) / 6.
        wgsl: "x * clamp(x / 6.0 + 0.5, {0.0}, {1.0})",
        wgsl_helpers: "",
        derivative: Derivative::OfInput("select(select(0.0, 1.0, x >= 3.0), x / 3.0 + 0.5, abs(x) < 3.0)"),
        f: |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        df: |x| match x {
            x if x <= -3.0 => 0.0,
            x if x >= 3.0 => 1.0,
            x => x / 3.0 + 0.5,
        },
        keras: "hard_silu",
        torch: Some("nn.Hardswish()"),
        onnx: Some(|g, name, x| g.node("HardSwish", name, &[x], &[])),
    },
];

impl Activation {
    /// No activation: `f(x) = x`.
    pub const LINEAR: Activation = Activation(0);
    /// Softmax, the loss's own: only the last layer may carry it.
    pub const SOFTMAX: Activation = Activation(1);

    /// Every activation, in table order.
    pub fn all() -> impl Iterator<Item = Activation> {
        (0..ROWS.len()).map(Activation)
    }

    /// The activation a keyword (or one of its aliases) names.
    pub fn named(keyword: &str) -> Option<Activation> {
        ROWS.iter()
            .position(|r| r.keyword == keyword || r.aliases.contains(&keyword))
            .map(Activation)
    }

    /// Every word that names an activation: keywords, then aliases.
    pub fn words() -> impl Iterator<Item = &'static str> {
        let aliases = ROWS.iter().flat_map(|r| r.aliases.iter().copied());
        ROWS.iter().map(|r| r.keyword).chain(aliases)
    }

    pub fn row(self) -> &'static Row {
        &ROWS[self.0]
    }

    /// The keyword, as written in a `.cnn` file.
    pub fn keyword(self) -> &'static str {
        self.row().keyword
    }

    /// Whether its derivative comes from its output, so that it runs fused
    /// into the kernel that produces it (see [`Derivative`]).
    pub fn fuses(self) -> bool {
        matches!(self.row().derivative, Derivative::OfOutput(_))
    }

    /// `f(z)` in f64; the identity for linear and softmax.
    pub fn apply(self, z: f64) -> f64 {
        (self.row().f)(z)
    }

    /// `f'(z)` in f64.
    pub fn slope(self, z: f64) -> f64 {
        (self.row().df)(z)
    }

    /// Its WGSL expression for an `f32` `x` (`vector` false) or a
    /// `vec4<f32>` one.
    pub fn wgsl(self, vector: bool) -> String {
        let mut out = String::new();
        let mut rest = self.row().wgsl;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("a closed literal");
            out.push_str(&rest[..open]);
            let literal = &rest[open + 1..close];
            match vector {
                true => out.push_str(&format!("vec4<f32>({literal})")),
                false => out.push_str(literal),
            }
            rest = &rest[close + 1..];
        }
        (out + rest).replace('#', if vector { "4" } else { "" })
    }
}

impl fmt::Debug for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_unique_and_the_specials_come_first() {
        let mut seen = std::collections::HashSet::new();
        assert!(ROWS.iter().all(|r| seen.insert(r.keyword)));
        assert_eq!(Activation::LINEAR.keyword(), "linear");
        assert_eq!(Activation::SOFTMAX.keyword(), "softmax");
        assert_eq!(Activation::named("relu").map(Activation::keyword), Some("relu"));
        assert_eq!(Activation::named("rellu"), None);
    }

    #[test]
    fn literals_splat_for_vectors() {
        let relu = Activation::named("relu").unwrap();
        assert_eq!(relu.wgsl(false), "max(x, 0.0)");
        assert_eq!(relu.wgsl(true), "max(x, vec4<f32>(0.0))");
        let gelu = Activation::named("gelu").unwrap();
        assert_eq!(gelu.wgsl(false), "0.5 * x * (1.0 + erf(0.70710678 * x))");
        assert_eq!(gelu.wgsl(true), "0.5 * x * (1.0 + erf4(0.70710678 * x))");
    }

    /// Aliases name their row; no word names two.
    #[test]
    fn aliases_name_their_row() {
        assert_eq!(Activation::named("swish").map(Activation::keyword), Some("silu"));
        let mut seen = std::collections::HashSet::new();
        assert!(Activation::words().all(|w| seen.insert(w)));
        assert_eq!(seen.len(), ROWS.len() + 1);
    }

    /// The helper's formula (Abramowitz and Stegun 7.1.26), in f64, against
    /// libm's erf: its own error, before f32 and the GPU's `exp` add
    /// theirs (measured by `tests/activation_kernels.rs`).
    #[test]
    fn the_erf_formula_is_within_its_bound() {
        let erf = |x: f64| {
            let t = 1.0 / (1.0 + 0.3275911 * x.abs());
            let p = t
                * (0.254829592
                    + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
            x.signum() * (1.0 - p * (-x * x).exp())
        };
        let worst = (-6000..=6000)
            .map(|i| f64::from(i) / 1000.0)
            .map(|x| (erf(x) - libm::erf(x)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1.5e-7, "{worst:e}");
        assert!(ERF.contains("0.3275911 * abs(x)") && ERF.contains("fn erf4("));
    }

    /// Each row's f64 derivative against central differences of its
    /// function, away from kinks.
    #[test]
    fn reference_derivatives_match_finite_differences() {
        let h = 1e-6;
        for a in Activation::all() {
            for z in [-3.7, -1.3, -0.4, 0.3, 0.9, 2.2, 5.1] {
                let numeric = (a.apply(z + h) - a.apply(z - h)) / (2.0 * h);
                let analytic = a.slope(z);
                assert!(
                    (numeric - analytic).abs() < 1e-6,
                    "{a} at {z}: {numeric} vs {analytic}"
                );
            }
        }
    }

    /// A derivative of the output must agree with the derivative of the
    /// input at the output that input gives.
    #[test]
    fn output_derivatives_agree_with_input_derivatives() {
        // The WGSL of each derivative is held against the reference by the
        // GPU tests; here, that the rows that claim `OfOutput` can: f' is a
        // function of f (monotone f).
        for a in Activation::all().filter(|a| a.fuses()) {
            let zs = [-3.7, -1.3, -0.4, 0.3, 0.9, 2.2, 5.1];
            for w in zs.windows(2) {
                assert!(
                    a.apply(w[0]) <= a.apply(w[1]),
                    "{a} is monotone, so f' is a function of f"
                );
            }
        }
    }
}
