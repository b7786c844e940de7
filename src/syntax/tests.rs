//! One test per statement form, and the layout rules around them.

use super::*;

fn statements(src: &str) -> Vec<Statement> {
    match parse(src) {
        Ok(p) => p.statements.into_iter().map(|s| s.node).collect(),
        Err(e) => panic!("{src:?} did not parse: {e}"),
    }
}

fn one(src: &str) -> Statement {
    let mut all = statements(src);
    assert_eq!(all.len(), 1, "{src:?}");
    all.remove(0)
}

fn int(v: i64) -> Expr {
    Expr::Int(v)
}

/// A window's sides as [`shape_of`] writes them; one for a square.
fn window_of(w: &Window) -> Vec<String> {
    match w {
        Window::Square(k) => vec![shape_of(k)],
        Window::Rect(h, w) => vec![shape_of(h), shape_of(w)],
    }
}

/// An expression with spans dropped, for comparison.
fn shape_of(e: &Spanned<Expr>) -> String {
    match &e.node {
        Expr::Int(v) => v.to_string(),
        Expr::Param(p) => p.clone(),
        Expr::Binary { op, lhs, rhs } => {
            format!("({} {} {})", shape_of(lhs), op.symbol(), shape_of(rhs))
        }
    }
}

#[test]
fn model_and_input() {
    assert!(matches!(one("model cifar-1.v2"), Statement::Model(n) if n.node == "cifar-1.v2"));
    assert!(matches!(one("input 32x32x3"), Statement::Input(d) if d.node == [32, 32, 3]));
}

#[test]
fn param_with_expression() {
    let Statement::Param { name, value } = one("param depth = (width + 2) * 3 / 4 - 1") else {
        panic!("not a param")
    };
    assert_eq!(name.node, "depth");
    assert_eq!(shape_of(&value), "((((width + 2) * 3) / 4) - 1)");
}

#[test]
fn precedence_is_arithmetic() {
    let Statement::Param { value, .. } = one("param x = 1 + 2 * 3 - 4 / 2") else {
        panic!("not a param")
    };
    assert_eq!(shape_of(&value), "((1 + (2 * 3)) - (4 / 2))");
}

#[test]
fn conv_forms() {
    let Statement::Conv(c) = one("conv 32 3x3") else {
        panic!()
    };
    assert_eq!(c.filters.node, int(32));
    assert_eq!(window_of(&c.kernel.node), ["3", "3"]);
    assert!(c.stride.is_none() && c.padding.is_none() && c.activation.is_none() && c.l2.is_none());

    let Statement::Conv(c) = one("conv 16 5") else {
        panic!()
    };
    assert_eq!(
        window_of(&c.kernel.node),
        ["5"],
        "a single size is a square kernel"
    );

    let Statement::Conv(c) = one("conv 8 1x7 stride 2 same leaky_relu l2 0.0005") else {
        panic!()
    };
    assert_eq!(window_of(&c.kernel.node), ["1", "7"]);
    assert_eq!(c.stride.unwrap().node, int(2));
    assert_eq!(c.padding.unwrap().node, Padding::Same);
    assert_eq!(
        c.activation.unwrap().node,
        Activation::named("leaky_relu").unwrap()
    );
    assert_eq!(c.l2.unwrap().node, 0.0005);

    // Options in any order.
    let Statement::Conv(c) = one("conv width*2 3x3 relu valid stride 3") else {
        panic!()
    };
    assert_eq!(shape_of(&c.filters), "(width * 2)");
    assert_eq!(c.padding.unwrap().node, Padding::Valid);
    assert_eq!(c.stride.unwrap().node, int(3));
}

#[test]
fn every_size_of_a_layer_is_an_expression() {
    let Statement::Conv(c) = one("conv f k x k stride s same groups c/2") else {
        panic!()
    };
    assert_eq!(window_of(&c.kernel.node), ["k", "k"]);
    assert_eq!(shape_of(c.stride.as_ref().unwrap()), "s");
    assert_eq!(shape_of(c.groups.as_ref().unwrap()), "(c / 2)");
    let Statement::Conv(c) = one("conv 8 (k+1)x3 stride 2*s") else {
        panic!()
    };
    assert_eq!(window_of(&c.kernel.node), ["(k + 1)", "3"]);
    assert_eq!(shape_of(c.stride.as_ref().unwrap()), "(2 * s)");
    let Statement::Conv(c) = one("conv 8 2*k+1 relu") else {
        panic!()
    };
    assert_eq!(
        window_of(&c.kernel.node),
        ["((2 * k) + 1)"],
        "one expression: a square"
    );
    let Statement::Conv(c) = one("conv 8 3xk") else {
        panic!()
    };
    assert_eq!(window_of(&c.kernel.node), ["3", "k"]);
    // A name runs on through `x`: `kxk` is one name, a square kernel.
    let Statement::Conv(c) = one("conv 8 kxk") else {
        panic!()
    };
    assert_eq!(window_of(&c.kernel.node), ["kxk"]);
    let Statement::Pool(p) = one("pool avg w stride w-1") else {
        panic!()
    };
    assert_eq!(window_of(&p.window.node), ["w"]);
    assert_eq!(shape_of(p.stride.as_ref().unwrap()), "(w - 1)");
    let Statement::Repeat { count, .. } = one("repeat n*2 relu") else {
        panic!()
    };
    assert_eq!(shape_of(&count), "(n * 2)");
    // A number ends at a word boundary: `3x3` without a filter count is
    // no conv of 3 filters with a kernel named `x3`.
    assert!(parse("conv 3x3 relu").is_err());
}

#[test]
fn a_repeat_can_be_named() {
    let Statement::Wired { label, layer, from } = one("short: repeat s-1 conv 8 1x1") else {
        panic!()
    };
    assert_eq!(label.unwrap().node, "short");
    assert!(from.is_none());
    assert!(matches!(layer.node, Statement::Repeat { .. }));
}

#[test]
fn pool_forms() {
    let Statement::Pool(p) = one("pool 2") else {
        panic!()
    };
    assert_eq!(
        (p.kind, window_of(&p.window.node), p.stride),
        (PoolKind::Max, vec!["2".to_string()], None)
    );
    let Statement::Pool(p) = one("pool avg 3x2 stride 1") else {
        panic!()
    };
    assert_eq!(
        (p.kind, window_of(&p.window.node)),
        (PoolKind::Avg, vec!["3".to_string(), "2".into()])
    );
    assert_eq!(p.stride.unwrap().node, int(1));
    let Statement::Pool(p) = one("pool max 2x2") else {
        panic!()
    };
    assert_eq!(p.kind, PoolKind::Max);
}

#[test]
fn dense_forms() {
    let Statement::Dense(d) = one("dense 10") else {
        panic!()
    };
    assert_eq!(d.units.node, int(10));
    assert!(d.activation.is_none());
    let Statement::Dense(d) = one("dense units softmax l2 1e-3") else {
        panic!()
    };
    assert_eq!(d.units.node, Expr::Param("units".into()));
    assert_eq!(d.activation.unwrap().node, Activation::SOFTMAX);
    assert_eq!(d.l2.unwrap().node, 0.001);
}

#[test]
fn flatten_dropout_batchnorm_activations() {
    assert_eq!(one("flatten"), Statement::Flatten);
    assert_eq!(one("batchnorm"), Statement::BatchNorm);
    assert!(matches!(one("dropout 0.25"), Statement::Dropout(r) if r.node == 0.25));
    assert!(matches!(one("dropout .5"), Statement::Dropout(r) if r.node == 0.5));
    for a in Activation::all() {
        assert_eq!(one(a.keyword()), Statement::Activation(a));
    }
}

#[test]
fn separators_comments_and_spacing() {
    let src = "\n# a comment; with a semicolon\n  input 28x28x1 ;conv 8 3x3 relu # trailing\n\n\t pool 2;;dense 10 softmax;\n";
    let all = statements(src);
    assert_eq!(all.len(), 4);
    assert!(matches!(all[3], Statement::Dense(_)));
    assert_eq!(statements("").len(), 0);
    assert_eq!(statements("# only a comment").len(), 0);
    assert_eq!(statements("flatten\r\nflatten\r\n").len(), 2, "CRLF line ends");
}

#[test]
fn spans_point_at_the_source() {
    let src = "input 28x28x1\nconv 32 3x3 relu";
    let program = parse(src).unwrap();
    let Statement::Conv(c) = &program.statements[1].node else {
        panic!()
    };
    assert_eq!(&src[program.statements[1].span.range()], "conv 32 3x3 relu");
    assert_eq!(&src[c.kernel.span.range()], "3x3");
    assert_eq!(&src[c.activation.as_ref().unwrap().span.range()], "relu");
}

#[test]
fn keywords_need_word_boundaries() {
    assert!(parse("dense10").is_err());
    assert!(parse("conv 32 3x3 relux").is_err());
    // An identifier may start with a keyword.
    let Statement::Dense(d) = one("dense relu_units") else {
        panic!()
    };
    assert_eq!(d.units.node, Expr::Param("relu_units".into()));
}

#[test]
fn every_bad_line_is_reported() {
    let err = parse("input 28x28x1\nconv2d 3 3x3\npool 2\ndense 10 sofmax\nflatten x").unwrap_err();
    let lines: Vec<usize> = err
        .0
        .iter()
        .map(|d| {
            crate::diagnostic::line_col(
                "input 28x28x1\nconv2d 3 3x3\npool 2\ndense 10 sofmax\nflatten x",
                d.labels[0].0.start,
            )
            .0
        })
        .collect();
    assert_eq!(lines, vec![2, 4, 5]);
}

#[test]
fn semicolon_in_a_comment_of_a_bad_line_is_one_error() {
    let err = parse("conv 32 3x3 nonsense # a; b\n").unwrap_err();
    assert_eq!(err.0.len(), 1);
}

#[test]
fn deep_nesting_and_long_expressions_are_refused_not_overflowed() {
    let deep = format!("param x = {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(
        parse(&deep).unwrap_err().0[0]
            .message
            .contains("nested too deeply")
    );
    let long = format!("param x = 1{}", "+1".repeat(100_000));
    assert!(parse(&long).unwrap_err().0[0].message.contains("too long"));
    let ok = format!(
        "param x = {}1{}",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert!(parse(&ok).is_ok());
}

#[test]
fn huge_integers_are_errors() {
    let err = parse("conv 99999999999999999999999 3x3").unwrap_err();
    assert!(err.0[0].message.contains("too large"), "{:?}", err.0[0]);
}

/// The grammar's activation words are the rows' keywords and aliases, and
/// each parses, alone and as an option, as its row; a word that merely
/// starts with one (`relu6x`, `relux`) is none.
#[test]
fn every_activation_word_of_the_rows_parses() {
    let grammar = include_str!("../../grammar/cnn.pest");
    let rule = grammar
        .split("\nactivation = @{")
        .nth(1)
        .expect("an activation rule");
    let mut in_grammar: Vec<&str> = rule[..rule.find('}').unwrap()]
        .split('"')
        .skip(1)
        .step_by(2)
        .collect();
    let mut in_rows: Vec<&str> = Activation::words().collect();
    in_grammar.sort_unstable();
    in_rows.sort_unstable();
    assert_eq!(in_grammar, in_rows);
    for word in Activation::words() {
        let a = Activation::named(word).unwrap();
        assert!(matches!(one(word), Statement::Activation(b) if b == a), "{word}");
        let Statement::Dense(d) = one(&format!("dense 5 {word}")) else {
            panic!("{word}")
        };
        assert_eq!(d.activation.unwrap().node, a, "{word}");
        let Statement::Conv(c) = one(&format!("conv 4 3x3 {word} same")) else {
            panic!("{word}")
        };
        assert_eq!(c.activation.unwrap().node, a, "{word}");
    }
    assert!(parse("relu6x").is_err() && parse("dense 5 relux").is_err());
    assert_eq!(Activation::named("swish"), Activation::named("silu"));
}
