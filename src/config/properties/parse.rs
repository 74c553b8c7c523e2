//! The `.properties` syntax of `java.util.Properties.load` and Druid's `${prefix:name}`
//! interpolation.

use super::{PropertiesError, RuntimeProperties};

/// Blanks as `java.util.Properties` counts them: space, tab, form feed.
const BLANKS: [char; 3] = [' ', '\t', '\x0c'];

/// Returns the key/value pairs of `.properties` text, in file order (a repeated key appears twice;
/// the later one wins when inserted into a map).
pub(super) fn parse_properties(
    source_name: &str,
    text: &str,
) -> Result<Vec<(String, String)>, PropertiesError> {
    let mut pairs = Vec::new();
    for (line_number, logical) in logical_lines(text) {
        let (raw_key, raw_value) = split_key_value(&logical);
        let key = unescape(raw_key, source_name, line_number)?;
        let value = unescape(raw_value, source_name, line_number)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Splits text into natural lines on `\n`, `\r` or `\r\n`.
fn natural_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\n', '\r']) {
            None => {
                rest = None;
                (!current.is_empty()).then_some(current)
            }
            Some(end) => {
                let skip = if current[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[end + skip..]);
                Some(&current[..end])
            }
        }
    })
}

/// Returns the logical lines (comments and blank lines dropped, continuations joined), each with
/// the 1-based number of its first natural line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = natural_lines(text).enumerate();
    let mut logical_lines = Vec::new();
    while let Some((index, line)) = lines.next() {
        let start = line.trim_start_matches(BLANKS);
        if start.is_empty() || start.starts_with(['#', '!']) {
            continue;
        }
        let mut logical = start.to_string();
        while ends_in_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches(BLANKS)),
                None => break,
            }
        }
        logical_lines.push((index + 1, logical));
    }
    logical_lines
}

fn ends_in_odd_backslashes(text: &str) -> bool {
    text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped `=`, `:` or blank; a blank run may be followed by
/// one `=` or `:`, and the blanks after the separator are dropped.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut separator_seen = false;
    for (offset, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || BLANKS.contains(&c) {
            key_end = offset;
            separator_seen = c == '=' || c == ':';
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    if separator_seen {
        rest = &rest[1..];
    }
    rest = rest.trim_start_matches(BLANKS);
    if !separator_seen && rest.starts_with(['=', ':']) {
        rest = rest[1..].trim_start_matches(BLANKS);
    }
    (key, rest)
}

/// Resolves the escapes `\t \n \r \f \uXXXX`; a backslash before any other character yields
/// that character.
fn unescape(raw: &str, source_name: &str, line: usize) -> Result<String, PropertiesError> {
    if !raw.contains('\\') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => out.push(unicode_escape(&mut chars, source_name, line)?),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// Reads the four hex digits of `\uXXXX`, joining a UTF-16 surrogate pair written as two escapes.
fn unicode_escape(
    chars: &mut std::str::Chars<'_>,
    source_name: &str,
    line: usize,
) -> Result<char, PropertiesError> {
    let bad = |escape: String| PropertiesError::BadEscape {
        source_name: source_name.to_string(),
        line,
        escape,
    };
    let unit = read_hex4(chars).map_err(|digits| bad(format!("\\u{digits}")))?;
    if !(0xD800..0xDC00).contains(&unit) {
        return char::from_u32(u32::from(unit)).ok_or_else(|| bad(format!("\\u{unit:04X}")));
    }
    // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
    let pair_error = || bad(format!("\\u{unit:04X} (unpaired surrogate)"));
    if chars.next() != Some('\\') || chars.next() != Some('u') {
        return Err(pair_error());
    }
    let low = read_hex4(chars).map_err(|_| pair_error())?;
    char::decode_utf16([unit, low])
        .next()
        .and_then(Result::ok)
        .ok_or_else(pair_error)
}

fn read_hex4(chars: &mut std::str::Chars<'_>) -> Result<u16, String> {
    let digits: String = chars.by_ref().take(4).collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(digits);
    }
    u16::from_str_radix(&digits, 16).map_err(|_| digits)
}

/// Interpolates `${…}` references in `raw`; `chain` holds the properties being resolved, the
/// first being the one read.
pub(super) fn interpolate(
    raw: &str,
    chain: &mut Vec<String>,
    properties: &RuntimeProperties,
) -> Result<String, PropertiesError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after_escape) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after_escape;
            continue;
        }
        let reference = tail
            .strip_prefix("${")
            .and_then(|body| body.find('}').map(|end| &body[..end]));
        match reference {
            Some(name) => {
                match resolve_reference(name, chain, properties)? {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(&tail[..name.len() + 3]),
                }
                rest = &tail[name.len() + 3..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves the inside of `${…}`; `None` leaves an unknown prefix as written.
fn resolve_reference(
    reference: &str,
    chain: &mut Vec<String>,
    properties: &RuntimeProperties,
) -> Result<Option<String>, PropertiesError> {
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    let property = chain[0].clone();
    let resolved = match name.split_once(':') {
        Some(("env", variable)) => {
            properties
                .lookup_env(variable)
                .ok_or(PropertiesError::MissingEnv {
                    property,
                    variable: variable.to_string(),
                })
        }
        Some(("sys", other)) => resolve_property(other, chain, properties),
        Some(("file", charset_and_path)) => read_file(charset_and_path, &property),
        _ => return Ok(None),
    };
    match (resolved, default) {
        (Ok(value), _) => Ok(Some(value)),
        (
            Err(PropertiesError::MissingEnv { .. } | PropertiesError::MissingSys { .. }),
            Some(default),
        ) => Ok(Some(default.to_string())),
        (Err(error), _) => Err(error),
    }
}

fn resolve_property(
    name: &str,
    chain: &mut Vec<String>,
    properties: &RuntimeProperties,
) -> Result<String, PropertiesError> {
    let property = chain[0].clone();
    if chain.iter().any(|seen| seen == name) {
        let mut cycle = chain.join(" -> ");
        cycle.push_str(" -> ");
        cycle.push_str(name);
        return Err(PropertiesError::Cycle {
            property,
            chain: cycle,
        });
    }
    let raw = properties
        .lookup_property(name)
        .ok_or_else(|| PropertiesError::MissingSys {
            property,
            name: name.to_string(),
        })?;
    chain.push(name.to_string());
    let value = interpolate(raw, chain, properties);
    chain.pop();
    value
}

/// Reads `${file:CHARSET:PATH}`; UTF-8 (and its subset US-ASCII) is the only charset supported.
fn read_file(charset_and_path: &str, property: &str) -> Result<String, PropertiesError> {
    let error = |path: &str, reason: String| PropertiesError::InterpolatedFile {
        property: property.to_string(),
        path: path.to_string(),
        reason,
    };
    let Some((charset, path)) = charset_and_path.split_once(':') else {
        return Err(error(
            charset_and_path,
            "expected `${file:UTF-8:/path}`".to_string(),
        ));
    };
    if !["utf-8", "utf8", "us-ascii"].contains(&charset.to_ascii_lowercase().as_str()) {
        return Err(error(
            path,
            format!("charset `{charset}` is not supported (use `UTF-8`)"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|source| error(path, source.to_string()))?;
    String::from_utf8(bytes).map_err(|_| error(path, "the file is not valid UTF-8".to_string()))
}
