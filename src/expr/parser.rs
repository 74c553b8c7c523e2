//! Precedence climbing over [`super::lexer`]'s tokens into an [`Expr`].

use super::functions::Function;
use super::lexer::{Kind, Token, tokenize};
use super::time_fns::TimeFn;
use super::{BinaryOp, Expr, UnaryOp};

type ParseResult<T> = Result<T, (String, usize)>;

/// Binary operator levels, loosest first.
const LEVELS: &[&[(&str, BinaryOp)]] = &[
    &[("&&", BinaryOp::And), ("||", BinaryOp::Or)],
    &[
        ("<", BinaryOp::Lt),
        ("<=", BinaryOp::Le),
        (">", BinaryOp::Gt),
        (">=", BinaryOp::Ge),
        ("==", BinaryOp::Eq),
        ("!=", BinaryOp::Ne),
    ],
    &[("+", BinaryOp::Add), ("-", BinaryOp::Sub)],
    &[
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
        ("%", BinaryOp::Mod),
    ],
];

/// Parses a whole expression; the error carries a character offset.
pub(super) fn parse(text: &str) -> ParseResult<Expr> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.level(0)?;
    match parser.peek() {
        Kind::End => Ok(expr),
        _ => Err(parser.unexpected()),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Kind {
        &self.tokens[self.pos].kind
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos].offset
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if token.kind != Kind::End {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, op: &str) -> bool {
        let found = matches!(self.peek(), Kind::Op(o) if *o == op);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, op: &str) -> ParseResult<()> {
        if self.eat(op) {
            Ok(())
        } else {
            Err((format!("expected `{op}`"), self.offset()))
        }
    }

    fn unexpected(&self) -> (String, usize) {
        let what = match self.peek() {
            Kind::End => "end of expression".to_string(),
            Kind::Op("[" | "]") => "`[`: array literals are not supported".to_string(),
            Kind::Op("->") => "`->`: lambdas are not supported".to_string(),
            Kind::Op(op) => format!("`{op}`"),
            other => format!("{other:?}"),
        };
        (format!("unexpected {what}"), self.offset())
    }

    /// Left-associative binary levels, then `^`.
    fn level(&mut self, level: usize) -> ParseResult<Expr> {
        let Some(ops) = LEVELS.get(level) else {
            return self.power();
        };
        let mut left = self.level(level + 1)?;
        loop {
            let op = match self.peek() {
                Kind::Op(o) => ops.iter().find(|(text, _)| text == o).map(|(_, op)| *op),
                _ => None,
            };
            let Some(op) = op else { return Ok(left) };
            self.pos += 1;
            let right = self.level(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    /// `^`, right-associative.
    fn power(&mut self) -> ParseResult<Expr> {
        let base = self.unary()?;
        if self.eat("^") {
            let exponent = self.power()?;
            return Ok(Expr::Binary(
                BinaryOp::Pow,
                Box::new(base),
                Box::new(exponent),
            ));
        }
        Ok(base)
    }

    fn unary(&mut self) -> ParseResult<Expr> {
        if self.eat("-") {
            return Ok(Expr::Unary(UnaryOp::Neg, Box::new(self.unary()?)));
        }
        if self.eat("!") {
            return Ok(Expr::Unary(UnaryOp::Not, Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> ParseResult<Expr> {
        let token = self.next();
        match token.kind {
            Kind::Long(n) => Ok(Expr::Long(n)),
            Kind::Double(x) => Ok(Expr::Double(x)),
            Kind::Str(s) => Ok(Expr::Str(s)),
            Kind::Op("(") => {
                let inner = self.level(0)?;
                self.expect(")")?;
                Ok(inner)
            }
            Kind::Ident {
                name,
                quoted: false,
            } if self.eat("(") => {
                let args = self.arguments()?;
                call(&name, args).map_err(|message| (message, token.offset))
            }
            Kind::Ident {
                name,
                quoted: false,
            } if name == "null" => Ok(Expr::Null),
            Kind::Ident { name, .. } => Ok(Expr::Ident(name)),
            _ => {
                self.pos -= usize::from(token.kind != Kind::End);
                Err(self.unexpected())
            }
        }
    }

    /// Comma-separated arguments after `(`, through `)`.
    fn arguments(&mut self) -> ParseResult<Vec<Expr>> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.level(0)?);
            if self.eat(")") {
                return Ok(args);
            }
            if !self.eat(",") {
                return Err(("expected `,` or `)`".to_string(), self.offset()));
            }
        }
    }
}

/// Resolves a function call (names are case-insensitive).
fn call(name: &str, args: Vec<Expr>) -> Result<Expr, String> {
    let lower = name.to_ascii_lowercase();
    if let Some(function) = Function::resolve(&lower, &args)? {
        return Ok(Expr::Call(function, args));
    }
    if let Some(time_fn) = TimeFn::compile(&lower, &args)? {
        return Ok(Expr::Time(Box::new(time_fn), args));
    }
    Err(format!("unknown function `{name}`"))
}
