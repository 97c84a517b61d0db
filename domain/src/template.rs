//! The manual's template language, used in every text an action writes.
//!
//! ```text
//! Hello {{contact.name:upper}}, your order {{lead.cf(123)}} costs {{ (lead.price*1.2):calc:words }}.
//! Seen {{date.now:date(d.m.Y H:i)}}; counter {report}; webhook {form_name}; link {tglink:58}; {reset}
//! ```
//!
//! - `{{path}}` prints a value ([`crate::path`] lists paths); modifiers follow with `:`:
//!   `upper`, `lower`, `words` (number to English words), `date(FORMAT)` (PHP-style letters
//!   `d j m n Y y H G i s D l M F U`, `\` escapes a letter).
//! - `{{ (a+b):calc }}` calculates with `+ - * /` and parentheses over numbers, paths and
//!   variables; further modifiers may follow `:calc`.
//! - `{name}` is a variable: the event's (webhook, parent rule) first, then a global one.
//! - `{tglink:N}` is a trigger link; `{reset}` clears a list field.
//! - Any other `{` is text, so JSON bodies need no escaping; `\{` and `\\` write a literal
//!   `{` and `\` where a token would otherwise start.
//!
//! [`parse`] reports errors with their exact position; [`print()`] writes an AST back so that
//! `parse(print(ast)) == ast`; rendering has a step budget and an output cap.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::path::{Path, PathError};
use crate::value::{parse_date, parse_number, write_number, ParsedDate, Scope, Value};
use crate::zone::Zone;

/// The longest template source accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 100_000;
/// The deepest nesting of parentheses and unary minus in a calculation.
pub const MAX_CALC_DEPTH: usize = 32;
/// What a field assignment writes to clear a list field.
pub const RESET_MARKER: &str = "{reset}";

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ ... }}`.
    Expr(Expr),
    /// `{name}`: an event variable, or else a global variable.
    Variable(String),
    /// `{tglink:N}`.
    TriggerLink(u32),
    /// `{reset}`.
    Reset,
}

/// The inside of `{{ ... }}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What is printed.
    pub value: ExprValue,
    /// Modifiers applied left to right.
    pub modifiers: Vec<Modifier>,
}

/// A path or a calculation.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprValue {
    /// `{{lead.name}}`
    Path(Path),
    /// `{{ (a+b):calc }}`
    Calc(Calc),
}

/// Arithmetic inside `:calc`.
#[derive(Debug, Clone, PartialEq)]
pub enum Calc {
    /// A non-negative literal number.
    Number(f64),
    /// A path's value as a number.
    Path(Path),
    /// A variable's value as a number.
    Variable(String),
    /// `-x`
    Negate(Box<Calc>),
    /// `a op b`
    Binary(Box<Calc>, CalcOp, Box<Calc>),
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalcOp {
    /// `+`
    Add,
    /// `-`
    Subtract,
    /// `*`
    Multiply,
    /// `/`
    Divide,
}

impl CalcOp {
    fn symbol(self) -> char {
        match self {
            CalcOp::Add => '+',
            CalcOp::Subtract => '-',
            CalcOp::Multiply => '*',
            CalcOp::Divide => '/',
        }
    }

    fn precedence(self) -> u8 {
        match self {
            CalcOp::Add | CalcOp::Subtract => 1,
            CalcOp::Multiply | CalcOp::Divide => 2,
        }
    }
}

/// A modifier after `:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    /// Upper case.
    Upper,
    /// Lower case.
    Lower,
    /// A number in English words.
    Words,
    /// A date in a PHP-style format.
    Date(String),
}

/// What went wrong while parsing a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateErrorKind {
    /// `{{` without `}}`.
    #[error("'{{{{' is never closed with '}}}}'")]
    Unclosed,
    /// `{{}}`.
    #[error("'{{{{ }}}}' is empty")]
    Empty,
    /// Something else was expected here.
    #[error("expected {expected}")]
    Expected {
        /// What was expected.
        expected: &'static str,
    },
    /// A path that does not exist.
    #[error("{0}")]
    Path(PathError),
    /// A modifier that does not exist.
    #[error("unknown modifier '{name}': use calc, upper, lower, words or date(...)")]
    UnknownModifier {
        /// The name as written.
        name: String,
    },
    /// A calculation without `:calc`.
    #[error("a calculation must be followed by ':calc'")]
    CalcWithoutMarker,
    /// `:calc` after another modifier or twice.
    #[error("':calc' must come right after the expression")]
    CalcMisplaced,
    /// Too many nested parentheses.
    #[error("calculations nest at most {MAX_CALC_DEPTH} levels deep")]
    TooDeep,
    /// `{tglink:...}` without a number.
    #[error("a trigger link is written {{tglink:N}} with a number N")]
    BadTriggerLink,
    /// The template is too long.
    #[error("a template is at most {MAX_TEMPLATE_BYTES} bytes long")]
    TooLong,
}

/// A parse error with its exact position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct TemplateError {
    /// Byte offset into the source.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What went wrong.
    pub kind: TemplateErrorKind,
}

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template does not parse.
    #[error("the template is invalid: {0}")]
    Invalid(TemplateError),
    /// The step budget ran out.
    #[error("rendering took more than {limit} steps")]
    StepBudgetExceeded {
        /// The budget.
        limit: u32,
    },
    /// The output grew past the cap.
    #[error("the rendered text is longer than {limit} bytes")]
    OutputTooLarge {
        /// The cap.
        limit: usize,
    },
    /// A calculation read something that is not a number.
    #[error("'{operand}' is not a number, so it cannot be calculated with")]
    NotANumber {
        /// The operand as written.
        operand: String,
    },
    /// A calculation divided by zero.
    #[error("a calculation divides by zero")]
    DivisionByZero,
}

/// Limits on rendering one template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Nodes, calculation steps and modifiers evaluated, at most.
    pub max_steps: u32,
    /// Output bytes, at most.
    pub max_output_bytes: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            max_steps: 10_000,
            max_output_bytes: 256 * 1024,
        }
    }
}

/// A template as written in a rule, parsed once. It serialises as its source text; a source
/// that does not parse is kept with its error, which validation reports.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parsed: Result<Vec<Node>, TemplateError>,
}

impl Template {
    /// Parses a source, keeping the error if it does not parse.
    pub fn new(source: impl Into<String>) -> Template {
        let source = source.into();
        let parsed = parse(&source);
        Template { source, parsed }
    }

    /// The source as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The AST, or why there is none.
    pub fn nodes(&self) -> Result<&[Node], &TemplateError> {
        self.parsed.as_deref()
    }

    /// Renders into `out` (appending).
    pub fn render_into(
        &self,
        scope: &Scope<'_>,
        limits: &RenderLimits,
        out: &mut String,
    ) -> Result<(), RenderError> {
        match &self.parsed {
            Ok(nodes) => render_into(nodes, scope, limits, out),
            Err(e) => Err(RenderError::Invalid(e.clone())),
        }
    }

    /// Renders to a new string.
    pub fn render(&self, scope: &Scope<'_>, limits: &RenderLimits) -> Result<String, RenderError> {
        let mut out = String::new();
        self.render_into(scope, limits, &mut out)?;
        Ok(out)
    }
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl From<&str> for Template {
    fn from(source: &str) -> Self {
        Template::new(source)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Template::new(String::deserialize(deserializer)?))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Template {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Template".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A text with `{{…}}` placeholders (fields, variables, modifiers, `:calc`) \
                rendered when the action runs."
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parses a template source.
pub fn parse(source: &str) -> Result<Vec<Node>, TemplateError> {
    let mut parser = Parser {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
    };
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(parser.error_at(0, TemplateErrorKind::TooLong));
    }
    parser.template()
}

struct Parser<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl<'s> Parser<'s> {
    fn error_at(&self, offset: usize, kind: TemplateErrorKind) -> TemplateError {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        TemplateError {
            offset,
            line,
            column,
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.bytes[self.pos..].starts_with(s.as_bytes())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn template(&mut self) -> Result<Vec<Node>, TemplateError> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        let flush = |text: &mut String, nodes: &mut Vec<Node>| {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(text)));
            }
        };
        while let Some(b) = self.peek() {
            match b {
                b'\\' => match self.bytes.get(self.pos + 1) {
                    Some(&next @ (b'{' | b'\\')) => {
                        text.push(next as char);
                        self.pos += 2;
                    }
                    _ => {
                        text.push('\\');
                        self.pos += 1;
                    }
                },
                b'{' => {
                    if self.bytes.get(self.pos + 1) == Some(&b'{') {
                        flush(&mut text, &mut nodes);
                        let expr = self.expr_tag()?;
                        nodes.push(Node::Expr(expr));
                    } else if let Some(node) = self.single_brace()? {
                        flush(&mut text, &mut nodes);
                        nodes.push(node);
                    } else {
                        text.push('{');
                        self.pos += 1;
                    }
                }
                _ => {
                    let start = self.pos;
                    while matches!(self.peek(), Some(c) if c != b'{' && c != b'\\') {
                        self.pos += 1;
                    }
                    text.push_str(&self.src[start..self.pos]);
                }
            }
        }
        flush(&mut text, &mut nodes);
        Ok(nodes)
    }

    /// `{name}`, `{reset}` or `{tglink:N}` at `pos`; `None` leaves `pos` alone (plain text).
    fn single_brace(&mut self) -> Result<Option<Node>, TemplateError> {
        let start = self.pos;
        let rest = &self.src[start + 1..];
        if let Some(after) = rest.strip_prefix("tglink:") {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let closed = after.as_bytes().get(digits) == Some(&b'}');
            let number = after[..digits].parse::<u32>().ok();
            return match (closed, number) {
                (true, Some(n)) if digits > 0 => {
                    self.pos = start + 1 + "tglink:".len() + digits + 1;
                    Ok(Some(Node::TriggerLink(n)))
                }
                _ => Err(self.error_at(start, TemplateErrorKind::BadTriggerLink)),
            };
        }
        let name_len: usize = rest
            .chars()
            .take_while(|c| is_name_char(*c))
            .map(char::len_utf8)
            .sum();
        if name_len == 0 || name_len > 128 || rest.as_bytes().get(name_len) != Some(&b'}') {
            return Ok(None);
        }
        let name = &rest[..name_len];
        self.pos = start + 1 + name_len + 1;
        Ok(Some(if name == "reset" {
            Node::Reset
        } else {
            Node::Variable(name.to_owned())
        }))
    }

    fn expr_tag(&mut self) -> Result<Expr, TemplateError> {
        let open = self.pos;
        self.pos += 2;
        self.skip_ws();
        if self.starts_with("}}") {
            return Err(self.error_at(open, TemplateErrorKind::Empty));
        }
        if self.peek().is_none() {
            return Err(self.error_at(open, TemplateErrorKind::Unclosed));
        }
        let value_start = self.pos;
        let calc = self.calc_expr(0)?;
        self.skip_ws();
        let mut is_calc = false;
        let mut modifiers = Vec::new();
        while self.peek() == Some(b':') {
            self.pos += 1;
            self.skip_ws();
            let name_start = self.pos;
            while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
                self.pos += 1;
            }
            let name = &self.src[name_start..self.pos];
            match name {
                "calc" => {
                    if is_calc || !modifiers.is_empty() {
                        return Err(self.error_at(name_start, TemplateErrorKind::CalcMisplaced));
                    }
                    is_calc = true;
                }
                "upper" => modifiers.push(Modifier::Upper),
                "lower" => modifiers.push(Modifier::Lower),
                "words" => modifiers.push(Modifier::Words),
                "date" => {
                    if self.peek() != Some(b'(') {
                        return Err(self.error_at(
                            self.pos,
                            TemplateErrorKind::Expected {
                                expected: "'(' and a date format after 'date'",
                            },
                        ));
                    }
                    let fmt_start = self.pos + 1;
                    let Some(len) = self.src[fmt_start..].find([')', '}']) else {
                        return Err(self.error_at(open, TemplateErrorKind::Unclosed));
                    };
                    if self.bytes[fmt_start + len] != b')' {
                        return Err(self.error_at(
                            fmt_start + len,
                            TemplateErrorKind::Expected {
                                expected: "')' to close the date format",
                            },
                        ));
                    }
                    modifiers.push(Modifier::Date(
                        self.src[fmt_start..fmt_start + len].to_owned(),
                    ));
                    self.pos = fmt_start + len + 1;
                }
                "" => {
                    return Err(self.error_at(
                        name_start,
                        TemplateErrorKind::Expected {
                            expected: "a modifier name after ':'",
                        },
                    ))
                }
                other => {
                    return Err(self.error_at(
                        name_start,
                        TemplateErrorKind::UnknownModifier {
                            name: other.to_owned(),
                        },
                    ))
                }
            }
            self.skip_ws();
        }
        if !self.starts_with("}}") {
            if self.peek().is_none() {
                return Err(self.error_at(open, TemplateErrorKind::Unclosed));
            }
            return Err(self.error_at(
                self.pos,
                TemplateErrorKind::Expected {
                    expected: "'}}', ':' and a modifier, or an operator",
                },
            ));
        }
        self.pos += 2;
        let value = match (is_calc, calc) {
            (true, calc) => ExprValue::Calc(calc),
            (false, Calc::Path(path)) => ExprValue::Path(path),
            (false, _) => {
                return Err(self.error_at(value_start, TemplateErrorKind::CalcWithoutMarker))
            }
        };
        Ok(Expr { value, modifiers })
    }

    fn calc_expr(&mut self, depth: usize) -> Result<Calc, TemplateError> {
        let mut left = self.calc_term(depth)?;
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(b'+') => CalcOp::Add,
                Some(b'-') => CalcOp::Subtract,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.calc_term(depth)?;
            left = Calc::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn calc_term(&mut self, depth: usize) -> Result<Calc, TemplateError> {
        let mut left = self.calc_unary(depth)?;
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(b'*') => CalcOp::Multiply,
                Some(b'/') => CalcOp::Divide,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.calc_unary(depth)?;
            left = Calc::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn calc_unary(&mut self, depth: usize) -> Result<Calc, TemplateError> {
        self.skip_ws();
        if depth >= MAX_CALC_DEPTH {
            return Err(self.error_at(self.pos, TemplateErrorKind::TooDeep));
        }
        let start = self.pos;
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                Ok(Calc::Negate(Box::new(self.calc_unary(depth + 1)?)))
            }
            Some(b'(') => {
                self.pos += 1;
                let inner = self.calc_expr(depth + 1)?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.error_at(
                        self.pos,
                        TemplateErrorKind::Expected {
                            expected: "')' or an operator",
                        },
                    ));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(b'{') => {
                let name_len: usize = self.src[start + 1..]
                    .chars()
                    .take_while(|c| is_name_char(*c))
                    .map(char::len_utf8)
                    .sum();
                if name_len == 0 || self.bytes.get(start + 1 + name_len) != Some(&b'}') {
                    return Err(self.error_at(
                        start,
                        TemplateErrorKind::Expected {
                            expected: "a variable such as {name}",
                        },
                    ));
                }
                self.pos = start + 1 + name_len + 1;
                Ok(Calc::Variable(
                    self.src[start + 1..start + 1 + name_len].to_owned(),
                ))
            }
            Some(c) if c.is_ascii_digit() => {
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.pos += 1;
                }
                if self.peek() == Some(b'.')
                    && self.bytes.get(self.pos + 1).is_some_and(u8::is_ascii_digit)
                {
                    self.pos += 1;
                    while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                }
                let number: f64 = self.src[start..self.pos].parse().map_err(|_| {
                    self.error_at(
                        start,
                        TemplateErrorKind::Expected {
                            expected: "a number",
                        },
                    )
                })?;
                if !number.is_finite() {
                    return Err(self.error_at(
                        start,
                        TemplateErrorKind::Expected {
                            expected: "a finite number",
                        },
                    ));
                }
                Ok(Calc::Number(number))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                {
                    self.pos += 1;
                }
                if self.peek() == Some(b'(') && self.src[start..self.pos].ends_with("cf") {
                    self.pos += 1;
                    while matches!(self.peek(), Some(c) if c != b')' && c != b'}') {
                        self.pos += 1;
                    }
                    if self.peek() != Some(b')') {
                        return Err(self.error_at(
                            self.pos,
                            TemplateErrorKind::Expected {
                                expected: "')' after the field id",
                            },
                        ));
                    }
                    self.pos += 1;
                }
                let text = &self.src[start..self.pos];
                Path::parse(text)
                    .map(Calc::Path)
                    .map_err(|e| self.error_at(start, TemplateErrorKind::Path(e)))
            }
            None => Err(self.error_at(start, TemplateErrorKind::Unclosed)),
            Some(_) => Err(self.error_at(
                start,
                TemplateErrorKind::Expected {
                    expected: "a path such as lead.name, a number, a {variable} or '('",
                },
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

/// Writes an AST back as source; `parse(print(nodes)) == nodes` for normalised ASTs (no empty
/// or adjacent text nodes).
pub fn print(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text(text) => print_text(text, &mut out),
            Node::Expr(expr) => {
                out.push_str("{{");
                match &expr.value {
                    ExprValue::Path(path) => {
                        let _ = write!(out, "{path}");
                    }
                    ExprValue::Calc(calc) => {
                        out.push('(');
                        print_calc(calc, &mut out);
                        out.push_str("):calc");
                    }
                }
                for modifier in &expr.modifiers {
                    match modifier {
                        Modifier::Upper => out.push_str(":upper"),
                        Modifier::Lower => out.push_str(":lower"),
                        Modifier::Words => out.push_str(":words"),
                        Modifier::Date(format) => {
                            let _ = write!(out, ":date({format})");
                        }
                    }
                }
                out.push_str("}}");
            }
            Node::Variable(name) => {
                let _ = write!(out, "{{{name}}}");
            }
            Node::TriggerLink(n) => {
                let _ = write!(out, "{{tglink:{n}}}");
            }
            Node::Reset => out.push_str(RESET_MARKER),
        }
    }
    out
}

fn print_text(text: &str, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => out.push_str("\\{"),
            '\\' => {
                // A backslash is literal unless it precedes `{` or `\`, or the next node.
                if matches!(chars.peek(), None | Some('{' | '\\')) {
                    out.push_str("\\\\");
                } else {
                    out.push('\\');
                }
            }
            c => out.push(c),
        }
    }
}

fn print_calc(calc: &Calc, out: &mut String) {
    match calc {
        Calc::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Calc::Path(path) => {
            let _ = write!(out, "{path}");
        }
        Calc::Variable(name) => {
            let _ = write!(out, "{{{name}}}");
        }
        Calc::Negate(inner) => {
            out.push('-');
            let wrap = matches!(**inner, Calc::Binary(..));
            if wrap {
                out.push('(');
            }
            print_calc(inner, out);
            if wrap {
                out.push(')');
            }
        }
        Calc::Binary(left, op, right) => {
            let needs_parens = |child: &Calc, is_right: bool| match child {
                Calc::Binary(_, child_op, _) => {
                    child_op.precedence() < op.precedence()
                        || (is_right && child_op.precedence() == op.precedence())
                }
                _ => false,
            };
            for (child, is_right) in [(left, false), (right, true)] {
                if is_right {
                    out.push(op.symbol());
                }
                let wrap = needs_parens(child, is_right);
                if wrap {
                    out.push('(');
                }
                print_calc(child, out);
                if wrap {
                    out.push(')');
                }
            }
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

struct Budget {
    steps_left: u32,
    limit: u32,
}

impl Budget {
    fn step(&mut self) -> Result<(), RenderError> {
        if self.steps_left == 0 {
            return Err(RenderError::StepBudgetExceeded { limit: self.limit });
        }
        self.steps_left -= 1;
        Ok(())
    }
}

/// Renders an AST into `out` (appending). On error `out` is left as it was.
pub fn render_into(
    nodes: &[Node],
    scope: &Scope<'_>,
    limits: &RenderLimits,
    out: &mut String,
) -> Result<(), RenderError> {
    let start = out.len();
    let result = render_nodes(nodes, scope, limits, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn render_nodes(
    nodes: &[Node],
    scope: &Scope<'_>,
    limits: &RenderLimits,
    out: &mut String,
    start: usize,
) -> Result<(), RenderError> {
    let mut budget = Budget {
        steps_left: limits.max_steps,
        limit: limits.max_steps,
    };
    let timezone = scope.timezone();
    for node in nodes {
        budget.step()?;
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Variable(name) => out.push_str(scope.variable(name).unwrap_or("")),
            Node::Reset => out.push_str(RESET_MARKER),
            Node::TriggerLink(n) => write_trigger_link(*n, scope, out),
            Node::Expr(expr) => {
                let mut value = match &expr.value {
                    ExprValue::Path(path) => scope.read(path),
                    ExprValue::Calc(calc) => Value::Number(calculate(calc, scope, &mut budget)?),
                };
                for modifier in &expr.modifiers {
                    budget.step()?;
                    value = apply_modifier(modifier, value, scope);
                }
                value.write_text(out, timezone);
            }
        }
        if out.len() - start > limits.max_output_bytes {
            return Err(RenderError::OutputTooLarge {
                limit: limits.max_output_bytes,
            });
        }
    }
    Ok(())
}

fn write_trigger_link(link: u32, scope: &Scope<'_>, out: &mut String) {
    match scope.variables.trigger_links.get(&link) {
        Some(url) => out.push_str(url),
        None => {
            let _ = write!(out, "{{tglink:{link}}}");
        }
    }
}

fn calculate(calc: &Calc, scope: &Scope<'_>, budget: &mut Budget) -> Result<f64, RenderError> {
    budget.step()?;
    match calc {
        Calc::Number(n) => Ok(*n),
        Calc::Path(path) => {
            let value = scope.read(path);
            if value.is_empty() {
                return Ok(0.0);
            }
            value.as_number().ok_or_else(|| RenderError::NotANumber {
                operand: path.to_string(),
            })
        }
        Calc::Variable(name) => match scope.variable(name) {
            None => Ok(0.0),
            Some(text) if text.trim().is_empty() => Ok(0.0),
            Some(text) => parse_number(text).ok_or_else(|| RenderError::NotANumber {
                operand: format!("{{{name}}}"),
            }),
        },
        Calc::Negate(inner) => Ok(-calculate(inner, scope, budget)?),
        Calc::Binary(left, op, right) => {
            let l = calculate(left, scope, budget)?;
            let r = calculate(right, scope, budget)?;
            let result = match op {
                CalcOp::Add => l + r,
                CalcOp::Subtract => l - r,
                CalcOp::Multiply => l * r,
                CalcOp::Divide => {
                    if r == 0.0 {
                        return Err(RenderError::DivisionByZero);
                    }
                    l / r
                }
            };
            if result.is_finite() {
                Ok(result)
            } else {
                Err(RenderError::NotANumber {
                    operand: "the result".to_owned(),
                })
            }
        }
    }
}

fn apply_modifier<'a>(modifier: &Modifier, value: Value<'a>, scope: &Scope<'a>) -> Value<'a> {
    let timezone = scope.timezone();
    match modifier {
        Modifier::Upper | Modifier::Lower => {
            let mut text = String::new();
            value.write_text(&mut text, timezone);
            Value::Text(Cow::Owned(if *modifier == Modifier::Upper {
                text.to_uppercase()
            } else {
                text.to_lowercase()
            }))
        }
        Modifier::Words => match value.as_number() {
            Some(n) => Value::Text(Cow::Owned(number_to_words(n))),
            None => value,
        },
        Modifier::Date(format) => {
            let instant = match &value {
                Value::Instant(i) => Some(*i),
                Value::Date(d) => crate::value::start_of_day(*d, timezone),
                Value::Number(n) => DateTime::from_timestamp(*n as i64, 0),
                Value::Text(t) => match parse_date(t, timezone) {
                    Some(ParsedDate::Instant(i)) => Some(i),
                    Some(ParsedDate::Date(d)) => crate::value::start_of_day(d, timezone),
                    None => None,
                },
                _ => None,
            };
            match instant {
                Some(i) => Value::Text(Cow::Owned(format_date(i, format, timezone))),
                None => value,
            }
        }
    }
}

/// Formats an instant in a timezone with PHP-style letters: `d` day 01–31, `j` day 1–31,
/// `m` month 01–12, `n` month 1–12, `Y` year, `y` two-digit year, `H` hour 00–23, `G` hour
/// 0–23, `i` minutes, `s` seconds, `D` Mon, `l` Monday, `M` Jan, `F` January, `U` unix seconds.
/// `\` makes the next character literal; other characters are copied.
pub fn format_date(at: DateTime<Utc>, format: &str, timezone: &Zone) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let local = crate::value::in_timezone(at, timezone);
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        let month = MONTHS[local.month0() as usize];
        let day = DAYS[local.weekday().num_days_from_monday() as usize];
        let _ = match c {
            'd' => write!(out, "{:02}", local.day()),
            'j' => write!(out, "{}", local.day()),
            'm' => write!(out, "{:02}", local.month()),
            'n' => write!(out, "{}", local.month()),
            'Y' => write!(out, "{:04}", local.year()),
            'y' => write!(out, "{:02}", local.year().rem_euclid(100)),
            'H' => write!(out, "{:02}", local.hour()),
            'G' => write!(out, "{}", local.hour()),
            'i' => write!(out, "{:02}", local.minute()),
            's' => write!(out, "{:02}", local.second()),
            'D' => write!(out, "{}", &day[..3]),
            'l' => write!(out, "{day}"),
            'M' => write!(out, "{}", &month[..3]),
            'F' => write!(out, "{month}"),
            'U' => write!(out, "{}", at.timestamp()),
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
                Ok(())
            }
            other => {
                out.push(other);
                Ok(())
            }
        };
    }
    out
}

/// Writes a number in English words: `1234` is "one thousand two hundred thirty-four";
/// a fraction is written as cents, "and 50/100". Numbers of a quadrillion or more stay digits.
pub fn number_to_words(n: f64) -> String {
    if !n.is_finite() || n.abs() >= 1e15 {
        let mut s = String::new();
        write_number(&mut s, n);
        return s;
    }
    let negative = n < 0.0;
    let abs = n.abs();
    let mut whole = abs.trunc() as u64;
    let mut cents = ((abs - abs.trunc()) * 100.0).round() as u64;
    if cents == 100 {
        whole += 1;
        cents = 0;
    }
    let mut out = String::new();
    if negative && (whole > 0 || cents > 0) {
        out.push_str("minus ");
    }
    if whole == 0 {
        out.push_str("zero");
    } else {
        const SCALES: [(u64, &str); 4] = [
            (1_000_000_000_000, "trillion"),
            (1_000_000_000, "billion"),
            (1_000_000, "million"),
            (1_000, "thousand"),
        ];
        let mut rest = whole;
        let mut first = true;
        for (scale, name) in SCALES {
            if rest >= scale {
                if !first {
                    out.push(' ');
                }
                below_thousand(rest / scale, &mut out);
                out.push(' ');
                out.push_str(name);
                rest %= scale;
                first = false;
            }
        }
        if rest > 0 {
            if !first {
                out.push(' ');
            }
            below_thousand(rest, &mut out);
        }
    }
    if cents > 0 {
        let _ = write!(out, " and {cents:02}/100");
    }
    out
}

fn below_thousand(n: u64, out: &mut String) {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let hundreds = n / 100;
    let rest = n % 100;
    if hundreds > 0 {
        out.push_str(ONES[hundreds as usize]);
        out.push_str(" hundred");
        if rest > 0 {
            out.push(' ');
        }
    }
    if rest >= 20 {
        out.push_str(TENS[(rest / 10) as usize]);
        if !rest.is_multiple_of(10) {
            out.push('-');
            out.push_str(ONES[(rest % 10) as usize]);
        }
    } else if rest > 0 {
        out.push_str(ONES[rest as usize]);
    }
}
