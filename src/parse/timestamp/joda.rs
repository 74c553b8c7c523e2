//! A parser for Joda-Time `DateTimeFormat` patterns, the form Druid's timestampSpec accepts.
//!
//! Supported letters: `y`/`Y`/`u` year, `M` month (numeric, `MMM` short, `MMMM` full name),
//! `d` day, `D` day of year, `H`/`k` hour of day, `h`/`K` clock hour with `a` (AM/PM), `m`, `s`,
//! `S` fraction, `Z` offset (`-0800`, `ZZ` `-08:00`, `ZZZ` zone id), `z` zone name (UTC/GMT
//! style), `E` day-of-week text (checked loosely, ignored); `'quoted'` literals; other
//! characters are literal. Numeric fields followed directly by another numeric field read
//! exactly as many digits as the pattern has letters; otherwise they read greedily.

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;

use crate::time;

/// A compiled Joda pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct JodaPattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    Field {
        letter: char,
        count: usize,
        fixed_width: bool,
    },
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

#[derive(Default)]
struct Fields {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: Option<u32>,
    clock_hour: Option<u32>,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    nanos: u32,
    offset_ms: Option<i64>,
    zone: Option<Tz>,
}

impl JodaPattern {
    /// Compiles a pattern, refusing letters Joda does not define for parsing.
    pub fn compile(pattern: &str) -> Result<JodaPattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                let (literal, next) = read_quoted(&chars, i)?;
                push_literal(&mut tokens, &literal);
                i = next;
            } else if c.is_ascii_alphabetic() {
                let mut count = 1;
                while i + count < chars.len() && chars[i + count] == c {
                    count += 1;
                }
                if !"yYuMdDHkhKmsSaZzEeGCxw".contains(c) {
                    return Err(format!("unsupported pattern letter `{c}`"));
                }
                tokens.push(Token::Field {
                    letter: c,
                    count,
                    fixed_width: false,
                });
                i += count;
            } else {
                push_literal(&mut tokens, &c.to_string());
                i += 1;
            }
        }
        mark_fixed_widths(&mut tokens);
        Ok(JodaPattern {
            source: pattern.to_string(),
            tokens,
        })
    }

    /// The pattern text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Parses `input` (the whole string must match) into epoch millis; no zone means UTC.
    pub fn parse(&self, input: &str) -> Option<i64> {
        let mut fields = Fields::default();
        let mut rest = input;
        for token in &self.tokens {
            rest = match token {
                Token::Literal(lit) => strip_prefix_ignore_case(rest, lit)?,
                Token::Field {
                    letter,
                    count,
                    fixed_width,
                } => parse_field(&mut fields, *letter, *count, *fixed_width, rest)?,
            };
        }
        if !rest.is_empty() {
            return None;
        }
        resolve(&fields)
    }
}

fn read_quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut literal = String::new();
    let mut i = start + 1;
    if chars.get(i) == Some(&'\'') {
        return Ok(("'".to_string(), i + 1));
    }
    loop {
        match chars.get(i) {
            None => return Err("unterminated quoted literal".to_string()),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                literal.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((literal, i + 1)),
            Some(c) => {
                literal.push(*c);
                i += 1;
            }
        }
    }
}

fn push_literal(tokens: &mut Vec<Token>, text: &str) {
    if let Some(Token::Literal(prev)) = tokens.last_mut() {
        prev.push_str(text);
    } else {
        tokens.push(Token::Literal(text.to_string()));
    }
}

fn is_numeric(letter: char, count: usize) -> bool {
    match letter {
        'M' => count <= 2,
        'a' | 'Z' | 'z' | 'E' | 'e' | 'G' => false,
        _ => true,
    }
}

/// A numeric field directly followed by another numeric field must read a fixed width.
fn mark_fixed_widths(tokens: &mut [Token]) {
    for i in 0..tokens.len().saturating_sub(1) {
        let next_numeric = matches!(&tokens[i + 1], Token::Field { letter, count, .. } if is_numeric(*letter, *count));
        if let Token::Field {
            letter,
            count,
            fixed_width,
        } = &mut tokens[i]
            && is_numeric(*letter, *count)
            && next_numeric
        {
            *fixed_width = true;
        }
    }
}

fn strip_prefix_ignore_case<'a>(input: &'a str, prefix: &str) -> Option<&'a str> {
    let head = input.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &input[prefix.len()..])
}

fn take_digits(input: &str, max: usize, exact: Option<usize>, signed: bool) -> Option<(i64, &str)> {
    let (negative, body) = match input.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        _ => (false, input),
    };
    let available = body.bytes().take_while(u8::is_ascii_digit).count();
    let len = match exact {
        Some(n) if available >= n => n,
        Some(_) => return None,
        None => available.min(max),
    };
    if len == 0 {
        return None;
    }
    let value: i64 = body[..len].parse().ok()?;
    Some((if negative { -value } else { value }, &body[len..]))
}

fn parse_field<'a>(
    f: &mut Fields,
    letter: char,
    count: usize,
    fixed: bool,
    input: &'a str,
) -> Option<&'a str> {
    let exact = fixed.then_some(count);
    let number = |max: usize| take_digits(input, max, exact, false);
    match letter {
        'y' | 'Y' | 'u' => {
            let (value, rest) = take_digits(input, 9, exact, true)?;
            let year = if count == 2 && input.len() - rest.len() == 2 {
                2000 + value - if value > 69 { 100 } else { 0 }
            } else {
                value
            };
            f.year = Some(year);
            Some(rest)
        }
        'M' if count >= 3 => {
            let lower = input.to_ascii_lowercase();
            let (index, len) = MONTHS.iter().enumerate().find_map(|(i, name)| {
                if lower.starts_with(name) {
                    Some((i, name.len()))
                } else if lower.starts_with(&name[..3]) {
                    Some((i, 3))
                } else {
                    None
                }
            })?;
            f.month = Some(index as u32 + 1);
            Some(&input[len..])
        }
        'M' => number(2).map(|(v, rest)| {
            f.month = Some(v as u32);
            rest
        }),
        'd' => number(2).map(|(v, rest)| {
            f.day = Some(v as u32);
            rest
        }),
        'D' => number(3).map(|(v, rest)| {
            f.day_of_year = Some(v as u32);
            rest
        }),
        'H' | 'k' => number(2).map(|(v, rest)| {
            f.hour = Some(if letter == 'k' && v == 24 {
                0
            } else {
                v as u32
            });
            rest
        }),
        'h' | 'K' => number(2).map(|(v, rest)| {
            f.clock_hour = Some(if letter == 'h' && v == 12 {
                0
            } else {
                v as u32
            });
            rest
        }),
        'm' => number(2).map(|(v, rest)| {
            f.minute = v as u32;
            rest
        }),
        's' => number(2).map(|(v, rest)| {
            f.second = v as u32;
            rest
        }),
        'S' => {
            let (_, rest) = number(9)?;
            let digits = &input[..input.len() - rest.len()];
            let padded: String = digits
                .chars()
                .chain(std::iter::repeat('0'))
                .take(9)
                .collect();
            f.nanos = padded.parse().ok()?;
            Some(rest)
        }
        'a' => parse_am_pm(f, input),
        'Z' => parse_zone_offset(f, count, input),
        'z' => parse_zone_name(f, input),
        'E' | 'e' | 'G' => Some(input.trim_start_matches(|c: char| {
            c.is_alphabetic() || (letter == 'e' && c.is_ascii_digit())
        })),
        _ => number(4).map(|(_, rest)| rest),
    }
}

fn parse_am_pm<'a>(f: &mut Fields, input: &'a str) -> Option<&'a str> {
    let head = input.get(..2)?.to_ascii_lowercase();
    f.pm = match head.as_str() {
        "am" => Some(false),
        "pm" => Some(true),
        _ => return None,
    };
    Some(&input[2..])
}

fn parse_zone_offset<'a>(f: &mut Fields, count: usize, input: &'a str) -> Option<&'a str> {
    if count >= 3 {
        let end = input
            .find(|c: char| c.is_whitespace())
            .unwrap_or(input.len());
        f.zone = Some(time::parse_time_zone(&input[..end]).ok()?);
        return Some(&input[end..]);
    }
    if let Some(rest) = input.strip_prefix('Z') {
        f.offset_ms = Some(0);
        return Some(rest);
    }
    let sign = match input.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &input[1..];
    let (hours, rest) = take_digits(body, 2, Some(2), false)?;
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let (minutes, rest) = take_digits(rest, 2, Some(2), false)?;
    f.offset_ms = Some(sign * (hours * time::HOUR_MS + minutes * time::MINUTE_MS));
    Some(rest)
}

fn parse_zone_name<'a>(f: &mut Fields, input: &'a str) -> Option<&'a str> {
    let end = input
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '/' && c != '_')
        .unwrap_or(input.len());
    f.zone = Some(time::parse_time_zone(&input[..end]).ok()?);
    Some(&input[end..])
}

fn resolve(f: &Fields) -> Option<i64> {
    let year = f.year.unwrap_or(1970) as i32;
    let date = match f.day_of_year {
        Some(doy) => NaiveDate::from_yo_opt(year, doy)?,
        None => NaiveDate::from_ymd_opt(year, f.month.unwrap_or(1), f.day.unwrap_or(1))?,
    };
    let hour = match (f.hour, f.clock_hour, f.pm) {
        (Some(h), _, _) => h,
        (None, Some(h), Some(true)) => h + 12,
        (None, Some(h), _) => h,
        (None, None, _) => 0,
    };
    let naive: NaiveDateTime = date.and_hms_nano_opt(hour, f.minute, f.second, f.nanos)?;
    match (f.offset_ms, f.zone) {
        (Some(offset), _) => Some(naive.and_utc().timestamp_millis() - offset),
        (None, Some(tz)) => time::local_to_utc_ms(tz, naive),
        (None, None) => Some(naive.and_utc().timestamp_millis()),
    }
}
