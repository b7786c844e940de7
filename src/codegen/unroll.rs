//! Loops over register tiles, written out at code-generation time.
//!
//! A template may say
//!
//! ```text
//! //% for r in 0..TM
//!     let a${r} = x[row${r} + ci];
//! //% end
//! ```
//!
//! and the lines between are repeated, `${expr}` replaced by the value of
//! an integer expression over the loop variables and the kernel's
//! constants. Written out, the tile is plain scalar (or vec4) variables
//! that the driver's compiler keeps in registers; left as WGSL loops over
//! private arrays, some compilers (Mesa's lavapipe among them) leave the
//! arrays in memory.

use std::collections::HashMap;

/// Expands every `//% for` block; `consts` are the kernel's constants.
pub fn expand(template: &str, consts: &HashMap<&str, u64>) -> Result<String, String> {
    let lines: Vec<&str> = template.lines().collect();
    let mut out = String::new();
    let mut vars: Vec<(String, u64)> = Vec::new();
    block(&lines, consts, &mut vars, &mut out)?;
    Ok(out)
}

/// Expands `lines` (a whole template or a loop body) into `out`.
fn block(
    lines: &[&str],
    consts: &HashMap<&str, u64>,
    vars: &mut Vec<(String, u64)>,
    out: &mut String,
) -> Result<(), String> {
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(header) = line.trim().strip_prefix("//% for ") {
            let end = matching_end(lines, i)?;
            let (var, range) = header
                .split_once(" in ")
                .ok_or_else(|| format!("expected `//% for VAR in A..B`, found `{}`", line.trim()))?;
            let (from, to) = range
                .split_once("..")
                .ok_or_else(|| format!("expected a range A..B in `{}`", line.trim()))?;
            let (from, to) = (eval(from, consts, vars)?, eval(to, consts, vars)?);
            for v in from..to {
                vars.push((var.trim().to_string(), v));
                block(&lines[i + 1..end], consts, vars, out)?;
                vars.pop();
            }
            i = end + 1;
        } else if line.trim() == "//% end" {
            return Err("`//% end` without `//% for`".into());
        } else {
            out.push_str(&substitute(line, consts, vars)?);
            out.push('\n');
            i += 1;
        }
    }
    Ok(())
}

fn matching_end(lines: &[&str], start: usize) -> Result<usize, String> {
    let mut depth = 0;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let t = line.trim();
        if t.starts_with("//% for ") {
            depth += 1;
        } else if t == "//% end" {
            depth -= 1;
            if depth == 0 {
                return Ok(i);
            }
        }
    }
    Err(format!("`{}` has no `//% end`", lines[start].trim()))
}

fn substitute(line: &str, consts: &HashMap<&str, u64>, vars: &[(String, u64)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{}`", line.trim()))?;
        out.push_str(&eval(&rest[start + 2..start + end], consts, vars)?.to_string());
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An integer expression: sums of products of numbers and names.
fn eval(expr: &str, consts: &HashMap<&str, u64>, vars: &[(String, u64)]) -> Result<u64, String> {
    expr.split('+')
        .map(|term| {
            term.split('*')
                .map(|factor| {
                    let f = factor.trim();
                    f.parse::<u64>()
                        .ok()
                        .or_else(|| vars.iter().rev().find(|(n, _)| n == f).map(|(_, v)| *v))
                        .or_else(|| consts.get(f).copied())
                        .ok_or_else(|| format!("unknown name `{f}` in `${{{expr}}}`"))
                })
                .product::<Result<u64, String>>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_loops_and_expressions() {
        let consts = HashMap::from([("TM", 2), ("TN4", 2)]);
        let template = "start\n//% for r in 0..TM\n  //% for j in 0..TN4\n  a${r}_${j} = ${4*j+r};\n  //% end\n//% end\nend";
        let out = expand(template, &consts).unwrap();
        assert_eq!(
            out,
            "start\n  a0_0 = 0;\n  a0_1 = 4;\n  a1_0 = 1;\n  a1_1 = 5;\nend\n"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let consts = HashMap::new();
        assert!(
            expand("//% for r in 0..2\nx", &consts)
                .unwrap_err()
                .contains("no `//% end`")
        );
        assert!(
            expand("${nope}", &consts)
                .unwrap_err()
                .contains("unknown name `nope`")
        );
        assert!(expand("//% end", &consts).unwrap_err().contains("without"));
    }
}
