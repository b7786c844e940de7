//! One test per statement form, and the layout rules around them.

use super::*;
use crate::kinds::SIGNATURES;

fn statements(src: &str) -> Vec<Statement> {
    match parse(src, SIGNATURES) {
        Ok(p) => p.statements.into_iter().map(|s| s.node).collect(),
        Err(e) => panic!("{src:?} did not parse: {e}"),
    }
}

fn one(src: &str) -> Statement {
    let mut all = statements(src);
    assert_eq!(all.len(), 1, "{src:?}");
    all.remove(0)
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

/// A layer statement alone on a line.
fn layer(src: &str) -> LayerStatement {
    match one(src) {
        Statement::Layer(l) => l,
        other => panic!("{src:?} is no layer: {other:?}"),
    }
}

/// An expression argument or option's value, spans dropped.
fn expr_of(l: &LayerStatement, name: &str) -> String {
    shape_of(&l.expr(name).unwrap_or_else(|| panic!("no {name}")))
}

fn window_arg(l: &LayerStatement, name: &str) -> Vec<String> {
    window_of(&l.window(name).expect("a window").node)
}

fn word_of<'a>(l: &'a LayerStatement, name: &str) -> Option<&'a str> {
    l.word(name).map(|w| w.node)
}

#[test]
fn conv_forms() {
    let c = layer("conv 32 3x3");
    assert_eq!((c.kind, expr_of(&c, "filters")), ("conv", "32".to_string()));
    assert_eq!(window_arg(&c, "kernel"), ["3", "3"]);
    assert_eq!(c.values.len(), 2, "no options: {c:?}");

    let c = layer("conv 16 5");
    assert_eq!(
        window_arg(&c, "kernel"),
        ["5"],
        "a single size is a square kernel"
    );

    let c = layer("conv 8 1x7 stride 2 same leaky_relu l2 0.0005");
    assert_eq!(window_arg(&c, "kernel"), ["1", "7"]);
    assert_eq!(expr_of(&c, "stride"), "2");
    assert_eq!(word_of(&c, "padding"), Some("same"));
    assert_eq!(
        c.activation("activation").unwrap().node,
        Activation::named("leaky_relu").unwrap()
    );
    assert_eq!(c.number("l2").unwrap().node, 0.0005);

    // Options in any order.
    let c = layer("conv width*2 3x3 relu valid stride 3");
    assert_eq!(expr_of(&c, "filters"), "(width * 2)");
    assert_eq!(word_of(&c, "padding"), Some("valid"));
    assert_eq!(expr_of(&c, "stride"), "3");
}

#[test]
fn an_option_given_twice_is_refused_with_both_places() {
    let src = "conv 8 3x3 stride 2 relu stride 1";
    let err = parse(src, SIGNATURES).unwrap_err();
    let d = &err.0[0];
    assert_eq!(d.message, "stride given twice");
    let spans: Vec<&str> = d.labels.iter().map(|(s, _)| &src[s.range()]).collect();
    assert_eq!(spans, ["stride 1", "stride 2"]);
}

#[test]
fn every_size_of_a_layer_is_an_expression() {
    let c = layer("conv f k x k stride s same groups c/2");
    assert_eq!(window_arg(&c, "kernel"), ["k", "k"]);
    assert_eq!(expr_of(&c, "stride"), "s");
    assert_eq!(expr_of(&c, "groups"), "(c / 2)");
    let c = layer("conv 8 (k+1)x3 stride 2*s");
    assert_eq!(window_arg(&c, "kernel"), ["(k + 1)", "3"]);
    assert_eq!(expr_of(&c, "stride"), "(2 * s)");
    let c = layer("conv 8 2*k+1 relu");
    assert_eq!(
        window_arg(&c, "kernel"),
        ["((2 * k) + 1)"],
        "one expression: a square"
    );
    assert_eq!(window_arg(&layer("conv 8 3xk"), "kernel"), ["3", "k"]);
    // A name runs on through `x`: `kxk` is one name, a square kernel.
    assert_eq!(window_arg(&layer("conv 8 kxk"), "kernel"), ["kxk"]);
    let p = layer("pool avg w stride w-1");
    assert_eq!(window_arg(&p, "pool window"), ["w"]);
    assert_eq!(expr_of(&p, "stride"), "(w - 1)");
    let Statement::Repeat { count, .. } = one("repeat n*2 relu") else {
        panic!()
    };
    assert_eq!(shape_of(&count), "(n * 2)");
    // A number ends at a word boundary: `3x3` without a filter count is
    // no conv of 3 filters with a kernel named `x3`.
    assert!(parse("conv 3x3 relu", SIGNATURES).is_err());
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
    let p = layer("pool 2");
    assert_eq!(
        (word_of(&p, "kind"), window_arg(&p, "pool window")),
        (None, vec!["2".to_string()])
    );
    assert!(p.expr("stride").is_none());
    let p = layer("pool avg 3x2 stride 1");
    assert_eq!(
        (word_of(&p, "kind"), window_arg(&p, "pool window")),
        (Some("avg"), vec!["3".to_string(), "2".into()])
    );
    assert_eq!(expr_of(&p, "stride"), "1");
    assert_eq!(word_of(&layer("pool max 2x2"), "kind"), Some("max"));
}

#[test]
fn dense_forms() {
    let d = layer("dense 10");
    assert_eq!(expr_of(&d, "units"), "10");
    assert!(d.activation("activation").is_none());
    let d = layer("dense units softmax l2 1e-3");
    assert_eq!(d.expr("units").unwrap().node, Expr::Param("units".into()));
    assert_eq!(d.activation("activation").unwrap().node, Activation::SOFTMAX);
    assert_eq!(d.number("l2").unwrap().node, 0.001);
}

#[test]
fn flatten_dropout_batchnorm_activations_and_graph_layers() {
    assert_eq!(
        (layer("flatten").kind, layer("flatten").values.len()),
        ("flatten", 0)
    );
    assert_eq!(layer("batchnorm").kind, "batchnorm");
    assert_eq!(layer("dropout 0.25").number("rate").unwrap().node, 0.25);
    assert_eq!(layer("dropout .5").number("rate").unwrap().node, 0.5);
    for a in Activation::all() {
        let l = layer(a.keyword());
        assert_eq!((l.kind, l.keyword.node.as_str()), ("ACTIVATION", a.keyword()));
    }
    let names = |l: LayerStatement| l.operands.into_iter().map(|n| n.node).collect::<Vec<_>>();
    assert_eq!(names(layer("add a b")), ["a", "b"]);
    assert_eq!(names(layer("concat in")), ["in"]);
    assert_eq!(word_of(&layer("globalpool max"), "kind"), Some("max"));
    assert_eq!(word_of(&layer("globalpool"), "kind"), None);
}

/// Each kind's example is a statement its signature reads, and every word
/// of the grammar's `kind_word` is a kind's keyword.
#[test]
fn the_kinds_examples_parse_and_kind_words_are_kinds() {
    for s in SIGNATURES {
        assert_eq!(layer(s.example).kind, s.name(), "{}", s.example);
    }
    let grammar = include_str!("../../grammar/cnn.pest");
    let rule = grammar
        .split("\nkind_word = @{")
        .nth(1)
        .expect("a kind_word rule");
    for word in rule[..rule.find('}').unwrap()].split('"').skip(1).step_by(2) {
        assert!(SIGNATURES.iter().any(|s| s.word() == Some(word)), "{word}");
    }
}

#[test]
fn separators_comments_and_spacing() {
    let src = "\n# a comment; with a semicolon\n  input 28x28x1 ;conv 8 3x3 relu # trailing\n\n\t pool 2;;dense 10 softmax;\n";
    let all = statements(src);
    assert_eq!(all.len(), 4);
    assert!(matches!(&all[3], Statement::Layer(l) if l.kind == "dense"));
    assert_eq!(statements("").len(), 0);
    assert_eq!(statements("# only a comment").len(), 0);
    assert_eq!(statements("flatten\r\nflatten\r\n").len(), 2, "CRLF line ends");
}

#[test]
fn spans_point_at_the_source() {
    let src = "input 28x28x1\nconv 32 3x3 relu";
    let program = parse(src, SIGNATURES).unwrap();
    let Statement::Layer(c) = &program.statements[1].node else {
        panic!()
    };
    assert_eq!(&src[program.statements[1].span.range()], "conv 32 3x3 relu");
    assert_eq!(&src[c.window("kernel").unwrap().span.range()], "3x3");
    assert_eq!(&src[c.activation("activation").unwrap().span.range()], "relu");
}

#[test]
fn keywords_need_word_boundaries() {
    assert!(parse("dense10", SIGNATURES).is_err());
    assert!(parse("conv 32 3x3 relux", SIGNATURES).is_err());
    // An identifier may start with a keyword.
    let d = layer("dense relu_units");
    assert_eq!(d.expr("units").unwrap().node, Expr::Param("relu_units".into()));
}

#[test]
fn every_bad_line_is_reported() {
    let err = parse(
        "input 28x28x1\nconv2d 3 3x3\npool 2\ndense 10 sofmax\nflatten x",
        SIGNATURES,
    )
    .unwrap_err();
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
    let err = parse("conv 32 3x3 nonsense # a; b\n", SIGNATURES).unwrap_err();
    assert_eq!(err.0.len(), 1);
}

#[test]
fn deep_nesting_and_long_expressions_are_refused_not_overflowed() {
    let deep = format!("param x = {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(
        parse(&deep, SIGNATURES).unwrap_err().0[0]
            .message
            .contains("nested too deeply")
    );
    let long = format!("param x = 1{}", "+1".repeat(100_000));
    assert!(
        parse(&long, SIGNATURES).unwrap_err().0[0]
            .message
            .contains("too long")
    );
    let ok = format!(
        "param x = {}1{}",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert!(parse(&ok, SIGNATURES).is_ok());
}

#[test]
fn huge_integers_are_errors() {
    let err = parse("conv 99999999999999999999999 3x3", SIGNATURES).unwrap_err();
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
        assert_eq!(Activation::named(&layer(word).keyword.node), Some(a), "{word}");
        let d = layer(&format!("dense 5 {word}"));
        assert_eq!(d.activation("activation").unwrap().node, a, "{word}");
        let c = layer(&format!("conv 4 3x3 {word} same"));
        assert_eq!(c.activation("activation").unwrap().node, a, "{word}");
    }
    assert!(parse("relu6x", SIGNATURES).is_err() && parse("dense 5 relux", SIGNATURES).is_err());
    assert_eq!(Activation::named("swish"), Activation::named("silu"));
}
