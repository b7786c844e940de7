//! Keras's constants, the ones a user cannot set in a `.cnn` file: what
//! codegen bakes into kernels, training writes into each step and the
//! exports write into their files (an activation's, such as
//! `leaky_relu`'s slope, are in its row of `crate::activation`). The CPU
//! reference (`crate::reference`) writes its own copies of these numbers,
//! from Keras's documentation, so that a wrong one here shows up as a
//! disagreement rather than being shared by both sides.

/// `BatchNormalization`'s running-statistics momentum: running = m ·
/// running + (1 − m) · batch (PyTorch's `momentum` is 1 − m).
pub const BATCHNORM_MOMENTUM: f32 = 0.99;

/// `BatchNormalization`'s ε, added to the variance.
pub const BATCHNORM_EPSILON: f32 = 1e-3;

/// `Adam`'s β1, β2 and ε. Keras adds ε to √v, not to the bias-corrected
/// √v̂, which [`adam_alpha`] accounts for.
pub const ADAM_BETA1: f32 = 0.9;
pub const ADAM_BETA2: f32 = 0.999;
pub const ADAM_EPSILON: f32 = 1e-7;

/// Keras's Adam step size at step `t` (from 1): lr · √(1 − β2^t) / (1 − β1^t).
/// The kernel then moves each weight by `alpha · m / (√v + ε)`.
pub fn adam_alpha(t: u32, lr: f64, beta1: f64, beta2: f64) -> f64 {
    lr * (1.0 - beta2.powi(t as i32)).sqrt() / (1.0 - beta1.powi(t as i32))
}

/// A constant as Python source, to a millionth (Keras's constants are
/// multiples of one): an f32 constant, or one derived from it (PyTorch's
/// momentum is 1 − Keras's), prints as it is written (`0.001`, `0.01`)
/// rather than as f32 arithmetic leaves it (`0.00999999`).
pub fn python_float(x: f64) -> String {
    format!("{:?}", (x * 1e6).round() / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_print_as_written() {
        assert_eq!(python_float(f64::from(BATCHNORM_EPSILON)), "0.001");
        assert_eq!(python_float(1.0 - f64::from(BATCHNORM_MOMENTUM)), "0.01");
        assert_eq!(python_float(0.2), "0.2");
    }

    #[test]
    fn adam_alpha_is_bias_corrected() {
        // Step 1: √(1 − 0.999) / (1 − 0.9) = 0.316…
        assert!((adam_alpha(1, 1.0, 0.9, 0.999) - 0.001f64.sqrt() / 0.1).abs() < 1e-12);
        // Late steps tend to lr.
        assert!((adam_alpha(100_000, 1e-3, 0.9, 0.999) - 1e-3).abs() < 1e-9);
    }
}
