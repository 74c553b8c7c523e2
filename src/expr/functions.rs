//! Functions of Druid's expression language other than the time functions: math,
//! conditionals, `cast`, strings, `like` and regular expressions. Pattern arguments of `like`,
//! `regexp_extract` and `regexp_like` must be string literals (as in Druid, where they are
//! macros) and are compiled once. Strings are measured and indexed in characters.

use std::borrow::Cow;

use regex::Regex;

use super::eval::{EvalResult, eval, parse_number};
use super::{Bindings, Expr, Value};

/// A function and what was compiled from its literal arguments.
#[derive(Debug, Clone)]
pub enum Function {
    /// A math function of one number.
    Math(MathFn),
    /// `round(x[, scale])`.
    Round,
    /// `pow`, `div`, `max`, `min`.
    Bivariate(BinaryFn),
    /// `greatest(…)` / `least(…)`: the largest / smallest non-null argument.
    Extreme { greatest: bool },
    /// `if(predicate, then, else)`.
    If,
    /// `nvl(x, fallback)`.
    Nvl,
    /// `case_searched(p1, r1, …, [else])`.
    CaseSearched,
    /// `case_simple(x, v1, r1, …, [else])`.
    CaseSimple,
    /// `isnull(x)` / `notnull(x)`.
    IsNull { negate: bool },
    /// `cast(x, 'LONG' | 'DOUBLE' | 'STRING')`.
    Cast,
    /// A string function.
    Text(TextFn),
    /// `like(x, pattern[, escape])`, compiled to an anchored regular expression.
    Like(Regex),
    /// `regexp_extract(x, pattern[, group])`.
    RegexpExtract(Regex),
    /// `regexp_like(x, pattern)`.
    RegexpLike(Regex),
}

/// One-argument math functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathFn {
    /// `abs` (a long stays a long).
    Abs,
    /// `ceil`.
    Ceil,
    /// `floor`.
    Floor,
    /// `sqrt`.
    Sqrt,
    /// `exp`.
    Exp,
    /// `log` (natural).
    Log,
    /// `log10`.
    Log10,
    /// `signum`.
    Signum,
}

/// Two-argument math functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryFn {
    /// `pow(x, y)`: a double.
    Pow,
    /// `div(x, y)`: long division (null when `y` is 0).
    Div,
    /// `max(x, y)`.
    Max,
    /// `min(x, y)`.
    Min,
}

/// String functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFn {
    /// `concat(…)` (nulls as "").
    Concat,
    /// `lower`.
    Lower,
    /// `upper`.
    Upper,
    /// `strlen` (UTF-16 units, as Java's `String.length`).
    Strlen,
    /// `substring(x, index, length)` (0-based; a negative length takes the rest).
    Substring,
    /// `left(x, n)`.
    Left,
    /// `right(x, n)`.
    Right,
    /// `replace(x, search, replacement)`: every occurrence, literally.
    Replace,
    /// `trim(x[, chars])` (default: spaces).
    Trim,
    /// `ltrim(x[, chars])`.
    Ltrim,
    /// `rtrim(x[, chars])`.
    Rtrim,
    /// `strpos(x, search[, from])`: index or -1.
    Strpos,
    /// `lpad(x, length, pad)`.
    Lpad,
    /// `rpad(x, length, pad)`.
    Rpad,
    /// `reverse`.
    Reverse,
    /// `repeat(x, n)`.
    Repeat,
    /// `contains_string(x, search)`.
    Contains,
    /// `icontains_string(x, search)` (case-insensitive).
    IContains,
}

const TABLE: &[(&str, usize, usize)] = &[
    // name, fewest and most arguments
    ("abs", 1, 1),
    ("ceil", 1, 1),
    ("floor", 1, 1),
    ("sqrt", 1, 1),
    ("exp", 1, 1),
    ("log", 1, 1),
    ("log10", 1, 1),
    ("signum", 1, 1),
    ("round", 1, 2),
    ("pow", 2, 2),
    ("div", 2, 2),
    ("max", 2, 2),
    ("min", 2, 2),
    ("greatest", 0, usize::MAX),
    ("least", 0, usize::MAX),
    ("if", 3, 3),
    ("nvl", 2, 2),
    ("case_searched", 2, usize::MAX),
    ("case_simple", 3, usize::MAX),
    ("isnull", 1, 1),
    ("notnull", 1, 1),
    ("cast", 2, 2),
    ("concat", 0, usize::MAX),
    ("lower", 1, 1),
    ("upper", 1, 1),
    ("strlen", 1, 1),
    ("substring", 3, 3),
    ("left", 2, 2),
    ("right", 2, 2),
    ("replace", 3, 3),
    ("trim", 1, 2),
    ("ltrim", 1, 2),
    ("rtrim", 1, 2),
    ("strpos", 2, 3),
    ("lpad", 3, 3),
    ("rpad", 3, 3),
    ("reverse", 1, 1),
    ("repeat", 2, 2),
    ("contains_string", 2, 2),
    ("icontains_string", 2, 2),
    ("like", 2, 3),
    ("regexp_extract", 2, 3),
    ("regexp_like", 2, 2),
];

impl Function {
    /// The function named `name` (lower case) over `args`: `Ok(None)` when there is no such
    /// function here, an error for a wrong argument count or a bad literal argument.
    pub fn resolve(name: &str, args: &[Expr]) -> Result<Option<Function>, String> {
        let Some(&(_, fewest, most)) = TABLE.iter().find(|(n, _, _)| *n == name) else {
            return Ok(None);
        };
        if args.len() < fewest || args.len() > most {
            let expected = match (fewest, most) {
                (f, m) if f == m => format!("{f}"),
                (f, usize::MAX) => format!("at least {f}"),
                (f, m) => format!("{f} to {m}"),
            };
            return Err(format!(
                "function `{name}` takes {expected} arguments, not {}",
                args.len()
            ));
        }
        let literal = |i: usize| match args.get(i) {
            Some(Expr::Str(s)) => Ok(s.as_str()),
            _ => Err(format!(
                "argument {} of `{name}` must be a string literal",
                i + 1
            )),
        };
        let compile = |pattern: &str| {
            Regex::new(pattern).map_err(|e| format!("bad pattern for `{name}`: {e}"))
        };
        Ok(Some(match name {
            "like" => {
                let escape = if args.len() == 3 {
                    literal(2)?.chars().next()
                } else {
                    None
                };
                let pattern = literal(1)?;
                Function::Like(
                    crate::query::filter::compile_like(pattern, escape)
                        .map_err(|e| format!("bad pattern for `{name}`: {e}"))?,
                )
            }
            "regexp_extract" => Function::RegexpExtract(compile(literal(1)?)?),
            "regexp_like" => Function::RegexpLike(compile(literal(1)?)?),
            "cast" => {
                let target = literal(1)?.to_ascii_uppercase();
                if !matches!(target.as_str(), "LONG" | "DOUBLE" | "STRING") {
                    return Err(format!(
                        "cannot cast to `{target}` (LONG, DOUBLE or STRING)"
                    ));
                }
                Function::Cast
            }
            other => Self::plain(other),
        }))
    }

    fn plain(name: &str) -> Function {
        use Function::*;
        match name {
            "abs" => Math(MathFn::Abs),
            "ceil" => Math(MathFn::Ceil),
            "floor" => Math(MathFn::Floor),
            "sqrt" => Math(MathFn::Sqrt),
            "exp" => Math(MathFn::Exp),
            "log" => Math(MathFn::Log),
            "log10" => Math(MathFn::Log10),
            "signum" => Math(MathFn::Signum),
            "round" => Round,
            "pow" => Bivariate(BinaryFn::Pow),
            "div" => Bivariate(BinaryFn::Div),
            "max" => Bivariate(BinaryFn::Max),
            "min" => Bivariate(BinaryFn::Min),
            "greatest" => Extreme { greatest: true },
            "least" => Extreme { greatest: false },
            "if" => If,
            "nvl" => Nvl,
            "case_searched" => CaseSearched,
            "case_simple" => CaseSimple,
            "isnull" => IsNull { negate: false },
            "notnull" => IsNull { negate: true },
            other => Text(super::functions_text::text_fn(other)),
        }
    }

    /// Evaluates the function on `args` (lazily for the conditionals).
    pub(super) fn call<'b>(&'b self, args: &'b [Expr], b: &'b dyn Bindings) -> EvalResult<'b> {
        let arg = |i: usize| eval(&args[i], b);
        Ok(match self {
            Function::Math(f) => math(*f, arg(0)?),
            Function::Round => round(arg(0)?, if args.len() > 1 { arg(1)?.as_long() } else { 0 }),
            Function::Bivariate(f) => bivariate(*f, arg(0)?, arg(1)?),
            Function::Extreme { greatest } => extreme(*greatest, args, b)?,
            Function::If => arg(if arg(0)?.as_bool() { 1 } else { 2 })?,
            Function::Nvl => match arg(0)? {
                value if value.is_null() => arg(1)?,
                value => value,
            },
            Function::CaseSearched => case(args, 0, b, |p| p.as_bool())?,
            Function::CaseSimple => {
                let subject = arg(0)?;
                case(args, 1, b, |v| super::eval::binary_eq(subject.clone(), v))?
            }
            Function::IsNull { negate } => Value::Long((arg(0)?.is_null() != *negate).into()),
            Function::Cast => cast(arg(0)?, &args[1]),
            Function::Text(f) => super::functions_text::call(*f, args, b)?,
            Function::Like(regex) | Function::RegexpLike(regex) => {
                let value = arg(0)?;
                let found = value.as_text().is_some_and(|s| regex.is_match(&s));
                Value::Long(found.into())
            }
            Function::RegexpExtract(regex) => {
                let group = if args.len() > 2 { arg(2)?.as_long() } else { 0 };
                let value = arg(0)?;
                let Some(text) = value.as_text() else {
                    return Ok(Value::Null);
                };
                let found = usize::try_from(group).ok().and_then(|g| {
                    regex
                        .captures(&text)?
                        .get(g)
                        .map(|m| m.as_str().to_string())
                });
                found.map_or(Value::Null, |s| Value::Str(Cow::Owned(s)))
            }
        })
    }
}

fn math(f: MathFn, x: Value<'_>) -> Value<'static> {
    if let (MathFn::Abs, Value::Long(n)) = (f, &x) {
        return Value::Long(n.wrapping_abs());
    }
    let x = x.as_double();
    Value::Double(match f {
        MathFn::Abs => x.abs(),
        MathFn::Ceil => x.ceil(),
        MathFn::Floor => x.floor(),
        MathFn::Sqrt => x.sqrt(),
        MathFn::Exp => x.exp(),
        MathFn::Log => x.ln(),
        MathFn::Log10 => x.log10(),
        MathFn::Signum if x == 0.0 || x.is_nan() => x,
        MathFn::Signum => x.signum(),
    })
}

/// `round`: a long stays; a double is rounded half away from zero at `scale` decimals.
fn round(x: Value<'_>, scale: i64) -> Value<'static> {
    match x {
        Value::Long(n) => Value::Long(n),
        other => {
            let x = other.as_double();
            if !x.is_finite() {
                return Value::Double(x);
            }
            let factor = 10f64.powi(scale.clamp(-300, 300) as i32);
            Value::Double((x * factor).round() / factor)
        }
    }
}

fn bivariate(f: BinaryFn, x: Value<'_>, y: Value<'_>) -> Value<'static> {
    let longs = matches!((&x, &y), (Value::Long(_), Value::Long(_)));
    match f {
        BinaryFn::Pow => Value::Double(x.as_double().powf(y.as_double())),
        BinaryFn::Div => match y.as_long() {
            0 => Value::Null,
            d => Value::Long(x.as_long().wrapping_div(d)),
        },
        BinaryFn::Max if longs => Value::Long(x.as_long().max(y.as_long())),
        BinaryFn::Min if longs => Value::Long(x.as_long().min(y.as_long())),
        BinaryFn::Max => Value::Double(x.as_double().max(y.as_double())),
        BinaryFn::Min => Value::Double(x.as_double().min(y.as_double())),
    }
}

/// `greatest` / `least`: numbers compare as numbers (doubles when any is one); any string
/// makes them compare as strings; nulls are skipped.
fn extreme<'b>(greatest: bool, args: &'b [Expr], b: &'b dyn Bindings) -> EvalResult<'b> {
    let values = args
        .iter()
        .map(|a| eval(a, b))
        .collect::<Result<Vec<_>, _>>()?;
    let values: Vec<Value<'b>> = values.into_iter().filter(|v| !v.is_null()).collect();
    let pick = |ordering: std::cmp::Ordering| (ordering == std::cmp::Ordering::Greater) == greatest;
    if values.iter().any(|v| matches!(v, Value::Str(_))) {
        let texts: Vec<String> = values
            .iter()
            .filter_map(|v| v.as_text().map(Cow::into_owned))
            .collect();
        let best = texts.into_iter().reduce(|a, c| {
            if pick(crate::parse::java_str_cmp(&c, &a)) {
                c
            } else {
                a
            }
        });
        return Ok(best.map_or(Value::Null, |s| Value::Str(Cow::Owned(s))));
    }
    if values.iter().all(|v| matches!(v, Value::Long(_))) {
        let best = values
            .iter()
            .map(Value::as_long)
            .reduce(|a, c| if pick(c.cmp(&a)) { c } else { a });
        return Ok(best.map_or(Value::Null, Value::Long));
    }
    let best = values.iter().map(Value::as_double).reduce(|a, c| {
        if c.partial_cmp(&a).is_some_and(pick) {
            c
        } else {
            a
        }
    });
    Ok(best.map_or(Value::Null, Value::Double))
}

/// `case_searched` / `case_simple`: pairs from `first`; `hit` says whether a pair's test value
/// selects its result; an odd last argument is the default.
fn case<'b>(
    args: &'b [Expr],
    first: usize,
    b: &'b dyn Bindings,
    hit: impl Fn(Value<'b>) -> bool,
) -> EvalResult<'b> {
    let mut i = first;
    while i + 1 < args.len() {
        if hit(eval(&args[i], b)?) {
            return eval(&args[i + 1], b);
        }
        i += 2;
    }
    if i < args.len() {
        return eval(&args[i], b);
    }
    Ok(Value::Null)
}

fn cast<'b>(x: Value<'b>, target: &Expr) -> Value<'b> {
    let Expr::Str(target) = target else { return x };
    if x.is_null() {
        return Value::Null;
    }
    match target.to_ascii_uppercase().as_str() {
        "LONG" => match &x {
            Value::Str(s) => parse_number(s).map_or(Value::Null, |n| Value::Long(n.as_long())),
            _ => Value::Long(x.as_long()),
        },
        "DOUBLE" => match &x {
            Value::Str(s) => parse_number(s).map_or(Value::Null, |n| Value::Double(n.as_double())),
            _ => Value::Double(x.as_double()),
        },
        _ => x
            .as_text()
            .map_or(Value::Null, |s| Value::Str(Cow::Owned(s.into_owned()))),
    }
}
