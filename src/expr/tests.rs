use std::borrow::Cow;
use std::collections::HashMap;

use super::{Bindings, Expr, Value};

struct Row(HashMap<&'static str, Value<'static>>);

impl Bindings for Row {
    fn get(&self, name: &str) -> Value<'_> {
        self.0.get(name).cloned().unwrap_or(Value::Null)
    }
}

fn row() -> Row {
    Row(HashMap::from([
        ("added", Value::Long(57)),
        ("ratio", Value::Double(0.5)),
        ("language", Value::Str(Cow::Borrowed("zh"))),
        ("num_text", Value::Str(Cow::Borrowed("12"))),
        ("flag", Value::Str(Cow::Borrowed("TRUE"))),
        ("__time", Value::Long(1_377_910_953_000)), // 2013-08-31T01:02:33Z
        ("page name", Value::Str(Cow::Borrowed("Gypsy Danger"))),
    ]))
}

fn eval(text: &str) -> Value<'static> {
    let expr = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    expr.eval(&row())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .into_owned()
}

fn s(text: &str) -> Value<'static> {
    Value::Str(Cow::Owned(text.to_string()))
}

#[test]
fn druid_integration_test_transforms() {
    // ITTransformTest's two transforms.
    assert_eq!(eval("concat('language-', language)"), s("language-zh"));
    assert_eq!(eval("added * 3"), Value::Long(171));
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(eval("1 + 2 * 3"), Value::Long(7));
    assert_eq!(eval("(1 + 2) * 3"), Value::Long(9));
    assert_eq!(eval("10 - 4 - 3"), Value::Long(3));
    assert_eq!(eval("2 ^ 3 ^ 2"), Value::Long(512));
    assert_eq!(eval("-2 ^ 2"), Value::Long(4));
    assert_eq!(eval("1 + 2 < 4 && 3 > 2"), Value::Long(1));
    assert_eq!(eval("0 || 1 && 0"), Value::Long(0)); // same level, left to right
    assert_eq!(eval("!0 + 1"), Value::Long(2));
}

#[test]
fn numeric_types_follow_druid() {
    assert_eq!(eval("7 / 2"), Value::Long(3));
    assert_eq!(eval("7.0 / 2"), Value::Double(3.5));
    assert_eq!(eval("added * ratio"), Value::Double(28.5));
    assert_eq!(eval("num_text * 2"), Value::Double(24.0));
    assert_eq!(eval("missing + 1"), Value::Long(1));
    assert_eq!(eval("7 / 0"), Value::Null);
    assert_eq!(eval("7 % 0"), Value::Null);
    assert_eq!(eval("7.0 / 0"), Value::Double(f64::INFINITY));
    assert_eq!(eval("-7 % 3"), Value::Long(-1));
    assert_eq!(eval("1e3"), Value::Double(1000.0));
    assert_eq!(eval("9223372036854775807 + 1"), Value::Long(i64::MIN));
}

#[test]
fn strings_concatenate_and_compare() {
    assert_eq!(eval("'a' + 'b'"), s("ab"));
    assert_eq!(eval("language + missing"), s("zh"));
    assert_eq!(eval("language == 'zh'"), Value::Long(1));
    assert_eq!(eval("'a' < 'b'"), Value::Long(1));
    assert_eq!(eval("missing < 'a'"), Value::Long(1));
    assert_eq!(eval("\"page name\""), s("Gypsy Danger"));
    assert_eq!(eval("'it\\'s\\n'"), s("it's\n"));
    assert!(Expr::parse("'a' * 'b'").unwrap().eval(&row()).is_err());
}

#[test]
fn booleans() {
    assert_eq!(eval("flag && 1"), Value::Long(1));
    assert_eq!(eval("language && 1"), Value::Long(0));
    assert_eq!(eval("!missing"), Value::Long(1));
    assert_eq!(eval("ratio != ratio"), Value::Long(0));
    assert_eq!(eval("NaN == NaN"), Value::Long(0));
    assert_eq!(eval("NaN != NaN"), Value::Long(1));
}

#[test]
fn conditionals_and_casts() {
    assert_eq!(eval("if(added > 50, 'big', 'small')"), s("big"));
    assert_eq!(eval("nvl(missing, 'none')"), s("none"));
    assert_eq!(eval("nvl(language, 'none')"), s("zh"));
    assert_eq!(
        eval("case_searched(added < 10, 1, added < 100, 2, 3)"),
        Value::Long(2)
    );
    assert_eq!(eval("case_searched(added < 10, 1)"), Value::Null);
    assert_eq!(
        eval("case_simple(language, 'en', 1, 'zh', 2, 0)"),
        Value::Long(2)
    );
    assert_eq!(eval("case_simple(added, 57, 'x', 'y')"), s("x"));
    assert_eq!(eval("isnull(missing) + notnull(language)"), Value::Long(2));
    assert_eq!(eval("cast(num_text, 'LONG') + 1"), Value::Long(13));
    assert_eq!(eval("cast(added, 'STRING') + 'x'"), s("57x"));
    assert_eq!(eval("cast(language, 'DOUBLE')"), Value::Null);
    assert_eq!(eval("cast(ratio, 'STRING')"), s("0.5"));
}

#[test]
fn math_functions() {
    assert_eq!(eval("abs(-3)"), Value::Long(3));
    assert_eq!(eval("abs(-2.5)"), Value::Double(2.5));
    assert_eq!(eval("floor(2.7) + ceil(2.1)"), Value::Double(5.0));
    assert_eq!(eval("round(2.345, 2)"), Value::Double(2.35));
    assert_eq!(eval("round(-2.5)"), Value::Double(-3.0));
    assert_eq!(eval("round(17)"), Value::Long(17));
    assert_eq!(eval("pow(2, 10)"), Value::Double(1024.0));
    assert_eq!(eval("div(7, 2)"), Value::Long(3));
    assert_eq!(eval("max(3, 9) + min(3, 9)"), Value::Long(12));
    assert_eq!(eval("max(3, 9.5)"), Value::Double(9.5));
    assert_eq!(eval("greatest(1, missing, 7, 3)"), Value::Long(7));
    assert_eq!(eval("least(1, 2.5)"), Value::Double(1.0));
    assert_eq!(eval("greatest('b', 'a')"), s("b"));
    assert_eq!(eval("sqrt(16)"), Value::Double(4.0));
    assert_eq!(eval("log10(1000)"), Value::Double(3.0));
}

#[test]
fn string_functions() {
    assert_eq!(eval("upper(language) + lower('AB')"), s("ZHab"));
    assert_eq!(eval("strlen(\"page name\")"), Value::Long(12));
    assert_eq!(eval("substring(\"page name\", 6, 3)"), s("Dan"));
    assert_eq!(eval("substring(\"page name\", 6, -1)"), s("Danger"));
    assert_eq!(eval("substring('abc', 4, 5)"), s(""));
    assert_eq!(eval("left('abcdef', 2) + right('abcdef', 2)"), s("abef"));
    assert_eq!(eval("replace('a-b-c', '-', '+')"), s("a+b+c"));
    assert_eq!(
        eval("trim('  x  ') + ltrim('xxy', 'x') + rtrim('yxx', 'x')"),
        s("xyy")
    );
    assert_eq!(eval("strpos('hello', 'l')"), Value::Long(2));
    assert_eq!(eval("strpos('hello', 'l', 3)"), Value::Long(3));
    assert_eq!(eval("strpos('hello', 'z')"), Value::Long(-1));
    assert_eq!(eval("lpad('7', 3, '0') + rpad('ab', 1, '-')"), s("007a"));
    assert_eq!(eval("reverse('abc') + repeat('ab', 2)"), s("cbaabab"));
    assert_eq!(
        eval("contains_string(language, 'h') + icontains_string('ABC', 'b')"),
        Value::Long(2)
    );
    assert_eq!(eval("concat('a', missing, 1, 2.5)"), s("a12.5"));
    assert_eq!(eval("lower(missing)"), Value::Null);
}

#[test]
fn patterns() {
    assert_eq!(eval("like(\"page name\", 'Gypsy%')"), Value::Long(1));
    assert_eq!(eval("like('a_c', 'a!_c', '!')"), Value::Long(1));
    assert_eq!(eval("like('abc', 'a!_c', '!')"), Value::Long(0));
    assert_eq!(eval("like('abc', 'a_c')"), Value::Long(1));
    assert_eq!(
        eval("regexp_extract(\"page name\", '(\\\\w+) (\\\\w+)', 2)"),
        s("Danger")
    );
    assert_eq!(eval("regexp_extract('abc', 'z')"), Value::Null);
    assert_eq!(eval("regexp_like(language, '^z')"), Value::Long(1));
}

#[test]
fn time_functions() {
    assert_eq!(
        eval("timestamp_floor(__time, 'PT1H')"),
        Value::Long(1_377_910_800_000)
    );
    assert_eq!(
        eval("timestamp_ceil(__time, 'PT1H')"),
        Value::Long(1_377_914_400_000)
    );
    assert_eq!(
        eval("timestamp_ceil(timestamp_floor(__time, 'P1D'), 'P1D')"),
        Value::Long(1_377_907_200_000)
    );
    assert_eq!(
        eval("timestamp_shift(__time, 'P1D', -1)"),
        Value::Long(1_377_824_553_000)
    );
    assert_eq!(eval("timestamp_extract(__time, 'HOUR')"), Value::Long(1));
    assert_eq!(
        eval("timestamp_extract(__time, 'HOUR', 'America/Los_Angeles')"),
        Value::Long(18)
    );
    assert_eq!(eval("timestamp_extract(__time, 'DOW')"), Value::Long(6)); // a Saturday
    assert_eq!(
        eval("timestamp_extract(__time, 'EPOCH')"),
        Value::Long(1_377_910_953)
    );
    assert_eq!(
        eval("timestamp_extract(__time, 'CENTURY')"),
        Value::Long(21)
    );
    assert_eq!(
        eval("timestamp_format(__time)"),
        s("2013-08-31T01:02:33.000Z")
    );
    assert_eq!(
        eval("timestamp_format(__time, 'yyyy-MM-dd')"),
        s("2013-08-31")
    );
    assert_eq!(
        eval("timestamp('2013-08-31T01:02:33Z')"),
        Value::Long(1_377_910_953_000)
    );
    assert_eq!(
        eval("timestamp('31/08/2013', 'dd/MM/yyyy')"),
        Value::Long(1_377_907_200_000)
    );
    assert_eq!(
        eval("timestamp_parse('2013-08-31 01:02:33', 'yyyy-MM-dd HH:mm:ss', 'Asia/Shanghai')"),
        Value::Long(1_377_882_153_000)
    );
    assert_eq!(eval("timestamp_parse('not a time')"), Value::Null);
    assert!(
        Expr::parse("timestamp('not a time')")
            .unwrap()
            .eval(&row())
            .is_err()
    );
}

#[test]
fn parse_errors_say_where() {
    let cases = [
        ("added *", "unexpected end of expression", 7),
        ("concat('a'", "expected `,` or `)`", 10),
        ("nosuch(1)", "unknown function `nosuch`", 0),
        ("if(1, 2)", "function `if` takes 3 arguments, not 2", 0),
        ("1 + 'abc", "unterminated '…'", 4),
        ("a # b", "unexpected character `#`", 2),
        ("[1, 2]", "array literals are not supported", 0),
        ("timestamp_floor(__time, 'P1X')", "bad period", 0),
        (
            "like(language, language)",
            "argument 2 of `like` must be a string literal",
            0,
        ),
        ("cast(added, 'BLOB')", "cannot cast to `BLOB`", 0),
        (
            "timestamp_extract(__time, 'FORTNIGHT')",
            "unknown unit `FORTNIGHT`",
            0,
        ),
    ];
    for (text, message, offset) in cases {
        let err = Expr::parse(text).expect_err(text);
        assert!(err.message.contains(message), "{text}: {err}");
        assert_eq!(err.offset, offset, "{text}: {err}");
    }
}

#[test]
fn identifiers_are_listed_once() {
    let expr = Expr::parse("concat(language, \"page name\", language, __time)").unwrap();
    assert_eq!(expr.identifiers(), ["language", "page name", "__time"]);
}

#[test]
fn function_names_ignore_case() {
    assert_eq!(eval("CONCAT('a', Upper('b'))"), s("aB"));
}
