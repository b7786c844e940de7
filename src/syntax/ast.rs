//! The syntax tree of a `.cnn` file: what was written, with where.
//!
//! Nothing here is checked beyond the grammar: counts are unevaluated
//! expressions, shapes are not propagated. `model::check` does that.

pub use super::signature::LayerStatement;
use crate::diagnostic::{Span, Spanned};

/// A whole `.cnn` file, statements in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub statements: Vec<Spanned<Statement>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `model NAME`
    Model(Spanned<String>),
    /// `input HxWxC`
    Input(Spanned<[u64; 3]>),
    /// `param NAME = EXPR`
    Param {
        name: Spanned<String>,
        value: Spanned<Expr>,
    },
    /// A layer: its keyword and what its kind's signature read
    /// (`conv 32 3x3 same relu`, `add skip`, `relu`).
    Layer(LayerStatement),
    /// A layer that names its output (`skip: batchnorm`) or reads a named
    /// one instead of the previous (`conv 8 1x1 from skip`), or both.
    Wired {
        label: Option<Spanned<String>>,
        layer: Box<Spanned<Statement>>,
        from: Option<Spanned<String>>,
    },
    /// `block NAME(p, q = 1)`, its lines, `end`.
    Block(Block),
    /// `NAME(ARGS)`: a block's lines, in its place.
    Call {
        name: Spanned<String>,
        args: Vec<Spanned<Expr>>,
    },
    /// `repeat N LAYER`: the layer (or block call) N times in a row.
    Repeat {
        count: Spanned<Expr>,
        body: Box<Spanned<Statement>>,
    },
}

/// A reusable sequence of layers with integer parameters; inside it, `in`
/// names the tensor it was called on.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: Spanned<String>,
    /// Each parameter, with its default if it has one.
    pub params: Vec<(Spanned<String>, Option<Spanned<Expr>>)>,
    /// Its statements (layers, calls, repeats; no nested blocks).
    pub body: Vec<Spanned<Statement>>,
    /// The `end` line.
    pub end: Span,
}

impl Block {
    /// A block without name or body that starts at `span`: what a header
    /// that does not parse opens, so that its `end` finds it.
    pub(crate) fn opened_at(span: Span) -> Block {
        Block {
            name: Spanned::new(String::new(), span),
            params: Vec::new(),
            body: Vec::new(),
            end: span,
        }
    }
}

/// A kernel or pool window: one size for a square (`3`, `k`), or height
/// and width (`3x5`, `k x 1`). Each size is an expression; the spans of
/// `Option`s of a layer (`stride`, `groups`) are their expressions'.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    Square(Spanned<Expr>),
    Rect(Spanned<Expr>, Spanned<Expr>),
}

impl Window {
    /// Height and width.
    pub fn sides(&self) -> [&Spanned<Expr>; 2] {
        match self {
            Window::Square(k) => [k, k],
            Window::Rect(h, w) => [h, w],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    Valid,
    Same,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Avg,
}

pub use crate::activation::Activation;

/// An integer expression over declared parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Int(i64),
    Param(String),
    Binary {
        op: BinOp,
        lhs: Box<Spanned<Expr>>,
        rhs: Box<Spanned<Expr>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}
