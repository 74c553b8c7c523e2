//! Parser behaviour on JSON, CSV and TSV events.

use std::borrow::Cow;

use serde_json::json;

use super::*;
use crate::config;

fn department(parse_spec: serde_json::Value, metrics: serde_json::Value) -> FireDepartment {
    let spec = json!([{
        "dataSchema": {
            "dataSource": "t",
            "parser": {"type": "string", "parseSpec": parse_spec},
            "metricsSpec": metrics,
        },
        "ioConfig": {"type": "realtime", "firehose": {"type": "local", "baseDir": "x", "filter": "*"}},
    }]);
    config::load_spec_str(&spec.to_string()).unwrap().remove(0)
}

fn json_parser(dims: serde_json::Value) -> InputRowParser {
    let d = department(
        json!({"format": "json", "timestampSpec": {"column": "ts", "format": "auto"}, "dimensionsSpec": {"dimensions": dims}}),
        json!([{"type": "count", "name": "count"}, {"type": "longSum", "name": "added_sum", "fieldName": "added"}, {"type": "hyperUnique", "name": "u", "fieldName": "user"}]),
    );
    InputRowParser::new(&d).unwrap()
}

fn one(s: &str) -> DimValue<'_> {
    DimValue::One(Cow::Borrowed(s))
}

#[test]
fn json_values_follow_druid_rules() {
    let mut parser = json_parser(json!(["page", "user", "tags", "n", "x", "flag"]));
    let line = r#"{"ts":"2015-09-12T00:00:00Z","page":"Main","user":"bob","tags":["b",null,"a"],"n":1.5,"flag":true,"added":12,"ignored":"z"}"#;
    let mut row = ParsedRow::default();
    assert_eq!(parser.parse(line, &mut row), Ok(LineKind::Event));
    assert_eq!(row.timestamp_ms, 1_442_016_000_000);
    assert_eq!(row.dims[0], one("Main"));
    assert!(
        matches!(&row.dims[0], DimValue::One(Cow::Borrowed(_))),
        "strings without escapes are borrowed"
    );
    assert_eq!(row.dims[1], one("bob"));
    assert_eq!(
        row.dims[2],
        DimValue::Many(vec![Some("b".into()), None, Some("a".into())]),
        "in input order: the index arranges them"
    );
    assert_eq!(row.dims[3], one("1.5"));
    assert_eq!(row.dims[4], DimValue::Null);
    assert_eq!(row.dims[5], one("true"));
    let added = parser.schema().field_slot("added").unwrap();
    assert_eq!(row.fields[added], FieldValue::Long(12));
    let user = parser.schema().field_slot("user").unwrap();
    assert_eq!(row.fields[user], FieldValue::Str("bob".into()));
}

#[test]
fn escaped_strings_are_unescaped() {
    let mut parser = json_parser(json!(["page"]));
    let mut row = ParsedRow::default();
    parser
        .parse(r#"{"ts":1442016000000,"page":"a\"b\u00e9"}"#, &mut row)
        .unwrap();
    assert_eq!(row.dims[0], one("a\"bé"));
}

#[test]
fn bad_events_are_errors() {
    let mut parser = json_parser(json!(["page"]));
    let mut row = ParsedRow::default();
    for bad in [
        r#"{"ts":"2015-09-12","page":"x""#,
        r#"["ts"]"#,
        "garbage",
        r#"{"page":"x"}"#,
        r#"{"ts":"yesterday"}"#,
        r#"{"ts":null}"#,
    ] {
        assert!(parser.parse(bad, &mut row).is_err(), "{bad}");
    }
    assert_eq!(parser.parse("   ", &mut row), Ok(LineKind::Skipped));
    assert_eq!(
        parser.parse_bytes(b"{\"ts\":\"\xff\"}", &mut row),
        Err(ParseError::Utf8)
    );
}

#[test]
fn schemaless_discovers_dimensions_in_order_minus_exclusions() {
    let mut parser = json_parser(json!([]));
    let mut row = ParsedRow::default();
    parser
        .parse(r#"{"ts":0,"b":"1","added":3,"a":"2"}"#, &mut row)
        .unwrap();
    parser
        .parse(r#"{"ts":0,"c":"3","a":"4"}"#, &mut row)
        .unwrap();
    let names: Vec<_> = parser
        .schema()
        .dimensions()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["b", "a", "c"],
        "timestamp and metric inputs are excluded"
    );
    assert_eq!(row.dims, vec![DimValue::Null, one("4"), one("3")]);
}

#[test]
fn flatten_spec_reads_nested_paths() {
    let d = department(
        json!({"format": "json", "timestampSpec": {"column": "ts"}, "dimensionsSpec": {"dimensions": ["top", "deep", "first"]},
               "flattenSpec": {"fields": [{"type": "path", "name": "deep", "expr": "$.a.b"}, {"type": "path", "name": "first", "expr": "$.list[0]"}]}}),
        json!([]),
    );
    let mut parser = InputRowParser::new(&d).unwrap();
    let mut row = ParsedRow::default();
    parser
        .parse(
            r#"{"ts":0,"top":"t","a":{"b":"nested"},"list":["x","y"]}"#,
            &mut row,
        )
        .unwrap();
    assert_eq!(row.dims, vec![one("t"), one("nested"), one("x")]);
}

#[test]
fn csv_and_tsv_with_list_delimiters_and_headers() {
    let d = department(
        json!({"format": "csv", "columns": ["ts", "page", "tags", "added"], "listDelimiter": "|", "timestampSpec": {"column": "ts"}, "dimensionsSpec": {"dimensions": ["page", "tags"]}}),
        json!([{"type": "longSum", "name": "s", "fieldName": "added"}]),
    );
    let mut parser = InputRowParser::new(&d).unwrap();
    let mut row = ParsedRow::default();
    parser
        .parse(r#"2015-09-12,"Main, page",z|a,7"#, &mut row)
        .unwrap();
    assert_eq!(
        row.dims,
        vec![
            one("Main, page"),
            DimValue::Many(vec![Some("z".into()), Some("a".into())])
        ]
    );
    assert_eq!(row.fields[0], FieldValue::Str("7".into()));
    assert!(parser.parse("2015-09-12,a,b,c,extra", &mut row).is_err());
    parser.parse("2015-09-12,,,", &mut row).unwrap();
    assert_eq!(row.dims, vec![DimValue::Null, DimValue::Null]);

    let d = department(
        json!({"format": "tsv", "hasHeaderRow": true, "timestampSpec": {"column": "time"}, "dimensionsSpec": {"dimensions": ["page"]}}),
        json!([]),
    );
    let mut parser = InputRowParser::new(&d).unwrap();
    parser.start_file();
    assert_eq!(parser.parse("page\ttime", &mut row), Ok(LineKind::Skipped));
    parser
        .parse("Home\t2015-09-12T01:00:00Z", &mut row)
        .unwrap();
    assert_eq!(
        (row.dims[0].clone(), row.timestamp_ms),
        (one("Home"), 1_442_019_600_000)
    );
}

#[test]
fn java_string_order_puts_bmp_private_use_after_supplementary() {
    use std::cmp::Ordering;
    assert_eq!(java_str_cmp("a", "b"), Ordering::Less);
    assert_eq!(java_str_cmp("\u{E000}", "\u{10000}"), Ordering::Greater);
    assert_eq!(
        "\u{E000}".cmp("\u{10000}"),
        Ordering::Less,
        "byte order differs here"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    #[test]
    fn java_order_is_utf16_order(
        a in "[a\u{7f}-\u{800}\u{d7ff}\u{e000}-\u{e001}\u{fffd}\u{10000}-\u{10002}\u{10ffff}]{0,6}",
        b in "[a\u{7f}-\u{800}\u{d7ff}\u{e000}-\u{e001}\u{fffd}\u{10000}-\u{10002}\u{10ffff}]{0,6}",
    ) {
        proptest::prop_assert_eq!(java_str_cmp(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
        let prefixed = format!("{a}x");
        proptest::prop_assert_eq!(java_str_cmp(&a, &prefixed), std::cmp::Ordering::Less);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let mut parser = json_parser(json!(["page", "user"]));
        let mut row = ParsedRow::default();
        let _ = parser.parse_bytes(&bytes, &mut row);
    }

    #[test]
    fn json_like_text_never_panics(text in r#"\{("[a-z]{1,3}"|"ts"):( ?[-0-9.eE]{1,25}|"[^"]{0,10}"|\[[^\]]{0,10}\]|null|true|\{\}),?( ?"ts":"[0-9T:Z.-]{0,25}")?\}?"#) {
        let mut parser = json_parser(json!([]));
        let mut row = ParsedRow::default();
        let _ = parser.parse(&text, &mut row);
    }
}

/// One JSON event over a few keys, members in any order, compact or spaced, values of every
/// shape (plain and escaped strings, integers, fractions, lists, literals, a bad number).
fn event_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let key = prop_oneof![
        Just("ts"),
        Just("page"),
        Just("user"),
        Just("added"),
        Just("other")
    ];
    let value = prop_oneof![
        Just("\"2015-09-12T00:00:00Z\"".to_string()),
        Just("\"2015-09-12T01:02:03.456Z\"".to_string()),
        "\"[a-z\u{e9}]{0,20}\"",
        "\"[a-z\\\\\"]{0,4}\"",
        "-?[0-9]{1,20}",
        "-?[0-9]{1,3}\\.[0-9]{1,2}",
        Just("null".to_string()),
        Just("true".to_string()),
        Just("[\"b\",null,\"a\"]".to_string()),
        Just("{\"k\":1}".to_string()),
        Just("1x".to_string()),
    ];
    let spacing = prop_oneof![4 => Just(""), 1 => Just(" ")];
    proptest::collection::vec((key, spacing, value), 0..7).prop_map(|members| {
        let body: Vec<String> = members
            .iter()
            .map(|(k, s, v)| format!("{s}\"{k}\"{s}:{s}{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

    /// The positional key cache and its fast paths (keys matched in place, plain strings and
    /// integers stored directly) give exactly what a parser that never saw an event gives.
    #[test]
    fn a_warm_parser_reads_every_event_as_a_fresh_one(events in proptest::collection::vec(event_text(), 1..8)) {
        let dims = json!(["page", "user", "other"]);
        let mut warm = json_parser(dims.clone());
        for event in &events {
            let mut fresh = json_parser(dims.clone());
            let (mut warm_row, mut fresh_row) = (ParsedRow::default(), ParsedRow::default());
            let warm_result = warm.parse(event, &mut warm_row);
            let fresh_result = fresh.parse(event, &mut fresh_row);
            proptest::prop_assert_eq!(&warm_result, &fresh_result, "{}", event);
            if warm_result.is_ok() {
                proptest::prop_assert_eq!(warm_row.timestamp_ms, fresh_row.timestamp_ms);
                proptest::prop_assert_eq!(&warm_row.dims, &fresh_row.dims, "{}", event);
                proptest::prop_assert_eq!(&warm_row.fields, &fresh_row.fields, "{}", event);
            }
        }
    }
}

/// An Apache access-log line as Druid's `regex` parse spec reads it.
const LOG_PATTERN: &str =
    r#"(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-)( \S+)?"#;

fn regex_parser(columns: Option<serde_json::Value>, dims: serde_json::Value) -> InputRowParser {
    let mut spec = json!({"format": "regex", "pattern": LOG_PATTERN, "listDelimiter": ",",
        "timestampSpec": {"column": "time", "format": "dd/MMM/yyyy:HH:mm:ss Z"},
        "dimensionsSpec": {"dimensions": dims}});
    if let Some(columns) = columns {
        spec["columns"] = columns;
    }
    let d = department(
        spec,
        json!([{"type": "longSum", "name": "bytes_sum", "fieldName": "bytes"}]),
    );
    InputRowParser::new(&d).unwrap()
}

#[test]
fn regex_lines_map_groups_to_columns() {
    let columns = json!([
        "host", "user", "time", "method", "path", "status", "bytes", "extra"
    ]);
    let mut parser = regex_parser(
        Some(columns),
        json!(["host", "user", "method", "path", "status", "extra"]),
    );
    let line = r#"10.0.0.1 - frank [10/Oct/2015:13:55:36 -0700] "GET /a,b HTTP/1.0" 200 2326"#;
    let crlf = format!("{line}\r");
    let mut row = ParsedRow::default();
    assert_eq!(parser.parse(&crlf, &mut row), Ok(LineKind::Event));
    assert_eq!(row.timestamp_ms, 1_444_510_536_000);
    assert_eq!(row.dims[0], one("10.0.0.1"));
    assert_eq!(row.dims[1], one("frank"));
    assert_eq!(row.dims[2], one("GET"));
    assert_eq!(
        row.dims[3],
        DimValue::Many(vec![Some("/a".into()), Some("b".into())]),
        "listDelimiter splits a value"
    );
    assert_eq!(row.dims[4], one("200"));
    assert_eq!(
        row.dims[5],
        DimValue::Null,
        "a group outside the match is null"
    );
    let bytes = parser.schema().field_slot("bytes").unwrap();
    assert_eq!(row.fields[bytes], FieldValue::Str("2326".into()));
    let longer = format!("{line} trailing words");
    let err = parser.parse(&longer, &mut ParsedRow::default());
    assert!(
        matches!(&err, Err(ParseError::Regex { reason }) if reason.contains("no match")),
        "the pattern must match the whole line: {err:?}"
    );
}

#[test]
fn regex_without_columns_names_groups_column_n() {
    let mut parser = regex_parser(None, json!(["column_1", "column_4"]));
    let line = r#"h - u [10/Oct/2015:13:55:36 +0000] "POST /x HTTP/1.1" 404 -"#;
    let mut row = ParsedRow::default();
    // No `time` column among column_1..column_8: the timestamp is missing.
    assert_eq!(
        parser.parse(line, &mut row),
        Err(ParseError::MissingTimestamp("time".into()))
    );
    let d = department(
        json!({"format": "regex", "pattern": "(\\d+) (\\w+)",
            "timestampSpec": {"column": "column_1", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["column_2"]}}),
        json!([{"type": "count", "name": "count"}]),
    );
    let mut parser = InputRowParser::new(&d).unwrap();
    assert_eq!(
        parser.parse("1442016000000 abc", &mut row),
        Ok(LineKind::Event)
    );
    assert_eq!(row.timestamp_ms, 1_442_016_000_000);
    assert_eq!(row.dims[0], one("abc"));
}
