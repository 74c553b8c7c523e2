//! The string functions of [`super::functions`] (a null string in gives null out, except
//! `concat`, which reads nulls as "", and the `contains` tests, which give 0).

use std::borrow::Cow;

use super::eval::{EvalResult, eval};
use super::functions::TextFn;
use super::{Bindings, Expr, Value};

/// The string function named `name` (the caller checked the name).
pub(super) fn text_fn(name: &str) -> TextFn {
    use TextFn::*;
    match name {
        "concat" => Concat,
        "lower" => Lower,
        "upper" => Upper,
        "strlen" => Strlen,
        "substring" => Substring,
        "left" => Left,
        "right" => Right,
        "replace" => Replace,
        "trim" => Trim,
        "ltrim" => Ltrim,
        "rtrim" => Rtrim,
        "strpos" => Strpos,
        "lpad" => Lpad,
        "rpad" => Rpad,
        "reverse" => Reverse,
        "repeat" => Repeat,
        "contains_string" => Contains,
        _ => IContains,
    }
}

fn owned(s: String) -> Value<'static> {
    Value::Str(Cow::Owned(s))
}

/// Evaluates string function `f`.
pub(super) fn call<'b>(f: TextFn, args: &'b [Expr], b: &'b dyn Bindings) -> EvalResult<'b> {
    let arg = |i: usize| eval(&args[i], b);
    if f == TextFn::Concat {
        let mut out = String::new();
        for a in args {
            if let Some(text) = eval(a, b)?.as_text() {
                out.push_str(&text);
            }
        }
        return Ok(owned(out));
    }
    let first = arg(0)?;
    let Some(text) = first.as_text() else {
        let absent = matches!(f, TextFn::Contains | TextFn::IContains);
        return Ok(if absent { Value::Long(0) } else { Value::Null });
    };
    let long = |i: usize| -> Result<i64, super::EvalError> { Ok(arg(i)?.as_long()) };
    let string = |i: usize| -> Result<Option<String>, super::EvalError> {
        Ok(arg(i)?.as_text().map(Cow::into_owned))
    };
    Ok(match f {
        TextFn::Concat => unreachable!("handled above"),
        TextFn::Lower => owned(text.to_lowercase()),
        TextFn::Upper => owned(text.to_uppercase()),
        TextFn::Strlen => Value::Long(text.encode_utf16().count() as i64),
        TextFn::Substring => substring(&text, long(1)?, long(2)?),
        TextFn::Left => take_chars(&text, long(1)?, false),
        TextFn::Right => take_chars(&text, long(1)?, true),
        TextFn::Replace => match (string(1)?, string(2)?) {
            (Some(from), Some(to)) if !from.is_empty() => owned(text.replace(&from, &to)),
            _ => owned(text.into_owned()),
        },
        TextFn::Trim | TextFn::Ltrim | TextFn::Rtrim => {
            let chars = if args.len() > 1 {
                string(1)?.unwrap_or_default()
            } else {
                " ".into()
            };
            let strip = |c: char| chars.contains(c);
            owned(
                match f {
                    TextFn::Ltrim => text.trim_start_matches(strip),
                    TextFn::Rtrim => text.trim_end_matches(strip),
                    _ => text.trim_matches(strip),
                }
                .to_string(),
            )
        }
        TextFn::Strpos => {
            let from = if args.len() > 2 {
                long(2)?.max(0) as usize
            } else {
                0
            };
            strpos(&text, string(1)?.as_deref(), from)
        }
        TextFn::Lpad | TextFn::Rpad => pad(
            &text,
            long(1)?,
            &string(2)?.unwrap_or_default(),
            f == TextFn::Lpad,
        ),
        TextFn::Reverse => owned(text.chars().rev().collect()),
        TextFn::Repeat => owned(text.repeat(long(1)?.clamp(0, 1 << 20) as usize)),
        TextFn::Contains | TextFn::IContains => {
            let needle = string(1)?.unwrap_or_default();
            let found = if f == TextFn::Contains {
                text.contains(&needle)
            } else {
                text.to_lowercase().contains(&needle.to_lowercase())
            };
            Value::Long(found.into())
        }
    })
}

/// Druid's `substring`: from char `index`, `length` chars (the rest when negative); "" past
/// the end.
fn substring(text: &str, index: i64, length: i64) -> Value<'static> {
    let Ok(index) = usize::try_from(index) else {
        return Value::Null;
    };
    let chars = text.chars().skip(index);
    owned(match usize::try_from(length) {
        Ok(length) => chars.take(length).collect(),
        Err(_) => chars.collect(),
    })
}

/// `left` / `right`: the first or last `n` characters.
fn take_chars(text: &str, n: i64, from_end: bool) -> Value<'static> {
    let Ok(n) = usize::try_from(n) else {
        return Value::Null;
    };
    let count = text.chars().count();
    owned(if from_end {
        text.chars().skip(count.saturating_sub(n)).collect()
    } else {
        text.chars().take(n).collect()
    })
}

/// The char index of `needle` at or after char `from`, or -1.
fn strpos(text: &str, needle: Option<&str>, from: usize) -> Value<'static> {
    let Some(needle) = needle else {
        return Value::Null;
    };
    let Some((start, _)) = text
        .char_indices()
        .nth(from)
        .or((from == text.chars().count()).then_some((text.len(), ' ')))
    else {
        return Value::Long(-1);
    };
    match text[start..].find(needle) {
        Some(at) => Value::Long((from + text[start..start + at].chars().count()) as i64),
        None => Value::Long(-1),
    }
}

/// `lpad` / `rpad` to exactly `length` chars (a longer text is cut; an empty pad pads
/// nothing).
fn pad(text: &str, length: i64, pad: &str, left: bool) -> Value<'static> {
    let Ok(length) = usize::try_from(length) else {
        return Value::Null;
    };
    let base: Vec<char> = text.chars().take(length).collect();
    let missing = length - base.len();
    let filler: String = pad
        .chars()
        .cycle()
        .take(if pad.is_empty() { 0 } else { missing })
        .collect();
    let base: String = base.into_iter().collect();
    owned(if left { filler + &base } else { base + &filler })
}
