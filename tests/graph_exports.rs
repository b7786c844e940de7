//! What `summary` and `summary --pytorch` print for models that are not
//! chains (built by hand until the language writes them): Keras's
//! "Connected to" column, and an `nn.Module` whose names and shapes are
//! the ones cnnc's weights load into.

mod common;

use std::collections::BTreeMap;

use cnnc::Model;
use cnnc::app::summary::Summary;
use cnnc::model::CheckOptions;
use cnnc::source::Source;
use common::graphs::{self, model};

/// conv1 (TensorFlow's uneven `same` padding) feeds conv2 and batchnorm1,
/// whose sum goes on through an activation layer to a fused softmax.
fn residual() -> Model {
    let mut m = graphs::residual(&model(
        "input 8x8x3; conv 8 3x3 stride 2 same relu; conv 8 3x3 same; batchnorm; relu; pool 2; dense 10 softmax",
    ));
    m.name = "residual".into();
    m
}

/// conv1 keeps the input's shape and is summed with it.
fn input_skip() -> Model {
    let mut m = graphs::input_skip(&model("input 6x6x2; conv 2 3x3 same tanh; dense 3; softmax"));
    m.name = "input_skip".into();
    m
}

#[test]
fn table_of_a_graph_shows_what_each_layer_reads() {
    let table = Summary::new(&residual()).to_table();
    insta::assert_snapshot!(table);
    assert!(Summary::new(&input_skip()).to_table().contains("input, conv1"));
}

#[test]
fn json_lists_each_layers_inputs() {
    let json: serde_json::Value = serde_json::from_str(&Summary::new(&residual()).to_json()).unwrap();
    let inputs: Vec<serde_json::Value> = json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| serde_json::json!({"name": l["name"], "inputs": l["inputs"]}))
        .collect();
    insta::assert_json_snapshot!(inputs);
    // A chain's layers each read the one before.
    let chain: serde_json::Value =
        serde_json::from_str(&Summary::new(&model("input 4x4x1; conv 2 3x3; dense 2")).to_json()).unwrap();
    assert_eq!(chain["layers"][0]["inputs"], serde_json::json!(["input"]));
    assert_eq!(chain["layers"][2]["inputs"], serde_json::json!(["flatten1"]));
}

#[test]
fn pytorch_of_a_graph_is_a_module_with_a_forward() {
    let code = cnnc::export::torch::sequential(&residual());
    insta::assert_snapshot!(code);
    assert_consistent(&residual(), &code);

    let code = cnnc::export::torch::sequential(&input_skip());
    assert!(code.contains("        add1 = x + conv1\n"), "{code}");
    assert!(code.contains("        softmax1 = dense1  # softmax"), "{code}");
    assert_consistent(&input_skip(), &code);
}

/// Both forms of every example: the names, the modules' shapes and the
/// variables agree with cnnc's weights, and the text is Python.
#[test]
fn pytorch_of_every_example_is_consistent_in_both_forms() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cnn") {
            let source = Source::read(&path).unwrap();
            let m = cnnc::load(&source, &CheckOptions::default()).unwrap();
            let sequential = cnnc::export::torch::sequential(&m);
            assert_eq!(
                sequential.contains("nn.Sequential"),
                cnnc::export::is_chain(&m),
                "chains stay sequential, graphs are modules: {}",
                path.display()
            );
            assert_consistent(&m, &sequential);
            assert_consistent(&m, &cnnc::export::torch::module(&m));
        }
    }
}

/// The submodules the code defines, by name: `("NAME", CTOR),` lines of an
/// `nn.Sequential`, `self.NAME = CTOR` lines of an `__init__`.
fn defined_modules(code: &str) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    for line in code.lines() {
        let entry = if let Some(rest) = line.strip_prefix("    (\"") {
            rest.strip_suffix("),").and_then(|r| r.split_once("\", "))
        } else {
            line.strip_prefix("        self.")
                .and_then(|r| r.split_once(" = "))
        };
        if let Some((name, ctor)) = entry {
            let old = modules.insert(name.to_string(), ctor.to_string());
            assert!(old.is_none(), "{name} defined twice");
        }
    }
    modules
}

/// The tensors (suffix, shape) that PyTorch gives a module, from the
/// numbers in its constructor; none for a module without parameters.
fn module_tensors(ctor: &str) -> Vec<(&'static str, Vec<usize>)> {
    let (kind, args) = ctor.split_once('(').unwrap();
    let n: Vec<usize> = args
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    match kind {
        // nn.Conv2d(in, out, kernel_size=(kh, kw), stride=s, padding=…[, groups=g])
        "nn.Conv2d" => {
            let groups = args
                .split_once("groups=")
                .map_or(1, |(_, g)| g.trim_end_matches(')').parse().unwrap());
            vec![
                ("weight", vec![n[1], n[0] / groups, n[2], n[3]]),
                ("bias", vec![n[1]]),
            ]
        }
        "nn.Linear" => vec![("weight", vec![n[1], n[0]]), ("bias", vec![n[1]])],
        "nn.BatchNorm1d" | "nn.BatchNorm2d" => ["weight", "bias", "running_mean", "running_var"]
            .map(|s| (s, vec![n[0]]))
            .to_vec(),
        _ => vec![],
    }
}

/// `load_state_dict` (strict) of cnnc's weights would load, and `forward`
/// reads only what it has: every `self.NAME` is defined, every variable is
/// `x` or assigned before, and the text parses as Python.
fn assert_consistent(model: &Model, code: &str) {
    let modules = defined_modules(code);
    let layout = cnnc::params::ParamLayout::new(model);
    let cnnc: BTreeMap<String, Vec<usize>> = cnnc::weights::to_torch(model, &layout, &vec![0.0; layout.len])
        .into_iter()
        .map(|(name, shape, _)| (name, shape))
        .collect();
    let torch: BTreeMap<String, Vec<usize>> = modules
        .iter()
        .flat_map(|(name, ctor)| {
            module_tensors(ctor)
                .into_iter()
                .map(move |(s, shape)| (format!("{name}.{s}"), shape))
        })
        .collect();
    assert_eq!(
        cnnc, torch,
        "the state_dict cnnc writes and the one the module has\n{code}"
    );
    // A chain is an nn.Sequential; anything else must spell out its forward.
    if !code.contains("nn.Sequential(") {
        let (_, forward) = code
            .split_once("    def forward(self, x):\n")
            .unwrap_or_else(|| panic!("a graph module without forward()\n{code}"));
        assert_forward_reads_what_it_has(forward, &modules, code);
    }
    assert_parses_as_python(code);
}

fn assert_forward_reads_what_it_has(forward: &str, modules: &BTreeMap<String, String>, code: &str) {
    let mut variables = vec!["x".to_string()];
    for line in forward.lines().take_while(|l| l.starts_with("        ")) {
        let line = line.split('#').next().unwrap().trim();
        let (target, expr) = match line.strip_prefix("return ") {
            Some(expr) => (None, expr),
            None => {
                let (target, expr) = line.split_once(" = ").unwrap();
                (Some(target), expr)
            }
        };
        // Each word: after `self.` a module, after another `.` an
        // attribute, before `=` a keyword argument, else a variable.
        let (mut previous, mut i) = ("", 0);
        while let Some(start) = expr[i..].find(|c: char| c.is_ascii_alphabetic() || c == '_') {
            let start = start + i;
            let end = expr[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |e| e + start);
            let (word, before) = (&expr[start..end], &expr[i..start]);
            if before == "." && previous == "self" {
                assert!(modules.contains_key(word), "self.{word} is not defined:\n{code}");
            } else if !before.ends_with('.')
                && !expr[end..].starts_with('=')
                && !["self", "torch"].contains(&word)
            {
                assert!(
                    variables.iter().any(|v| v == word),
                    "{word} read before it is computed:\n{code}"
                );
            }
            (previous, i) = (word, end);
        }
        variables.extend(target.map(str::to_string));
    }
}

/// `ast.parse` accepts it, where `python3` runs (PyTorch is not needed).
fn assert_parses_as_python(code: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("python3")
        .args(["-c", "import ast,sys; ast.parse(sys.stdin.read())"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            eprintln!("skipping the Python syntax check: cannot run python3 ({e})");
            return;
        }
    };
    child.stdin.take().unwrap().write_all(code.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not Python:\n{}\n{code}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The check above catches a `forward` that calls an undefined module or
/// reads a variable before it is computed, and a module whose tensors cnnc
/// does not write.
#[test]
#[should_panic(expected = "self.conv9 is not defined")]
fn consistency_catches_an_undefined_module() {
    let code = cnnc::export::torch::module(&residual()).replace("self.conv2(conv1)", "self.conv9(conv1)");
    assert_consistent(&residual(), &code);
}

#[test]
#[should_panic(expected = "the state_dict cnnc writes and the one the module has")]
fn consistency_catches_a_shape_cnnc_does_not_write() {
    let code = cnnc::export::torch::module(&residual()).replace("nn.Linear(32, 10)", "nn.Linear(33, 10)");
    assert_consistent(&residual(), &code);
}

#[test]
#[should_panic(expected = "add1 read before it is computed")]
fn consistency_catches_a_variable_read_too_early() {
    let code = cnnc::export::torch::module(&residual()).replace("self.conv2(conv1)", "self.conv2(add1)");
    assert_consistent(&residual(), &code);
}
