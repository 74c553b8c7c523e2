//! Druid's expression language (`math.expr`), as the `transformSpec`'s `expression` transforms
//! use it: parsed once when the spec is validated, evaluated on every event.
//!
//! ```text
//! expr     : 'null' | LONG | DOUBLE | STRING | IDENTIFIER | IDENTIFIER '(' args? ')'
//!          | ('-' | '!') expr | expr '^' expr (right-assoc)
//!          | expr ('*' | '/' | '%') expr | expr ('+' | '-') expr
//!          | expr ('<' | '<=' | '>' | '>=' | '==' | '!=') expr | expr ('&&' | '||') expr
//!          | '(' expr ')'
//! LONG     : [0-9]+            DOUBLE : 'NaN' | 'Infinity' | 1.5 | 1e3 | 1.5e-3
//! STRING   : '…' with \' \\ \n \t \uXXXX escapes
//! IDENTIFIER: [_$a-zA-Z][_$a-zA-Z0-9]* | "any text" (a column name with other characters)
//! ```
//! Operators bind as listed, tightest first (unary minus and `!` above `^`, as in Druid's
//! grammar); function names are case-insensitive. Types and nulls follow Druid with its
//! default (legacy) null handling, `druid.generic.useDefaultValueForNull=true`:
//! - two strings: `+` concatenates (a null as ""), comparisons compare them; other operators
//!   are an error. A string against a number: both as doubles (a non-number string as 0).
//! - two longs give a long; a double on either side gives a double. A null operand is 0 (or
//!   takes the other side's type). Long division or modulo by zero is null (Druid throws).
//! - comparisons and `&&`, `||`, `!` give 1 or 0 (Druid's strict booleans); a string is true
//!   when it is `true` (any case), a number when it is not 0.
//!
//! Functions: [`functions`] (math, strings, conditionals, `cast`, `like`, regular
//! expressions) and [`time_fns`] (`timestamp`, `timestamp_floor`, `timestamp_ceil`,
//! `timestamp_shift`, `timestamp_extract`, `timestamp_format`, `timestamp_parse`). Array
//! literals and lambdas are refused when parsed.

pub mod cells;
mod eval;
pub mod functions;
mod functions_text;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;
pub mod time_fns;

use std::borrow::Cow;

pub use eval::EvalError;
use functions::Function;
use time_fns::TimeFn;

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// `null`.
    Null,
    /// A long literal.
    Long(i64),
    /// A double literal.
    Double(f64),
    /// A string literal.
    Str(String),
    /// A column of the input row (`__time` is the event time).
    Ident(String),
    /// `-x` or `!x`.
    Unary(UnaryOp, Box<Expr>),
    /// `x op y`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// A function with plain arguments.
    Call(Function, Vec<Expr>),
    /// A time function; its period, format and zone arguments are literals, compiled here.
    Time(Box<TimeFn>, Vec<Expr>),
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`.
    Neg,
    /// `!`.
    Not,
}

/// Infix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `^`.
    Pow,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `&&`.
    And,
    /// `||`.
    Or,
}

/// A value an expression reads or produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Null (a missing column, `null`).
    Null,
    /// A long.
    Long(i64),
    /// A double.
    Double(f64),
    /// A string.
    Str(Cow<'a, str>),
}

/// Where identifiers get their values.
pub trait Bindings {
    /// The value of column `name` in the current row.
    fn get(&self, name: &str) -> Value<'_>;
}

/// An expression that does not parse, with the character offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset} of `{source_text}`)")]
pub struct ExprError {
    /// What is wrong.
    pub message: String,
    /// Character offset into the expression.
    pub offset: usize,
    /// The expression as given.
    pub source_text: String,
}

impl Expr {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        parser::parse(text).map_err(|(message, offset)| ExprError {
            message,
            offset,
            source_text: text.to_string(),
        })
    }

    /// Evaluates the expression on one row.
    pub fn eval<'b>(&'b self, bindings: &'b dyn Bindings) -> Result<Value<'b>, EvalError> {
        eval::eval(self, bindings)
    }

    /// The columns the expression reads, each once, in order of first use.
    pub fn identifiers(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_identifiers(&mut out);
        out
    }

    fn collect_identifiers(&self, out: &mut Vec<String>) {
        match self {
            Expr::Ident(name) if !out.contains(name) => out.push(name.clone()),
            Expr::Unary(_, x) => x.collect_identifiers(out),
            Expr::Binary(_, x, y) => {
                x.collect_identifiers(out);
                y.collect_identifiers(out);
            }
            Expr::Call(_, args) | Expr::Time(_, args) => {
                args.iter().for_each(|a| a.collect_identifiers(out))
            }
            _ => {}
        }
    }
}
