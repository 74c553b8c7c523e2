//! Tests of the object scanner, including a property test against serde_json.

use proptest::prelude::*;

use super::*;

fn members(text: &str) -> Result<Vec<(String, RawValue<'_>)>, ScanError> {
    let mut scanner = ObjectScanner::new(text)?;
    let mut out = Vec::new();
    while let Some((k, v)) = scanner.next()? {
        out.push((k.into_owned(), v));
    }
    Ok(out)
}

#[test]
fn reads_members_and_borrows_plain_strings() {
    let text = r#" { "a" : "x" , "b":-1.5e3,"c":[1,"y",{"z":[]}],"d":{"e":null},"f":true,"g":null,"h":"q\"\u00e9" } "#;
    let got = members(text).unwrap();
    assert_eq!(got[0], ("a".into(), RawValue::Str(Cow::Borrowed("x"))));
    assert!(matches!(got[0].1, RawValue::Str(Cow::Borrowed(_))));
    assert_eq!(got[1].1, RawValue::Number("-1.5e3"));
    assert_eq!(
        members(r#"{"a":-0,"b":123456789012345678,"c":1234567890123456789}"#)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect::<Vec<_>>(),
        vec![
            RawValue::Long(0),
            RawValue::Long(123_456_789_012_345_678),
            RawValue::Number("1234567890123456789")
        ]
    );
    assert_eq!(got[2].1, RawValue::Array(r#"[1,"y",{"z":[]}]"#));
    assert_eq!(got[3].1, RawValue::Object(r#"{"e":null}"#));
    assert_eq!(
        (got[4].1.clone(), got[5].1.clone()),
        (RawValue::Bool(true), RawValue::Null)
    );
    assert_eq!(got[6].1, RawValue::Str(Cow::Owned("q\"é".into())));
    assert_eq!(members("{}").unwrap(), vec![]);
    assert_eq!(
        array_elements(r#"[ "a", 2 ,null]"#).unwrap(),
        vec![RawValue::Str("a".into()), RawValue::Long(2), RawValue::Null]
    );
}

#[test]
fn refuses_what_a_json_parser_refuses() {
    for bad in [
        "",
        "[]",
        "{",
        r#"{"a"}"#,
        r#"{"a":}"#,
        r#"{"a":1,}"#,
        r#"{,"a":1}"#,
        r#"{"a":1}x"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":.5}"#,
        r#"{"a":-}"#,
        r#"{"a":1e}"#,
        r#"{"a":tru}"#,
        r#"{"a":"x}"#,
        "{\"a\":\"\u{1}\"}",
        r#"{"a":"\x"}"#,
        r#"{"a":"\u12"}"#,
        r#"{"a":[1,]}"#,
        r#"{"a":[1 2]}"#,
        r#"{"a":{"b"}}"#,
        r#"{"a":{"b":1,}}"#,
        r#"{"a":1}{"b":2}"#,
        r#"{"a" 1}"#,
    ] {
        assert!(members(bad).is_err(), "{bad:?} should fail");
    }
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
    assert!(members(&deep).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
    #[test]
    fn special_byte_agrees_with_a_plain_search(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), from in 0usize..40) {
        let from = from.min(bytes.len());
        let naive = bytes[from..].iter().position(|b| *b == b'"' || *b == b'\\' || *b < 0x20).map(|p| p + from);
        proptest::prop_assert_eq!(special_byte(&bytes, from), naive);
    }

    #[test]
    fn agrees_with_serde_json_on_validity(text in r#"\{( ?"[a-z\\"]{0,3}" ?: ?(-?[0-9.eE+-]{1,6}|"[a-z\\u0-9"]{0,6}"|\[[0-9, "a\]\[]{0,8}\]|\{[a-z":0-9,]{0,8}\}|true|nul|null|false) ?,?){0,4}\} ?"#) {
        let ours = members(&text).is_ok();
        let theirs = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text);
        // RFC 8259 leaves number range to implementations; serde_json refuses what overflows f64.
        let out_of_range = matches!(&theirs, Err(e) if e.to_string().contains("out of range"));
        if !out_of_range {
            proptest::prop_assert_eq!(ours, theirs.is_ok(), "{}", text);
        }
    }
}

/// JSON text of a generated value, with optional whitespace around every token.
fn write_json(value: &serde_json::Value, spaced: bool, out: &mut String) {
    let ws = if spaced { " \n\t" } else { "" };
    match value {
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                write_json(item, spaced, out);
            }
            out.push_str(ws);
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!(
                    "{ws}{}{ws}:{ws}",
                    serde_json::Value::from(k.as_str())
                ));
                write_json(v, spaced, out);
            }
            out.push_str(ws);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Strings with escapes (`"`, `\`, controls, `\u` forms), multi-byte and astral characters.
fn json_string() -> impl Strategy<Value = String> {
    proptest::string::string_regex("([a-z\"\\\\/\n\t\u{1}é€😀]|\\\\u00e9){0,8}")
        .expect("a valid regex")
}

/// Numbers in every form: integers of any size and sign, fractions, exponents.
fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?(0|[1-9][0-9]{0,25})".prop_map(|s| s),
        "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,6}([eE][+-]?[0-9]{1,2})?",
        "-?[1-9][eE][+-]?[0-9]{1,2}",
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        json_string().prop_map(serde_json::Value::String),
        json_number().prop_map(|n| serde_json::from_str(&n).expect("a valid number")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::vec((json_string(), inner), 0..4)
                .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Checks one scanned member value against what serde_json reads for it.
fn check_value(scanned: &RawValue<'_>, generated: &serde_json::Value) -> Result<(), TestCaseError> {
    // What serde_json reads back from the text written (its float reading is not always exact).
    let expected: serde_json::Value =
        serde_json::from_str(&generated.to_string()).expect("written JSON reads back");
    match (scanned, &expected) {
        (RawValue::Str(s), serde_json::Value::String(e)) => prop_assert_eq!(s.as_ref(), e.as_str()),
        (RawValue::Long(n), serde_json::Value::Number(e)) => {
            prop_assert!(
                e.as_i64() == Some(*n) || e.as_f64() == Some(*n as f64),
                "{} vs {}",
                n,
                e
            )
        }
        (RawValue::Number(text), serde_json::Value::Number(e)) => {
            let reread: serde_json::Value = serde_json::from_str(text).expect("valid number text");
            prop_assert_eq!(reread.as_f64(), e.as_f64());
        }
        (RawValue::Bool(b), serde_json::Value::Bool(e)) => prop_assert_eq!(b, e),
        (RawValue::Null, serde_json::Value::Null) => {}
        (RawValue::Array(raw) | RawValue::Object(raw), e) => {
            let reread: serde_json::Value = serde_json::from_str(raw).expect("valid raw text");
            prop_assert_eq!(&reread, e);
        }
        (s, e) => prop_assert!(false, "scanned {:?}, serde_json read {:?}", s, e),
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Every member (duplicates included, in order) as serde_json reads it, whether the keys
    /// are found by scanning or matched against expected raw keys (right, wrong, or a prefix).
    #[test]
    fn agrees_with_serde_json_on_generated_objects(
        members in proptest::collection::vec((json_string(), json_value()), 0..6),
        duplicate in any::<bool>(),
        spaced in any::<bool>(),
        // Raw key texts as a scan can have accepted them: letters and the escapes `\"`, `\\`.
        expected_keys in proptest::collection::vec("([a-z]|\\\\\"|\\\\\\\\){0,3}", 0..6),
    ) {
        let mut members = members;
        if duplicate && !members.is_empty() {
            members.push((members[0].0.clone(), serde_json::Value::Bool(true)));
        }
        let mut text = String::from("{");
        for (i, (key, value)) in members.iter().enumerate() {
            text.push_str(if i > 0 { "," } else { "" });
            text.push_str(if spaced { " " } else { "" });
            text.push_str(&serde_json::Value::from(key.as_str()).to_string());
            text.push(':');
            write_json(value, spaced, &mut text);
        }
        text.push('}');
        // Raw keys to expect: the real ones on even positions, generated ones elsewhere.
        let raw_keys: Vec<String> = members.iter().enumerate().map(|(i, (key, _))| {
            let quoted = serde_json::Value::from(key.as_str()).to_string();
            match expected_keys.get(i) {
                Some(other) if i % 2 == 1 => other.clone(),
                _ => quoted[1..quoted.len() - 1].to_string(),
            }
        }).collect();
        let mut scanner = ObjectScanner::new(&text).expect("an object");
        for (i, (key, value)) in members.iter().enumerate() {
            let scanned_key = scanner.next_key(raw_keys.get(i).map(|k| k.as_bytes())).expect("a key");
            match scanned_key {
                Some(Key::Expected) => {
                    let quoted = serde_json::Value::from(key.as_str()).to_string();
                    prop_assert_eq!(&raw_keys[i], &quoted[1..quoted.len() - 1]);
                }
                Some(Key::New { text: k, .. }) => prop_assert_eq!(k.as_ref(), key.as_str()),
                None => prop_assert!(false, "members ended early in {}", text),
            }
            check_value(&scanner.next_value().expect("a value"), value)?;
        }
        prop_assert_eq!(scanner.next_key(None).expect("the end"), None);
        let theirs: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).expect("valid JSON");
        prop_assert!(theirs.len() <= members.len());
    }
}
