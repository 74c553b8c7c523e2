//! Tokens of Druid's expression grammar (see the module doc of [`super`]).

/// A token and the character offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub kind: Kind,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Long(i64),
    Double(f64),
    Str(String),
    /// A bare or double-quoted identifier; `quoted` ones are never function names or `null`.
    Ident {
        name: String,
        quoted: bool,
    },
    /// An operator or punctuation: `+ - * / % ^ ! < <= > >= == != && || ( ) , [ ] ->`.
    Op(&'static str),
    End,
}

type LexResult<T> = Result<T, (String, usize)>;

const OPS: &[&str] = &[
    "<=", ">=", "==", "!=", "&&", "||", "->", "+", "-", "*", "/", "%", "^", "!", "<", ">", "(",
    ")", ",", "[", "]",
];

/// Splits `text` into tokens, ending with [`Kind::End`].
pub(super) fn tokenize(text: &str) -> LexResult<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit() {
            number(&chars, &mut i)?
        } else if c == '\'' {
            Kind::Str(quoted(&chars, &mut i, '\'')?)
        } else if c == '"' {
            Kind::Ident {
                name: quoted(&chars, &mut i, '"')?,
                quoted: true,
            }
        } else if c == '_' || c == '$' || c.is_ascii_alphabetic() {
            while i < chars.len()
                && (chars[i] == '_' || chars[i] == '$' || chars[i].is_ascii_alphanumeric())
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "NaN" => Kind::Double(f64::NAN),
                "Infinity" => Kind::Double(f64::INFINITY),
                _ => Kind::Ident {
                    name: word,
                    quoted: false,
                },
            }
        } else {
            let op = OPS
                .iter()
                .find(|op| {
                    op.chars()
                        .enumerate()
                        .all(|(k, o)| chars.get(i + k) == Some(&o))
                })
                .ok_or_else(|| (format!("unexpected character `{c}`"), i))?;
            i += op.len();
            Kind::Op(op)
        };
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    tokens.push(Token {
        kind: Kind::End,
        offset: chars.len(),
    });
    Ok(tokens)
}

/// `[0-9]+` then an optional fraction and exponent.
fn number(chars: &[char], i: &mut usize) -> LexResult<Kind> {
    let start = *i;
    let digits = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(i);
    let mut is_double = false;
    if chars.get(*i) == Some(&'.') {
        is_double = true;
        *i += 1;
        digits(i);
    }
    if matches!(chars.get(*i), Some('e' | 'E')) {
        let mark = *i;
        *i += 1;
        if chars.get(*i) == Some(&'-') {
            *i += 1;
        }
        if chars.get(*i).is_some_and(char::is_ascii_digit) {
            is_double = true;
            digits(i);
        } else {
            *i = mark;
        }
    }
    let text: String = chars[start..*i].iter().collect();
    if is_double {
        text.parse()
            .map(Kind::Double)
            .map_err(|_| (format!("bad number `{text}`"), start))
    } else {
        text.parse()
            .map(Kind::Long)
            .map_err(|_| (format!("long `{text}` out of range"), start))
    }
}

/// A `'…'` string or a `"…"` identifier with Java-style escapes.
fn quoted(chars: &[char], i: &mut usize, quote: char) -> LexResult<String> {
    let start = *i;
    *i += 1;
    let mut out = String::new();
    loop {
        let c = *chars
            .get(*i)
            .ok_or_else(|| (format!("unterminated {quote}…{quote}"), start))?;
        *i += 1;
        match c {
            c if c == quote => return Ok(out),
            '\\' => out.push(escape(chars, i)?),
            c => out.push(c),
        }
    }
}

fn escape(chars: &[char], i: &mut usize) -> LexResult<char> {
    let at = *i;
    let c = *chars
        .get(*i)
        .ok_or_else(|| ("dangling `\\`".to_string(), at))?;
    *i += 1;
    Ok(match c {
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'u' => {
            let hex: String = chars.iter().skip(*i).take(4).collect();
            let code = u32::from_str_radix(&hex, 16)
                .ok()
                .filter(|_| hex.len() == 4)
                .and_then(char::from_u32)
                .ok_or_else(|| (format!("bad escape `\\u{hex}`"), at))?;
            *i += 4;
            code
        }
        '\'' | '"' | '\\' | '/' => c,
        other => return Err((format!("bad escape `\\{other}`"), at)),
    })
}
