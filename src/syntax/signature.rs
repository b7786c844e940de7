//! How a layer statement is written, as data. Each kind declares its
//! [`Signature`] (its keyword, its arguments in order, its options in the
//! order `cnnc fmt` writes them, its usage line, an example, the words
//! users of other tools type for it), and [`Signature::read`] reads a
//! statement's words against it into a [`LayerStatement`]. The parser,
//! the usage table, the formatter and completion read the signatures the
//! kinds declare (`kinds::SIGNATURES`); none of them lists a kind.

use super::ast::{Expr, Window};
use crate::activation::Activation;
use crate::diagnostic::{Diagnostic, Span, Spanned, closest};

/// A layer kind's syntax: `KEYWORD ARGUMENT... OPTION...`.
#[derive(Debug, PartialEq)]
pub struct Signature {
    /// What starts the statement.
    pub keyword: Keyword,
    /// In order, before any option.
    pub arguments: &'static [Argument],
    /// In any order after the arguments, each at most once; `cnnc fmt`
    /// writes them in this order.
    pub options: &'static [Opt],
    /// The usage line errors end with: `conv FILTERS KxK [stride S] …`.
    pub usage: &'static str,
    /// A whole statement (a test parses it).
    pub example: &'static str,
    /// Words users of other tools type for it (`conv2d`, `fc`).
    pub aliases: &'static [&'static str],
}

/// What starts a layer statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keyword {
    /// One word: `conv`.
    Word(&'static str),
    /// Any activation's keyword: an activation alone on a line.
    Activation,
}

/// An argument of a layer: its name (what a kind asks a
/// [`LayerStatement`] for, and what errors call it) and what it takes.
#[derive(Debug, PartialEq)]
pub struct Argument {
    pub name: &'static str,
    pub value: Value,
    /// Whether it may be left out (a leading `max|avg`).
    pub optional: bool,
}

/// An option: a word, alone or before its value.
#[derive(Debug, PartialEq)]
pub struct Opt {
    /// What errors call it (`stride`, `padding`, `activation`).
    pub name: &'static str,
    pub form: Form,
}

/// How an option is written.
#[derive(Debug, PartialEq)]
pub enum Form {
    /// Its name, then a value: `stride 2`, `l2 5e-4`.
    Valued(Value),
    /// One of these words: `same`, `valid`.
    Flag(&'static [&'static str]),
    /// An activation's keyword: `relu`.
    Activation,
}

/// What an argument or an option's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An integer expression over `param`s: `32`, `width*2`.
    Count,
    /// A window, `KxK`, or one expression for a square: `3x3`, `k x k`, `3`.
    Size,
    /// A decimal: `0.5`, `5e-4`.
    Number,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// One or more names of tensors: `add skip other`.
    Names,
}

/// A word of a layer statement after its keyword, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// An integer expression; a lone name is [`Expr::Param`].
    Expr(Expr),
    /// `3x3`, `k x k`; one expression for a square where the grammar
    /// knew it for a window.
    Window(Window),
    /// A decimal: `0.5`, `5e-4`.
    Number(f64),
    /// A word of the language: `same`, `relu`, `stride`, `max`, `in`.
    Word(String),
}

/// A layer statement, read against its kind's signature: each argument
/// and option given, by name, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerStatement {
    /// The keyword as written (an activation layer's is its activation).
    pub keyword: Spanned<String>,
    /// Which signature read it: its [`Signature::name`].
    pub kind: &'static str,
    /// Arguments and options (an option by its value), in the order written.
    pub values: Vec<(&'static str, Spanned<Arg>)>,
    /// The tensors a [`Value::Names`] argument reads (`add a b`).
    pub operands: Vec<Spanned<String>>,
}

impl Argument {
    pub const fn required(name: &'static str, value: Value) -> Argument {
        Argument {
            name,
            value,
            optional: false,
        }
    }

    pub const fn optional(name: &'static str, value: Value) -> Argument {
        Argument {
            name,
            value,
            optional: true,
        }
    }
}

impl Opt {
    /// `NAME VALUE`.
    pub const fn valued(name: &'static str, value: Value) -> Opt {
        Opt {
            name,
            form: Form::Valued(value),
        }
    }

    /// One of `words`, called `name` in errors.
    pub const fn flag(name: &'static str, words: &'static [&'static str]) -> Opt {
        Opt {
            name,
            form: Form::Flag(words),
        }
    }

    /// An activation's keyword.
    pub const ACTIVATION: Opt = Opt {
        name: "activation",
        form: Form::Activation,
    };
}

impl LayerStatement {
    /// Where what has been read so far ends.
    fn end(&self) -> usize {
        let last = self.values.last().map(|(_, v)| v.span.end);
        last.unwrap_or(self.keyword.span.end)
    }

    pub fn get(&self, name: &str) -> Option<&Spanned<Arg>> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }

    /// An expression given for `name`.
    pub fn expr(&self, name: &str) -> Option<Spanned<Expr>> {
        match self.get(name) {
            Some(Spanned {
                node: Arg::Expr(e),
                span,
            }) => Some(Spanned::new(e.clone(), *span)),
            _ => None,
        }
    }

    /// A window given for `name`; one expression is a square.
    pub fn window(&self, name: &str) -> Option<Spanned<Window>> {
        let arg = self.get(name)?;
        match &arg.node {
            Arg::Window(w) => Some(Spanned::new(w.clone(), arg.span)),
            Arg::Expr(e) => Some(Spanned::new(
                Window::Square(Spanned::new(e.clone(), arg.span)),
                arg.span,
            )),
            _ => None,
        }
    }

    /// A number given for `name` (an integer is one too).
    pub fn number(&self, name: &str) -> Option<Spanned<f64>> {
        let arg = self.get(name)?;
        match &arg.node {
            Arg::Number(v) => Some(Spanned::new(*v, arg.span)),
            Arg::Expr(Expr::Int(v)) => Some(Spanned::new(*v as f64, arg.span)),
            _ => None,
        }
    }

    /// A word given for `name` (a flag, a choice, an activation).
    pub fn word(&self, name: &str) -> Option<Spanned<&str>> {
        let arg = self.get(name)?;
        match &arg.node {
            Arg::Word(w) => Some(Spanned::new(w.as_str(), arg.span)),
            Arg::Expr(Expr::Param(w)) => Some(Spanned::new(w.as_str(), arg.span)),
            _ => None,
        }
    }

    /// The activation given for `name`, if any.
    pub fn activation(&self, name: &str) -> Option<Spanned<Activation>> {
        let word = self.word(name)?;
        Activation::named(word.node).map(|a| Spanned::new(a, word.span))
    }
}

impl Signature {
    /// Whether `word` starts this statement.
    pub fn starts_with(&self, word: &str) -> bool {
        match self.keyword {
            Keyword::Word(w) => w == word,
            Keyword::Activation => Activation::named(word).is_some(),
        }
    }

    /// Its keyword, as the usage table and completion show it.
    pub fn name(&self) -> &'static str {
        match self.keyword {
            Keyword::Word(w) => w,
            Keyword::Activation => "ACTIVATION",
        }
    }

    /// Its keyword where it is one word (not an activation's).
    pub fn word(&self) -> Option<&'static str> {
        match self.keyword {
            Keyword::Word(w) => Some(w),
            Keyword::Activation => None,
        }
    }

    /// Whether one of its options is an activation.
    pub fn takes_activation(&self) -> bool {
        self.options.iter().any(|o| o.form == Form::Activation)
    }

    /// Every word it gives a meaning to after its keyword, activations
    /// aside: choices, option names, flags.
    pub fn words(&self) -> Vec<&'static str> {
        let mut words = Vec::new();
        for a in self.arguments {
            if let Value::Choice(c) = a.value {
                words.extend_from_slice(c);
            }
        }
        for o in self.options {
            match o.form {
                Form::Valued(_) => words.push(o.name),
                Form::Flag(flags) => words.extend_from_slice(flags),
                Form::Activation => {}
            }
        }
        words
    }

    /// Reads `args`, the words after `keyword`, against the signature.
    pub fn read(
        &'static self,
        keyword: Spanned<String>,
        args: Vec<Spanned<Arg>>,
    ) -> Result<LayerStatement, Diagnostic> {
        let mut read = LayerStatement {
            keyword,
            kind: self.name(),
            values: Vec::new(),
            operands: Vec::new(),
        };
        let mut rest = &args[..];
        for argument in self.arguments {
            rest = self.argument(argument, rest, &mut read)?;
        }
        // Each option's span from its word to its value, for "given twice".
        let mut given: Vec<(&str, Span)> = Vec::new();
        while let [first, tail @ ..] = rest {
            let (option, value, after) = self.option(first, tail, &read)?;
            let span = first.span.to(value.span);
            if let Some(&(_, earlier)) = given.iter().find(|(n, _)| *n == option.name) {
                return Err(twice(option.name, span, earlier));
            }
            given.push((option.name, span));
            read.values.push((option.name, value));
            rest = after;
        }
        Ok(read)
    }

    /// Takes `argument` from the front of `args`; returns what follows.
    fn argument<'a>(
        &self,
        argument: &'static Argument,
        args: &'a [Spanned<Arg>],
        read: &mut LayerStatement,
    ) -> Result<&'a [Spanned<Arg>], Diagnostic> {
        if argument.value == Value::Names {
            let count = args.iter().take_while(|a| name_of(a).is_some()).count();
            if count == 0 {
                return Err(self.wrong(argument.value, args.first(), &read.keyword, read.end()));
            }
            for a in &args[..count] {
                let name = name_of(a).expect("counted as a name");
                read.operands.push(Spanned::new(name.to_string(), a.span));
            }
            return Ok(&args[count..]);
        }
        match args.split_first() {
            Some((first, tail)) if fits(argument.value, first) && !self.is_option_word(first) => {
                read.values.push((argument.name, first.clone()));
                Ok(tail)
            }
            _ if argument.optional => Ok(args),
            _ => Err(self.wrong(argument.value, args.first(), &read.keyword, read.end())),
        }
    }

    /// The option `first` starts (its value from `tail`), its value, and
    /// what follows.
    fn option<'a>(
        &'static self,
        first: &Spanned<Arg>,
        tail: &'a [Spanned<Arg>],
        read: &LayerStatement,
    ) -> Result<TakenOption<'a>, Diagnostic> {
        let word = name_of(first).unwrap_or_default();
        for option in self.options {
            match option.form {
                Form::Valued(value) if option.name == word => {
                    return match tail.split_first() {
                        Some((v, rest)) if fits(value, v) => Ok((option, v.clone(), rest)),
                        next => Err(self.wrong(value, next.map(|(v, _)| v), &read.keyword, first.span.end)),
                    };
                }
                Form::Flag(flags) if flags.contains(&word) => return Ok((option, first.clone(), tail)),
                Form::Activation if Activation::named(word).is_some() => {
                    return Ok((option, first.clone(), tail));
                }
                _ => {}
            }
        }
        Err(self.unexpected(first, read))
    }

    fn is_option_word(&self, arg: &Spanned<Arg>) -> bool {
        name_of(arg).is_some_and(|w| {
            self.options.iter().any(|o| match o.form {
                Form::Valued(_) => o.name == w,
                Form::Flag(flags) => flags.contains(&w),
                Form::Activation => Activation::named(w).is_some(),
            })
        })
    }

    fn usage_note(&self) -> String {
        format!("usage: {}", self.usage)
    }

    /// Something else (or nothing) where a value of `value` belongs.
    /// (`after`: where the statement ends, if nothing is found.)
    fn wrong(
        &self,
        value: Value,
        found: Option<&Spanned<Arg>>,
        keyword: &Spanned<String>,
        after: usize,
    ) -> Diagnostic {
        let expected = value.expected();
        let d = match found {
            None => {
                let end = Span::new(after, after);
                Diagnostic::error(format!(
                    "`{}` statement ends too early: expected {expected}",
                    keyword.node
                ))
                .label(end, format!("expected {expected} here"))
            }
            Some(found) => Diagnostic::error(format!("expected {expected}, found {}", shown(found)))
                .label(found.span, format!("expected {expected}")),
        };
        d.note(self.usage_note())
    }

    /// A word this statement gives no meaning to where an option may go:
    /// what could go there (an optional choice not given, the options, the
    /// end), and the closest of those words if it looks misspelt.
    fn unexpected(&self, found: &Spanned<Arg>, read: &LayerStatement) -> Diagnostic {
        let mut parts: Vec<String> = Vec::new();
        let mut words: Vec<&str> = Vec::new();
        for a in self.arguments {
            if let (Value::Choice(choices), true) = (a.value, a.optional && read.get(a.name).is_none()) {
                parts.push(words_list(choices));
                words.extend(choices);
            }
        }
        for o in self.options {
            match o.form {
                Form::Valued(_) => {
                    parts.push(format!("`{}`", o.name));
                    words.push(o.name);
                }
                Form::Flag(flags) => {
                    parts.push(words_list(flags));
                    words.extend(flags);
                }
                Form::Activation => {
                    parts.push("an activation".into());
                    words.extend(Activation::words());
                }
            }
        }
        parts.push("the end of the statement".into());
        let expected = match parts.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, init)) => format!("{} or {last}", init.join(", ")),
            None => unreachable!("the end is always a part"),
        };
        let suggestion = name_of(found).and_then(|w| closest(w, words.iter().copied()));
        let title = match suggestion {
            Some(s) if Activation::named(s).is_some() => {
                format!("unknown activation {}", shown(found))
            }
            _ => format!("expected {expected}, found {}", shown(found)),
        };
        let label = match suggestion {
            Some(_) => "not recognised here".to_string(),
            None => format!("expected {expected}"),
        };
        let d = Diagnostic::error(title)
            .label(found.span, label)
            .note(self.usage_note());
        match suggestion {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d,
        }
    }
}

impl Value {
    /// What a user writes for it, for "expected …".
    fn expected(self) -> String {
        match self {
            Value::Count => "a count (a number or a parameter)".into(),
            Value::Size => "a size like `3x3`".into(),
            Value::Number => "a number".into(),
            Value::Choice(words) => words_list(words),
            Value::Names => "the name of a layer's output".into(),
        }
    }
}

/// Whether `arg` can be a value of `value`.
fn fits(value: Value, arg: &Spanned<Arg>) -> bool {
    match (value, &arg.node) {
        (Value::Count, Arg::Expr(_)) => true,
        (Value::Size, Arg::Expr(_) | Arg::Window(_)) => true,
        (Value::Number, Arg::Number(_) | Arg::Expr(Expr::Int(_))) => true,
        (Value::Choice(words), _) => name_of(arg).is_some_and(|w| words.contains(&w)),
        (Value::Names, _) => name_of(arg).is_some(),
        _ => false,
    }
}

/// The word or name `arg` is, if it is one.
fn name_of(arg: &Spanned<Arg>) -> Option<&str> {
    match &arg.node {
        Arg::Word(w) | Arg::Expr(Expr::Param(w)) => Some(w),
        _ => None,
    }
}

/// An option, its value, and the words after it.
type TakenOption<'a> = (&'static Opt, Spanned<Arg>, &'a [Spanned<Arg>]);

fn twice(what: &str, second: Span, first: Span) -> Diagnostic {
    Diagnostic::error(format!("{what} given twice"))
        .label(second, format!("second {what}"))
        .label(first, format!("first {what}"))
        .help(format!("a layer takes one {what}; remove one of them"))
}

/// `` `a`, `b` or `c` ``.
fn words_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
    }
}

/// How an argument is shown in a message.
fn shown(arg: &Spanned<Arg>) -> String {
    match &arg.node {
        Arg::Word(w) | Arg::Expr(Expr::Param(w)) => format!("`{w}`"),
        Arg::Expr(Expr::Int(v)) => format!("`{v}`"),
        Arg::Number(_) => "a number".into(),
        Arg::Window(_) => "a size".into(),
        Arg::Expr(_) => "an expression".into(),
    }
}
