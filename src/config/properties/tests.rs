use std::collections::BTreeMap;
use std::io::Write;

use super::*;

fn parsed(text: &str) -> RuntimeProperties {
    let mut properties = RuntimeProperties::new();
    properties.load_str("test.properties", text).unwrap();
    properties
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_the_three_separators_and_skips_comments() {
    let properties = parsed(
        "# comment = not a property\n  ! also a comment\n\n\
         druid.port=8084\n  druid.host : example.com\ndruid.service   druid/realtime\n\
         spaced   =   value with trailing blank \n",
    );
    assert_eq!(properties.raw("druid.port"), Some("8084"));
    assert_eq!(properties.raw("druid.host"), Some("example.com"));
    assert_eq!(properties.raw("druid.service"), Some("druid/realtime"));
    assert_eq!(properties.raw("spaced"), Some("value with trailing blank "));
    assert_eq!(properties.len(), 4);
    assert!(!properties.contains("#"));
}

#[test]
fn takes_the_first_separator_only_and_keeps_the_rest_in_the_value() {
    let properties =
        parsed("url=jdbc:postgresql://h:5432/db?a=b\nk = = v\nkey:=v2\nempty=\nbare\n");
    assert_eq!(
        properties.raw("url"),
        Some("jdbc:postgresql://h:5432/db?a=b")
    );
    assert_eq!(properties.raw("k"), Some("= v"));
    assert_eq!(properties.raw("key"), Some("=v2"));
    assert_eq!(properties.raw("empty"), Some(""));
    assert_eq!(properties.raw("bare"), Some(""));
}

#[test]
fn joins_continuation_lines_and_drops_their_leading_blanks() {
    let properties = parsed("list=a,\\\n    b,\\\r\n\tc\nafter=1\r\nodd=x\\\\\nnext=2\n");
    assert_eq!(properties.raw("list"), Some("a,b,c"));
    assert_eq!(properties.raw("after"), Some("1"));
    // An even number of backslashes is an escaped backslash, not a continuation.
    assert_eq!(properties.raw("odd"), Some("x\\"));
    assert_eq!(properties.raw("next"), Some("2"));
}

#[test]
fn a_continued_line_may_look_like_a_comment_but_a_comment_does_not_continue() {
    let properties = parsed("a=1\\\n# not a comment\n# comment \\\nb=2\nlast=end\\");
    assert_eq!(properties.raw("a"), Some("1# not a comment"));
    assert_eq!(properties.raw("b"), Some("2"));
    assert_eq!(properties.raw("last"), Some("end"));
}

#[test]
fn resolves_escapes_in_keys_and_values() {
    let properties = parsed(
        "key\\:with\\=seps\\ and\\ blanks = t\\tn\\nu\\u00e9\\:x\\\\y\\q\nemoji=\\uD83D\\uDE00\n",
    );
    assert_eq!(
        properties.raw("key:with=seps and blanks"),
        Some("t\tn\nué:x\\yq")
    );
    assert_eq!(properties.raw("emoji"), Some("😀"));
}

#[test]
fn rejects_malformed_unicode_escapes_with_the_line() {
    let mut properties = RuntimeProperties::new();
    let error = properties
        .load_str("node.properties", "ok=1\nbad=\\u00G1\n")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`node.properties` line 2: malformed `\\uXXXX` escape `\\u00G1`"
    );
    let error = properties
        .load_str("node.properties", "short=\\u12")
        .unwrap_err();
    assert!(
        matches!(error, PropertiesError::BadEscape { line: 1, .. }),
        "{error}"
    );
    let error = properties
        .load_str("node.properties", "lone=\\uD83Dx")
        .unwrap_err();
    assert!(error.to_string().contains("unpaired surrogate"), "{error}");
}

#[test]
fn later_files_and_overrides_win_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let common = dir.path().join("common.runtime.properties");
    let node = dir.path().join("runtime.properties");
    std::fs::write(
        &common,
        "druid.port=8080\ndruid.host=a\ndruid.zk.service.host=zk\n",
    )
    .unwrap();
    std::fs::write(&node, "druid.port=8084\n").unwrap();
    let overrides = [
        "druid.host=b".to_string(),
        "druid.host=c=d".to_string(),
        "druid.empty=".to_string(),
    ];
    let properties = RuntimeProperties::load(&[common, node], &overrides).unwrap();
    assert_eq!(properties.get_u64("druid.port").unwrap(), Some(8084));
    assert_eq!(properties.raw("druid.host"), Some("c=d"));
    assert_eq!(properties.raw("druid.zk.service.host"), Some("zk"));
    assert_eq!(properties.raw("druid.empty"), Some(""));
}

#[test]
fn rejects_overrides_without_a_key() {
    let mut properties = RuntimeProperties::new();
    for argument in ["no-equals", "=value", "  =x"] {
        let error = properties.apply_override(argument).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("override `{argument}` is not of the form `key=value`")
        );
    }
}

#[test]
fn names_the_file_that_cannot_be_read_or_is_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.properties");
    let error = RuntimeProperties::load(std::slice::from_ref(&missing), &[]).unwrap_err();
    assert!(error.to_string().starts_with(&format!(
        "cannot read properties file `{}`",
        missing.display()
    )));
    let latin1 = dir.path().join("latin1.properties");
    std::fs::File::create(&latin1)
        .unwrap()
        .write_all(b"name=caf\xe9\n")
        .unwrap();
    let error = RuntimeProperties::load(&[latin1], &[]).unwrap_err();
    assert!(
        matches!(error, PropertiesError::NotUtf8 { offset: 8, .. }),
        "{error}"
    );
}

#[test]
fn interpolates_env_sys_and_file_references() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t\n").unwrap();
    let text = format!(
        "db.host=${{env:DB_HOST}}\nuri=jdbc:postgresql://${{sys:db.host}}:${{env:DB_PORT:-5432}}/druid\n\
         password=${{file:UTF-8:{}}}\nliteral=$${{env:DB_HOST}} and ${{unknown:x}} and $5 and ${{open\n",
        secret.display()
    );
    let properties = parsed(&text).with_environment(env(&[("DB_HOST", "pg.local")]));
    assert_eq!(
        properties.get_str("uri").unwrap().as_deref(),
        Some("jdbc:postgresql://pg.local:5432/druid")
    );
    assert_eq!(
        properties.get_str("password").unwrap().as_deref(),
        Some("s3cr3t\n")
    );
    assert_eq!(
        properties.get_str("literal").unwrap().as_deref(),
        Some("${env:DB_HOST} and ${unknown:x} and $5 and ${open")
    );
    // The raw value is kept; interpolation happens on read.
    assert_eq!(properties.raw("db.host"), Some("${env:DB_HOST}"));
    assert_eq!(properties.resolved().unwrap()["db.host"], "pg.local");
}

#[test]
fn a_missing_env_var_names_the_property_and_the_variable() {
    let properties = parsed("druid.metadata.storage.connector.password=${env:DB_PASSWORD}\nunused=${env:ALSO_MISSING}\n")
        .with_environment(env(&[]));
    let error = properties
        .get_str("druid.metadata.storage.connector.password")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "property `druid.metadata.storage.connector.password` refers to environment variable `DB_PASSWORD`, which is not set"
    );
    // A property that is never read never fails.
    assert_eq!(properties.get_str("druid.port").unwrap(), None);
}

#[test]
fn sys_references_resolve_transitively_and_report_cycles_and_gaps() {
    let properties = parsed("a=${sys:b}!\nb=${sys:c}\nc=${env:C}\nx=${sys:y}\ny=${sys:x}\nz=${sys:nothing}\nd=${sys:nothing:-fallback}\n")
        .with_environment(env(&[("C", "deep")]));
    assert_eq!(properties.get_str("a").unwrap().as_deref(), Some("deep!"));
    let cycle = properties.get_str("x").unwrap_err();
    assert_eq!(
        cycle.to_string(),
        "property `x`: interpolation cycle x -> y -> x"
    );
    let gap = properties.get_str("z").unwrap_err();
    assert!(
        matches!(&gap, PropertiesError::MissingSys { property, name } if property == "z" && name == "nothing")
    );
    assert_eq!(
        properties.get_str("d").unwrap().as_deref(),
        Some("fallback")
    );
    assert!(properties.resolved().is_err());
}

#[test]
fn file_references_report_unreadable_files_and_unknown_charsets() {
    let properties = parsed(
        "p=${file:UTF-8:/nonexistent/rtnode/secret}\nq=${file:UTF-16:/etc/hostname}\nr=${file:/x}\n",
    );
    let error = properties.get_str("p").unwrap_err();
    assert!(error.to_string().starts_with(
        "property `p` refers to file `/nonexistent/rtnode/secret`, which cannot be read"
    ));
    assert!(
        properties
            .get_str("q")
            .unwrap_err()
            .to_string()
            .contains("charset `UTF-16` is not supported")
    );
    assert!(matches!(
        properties.get_str("r").unwrap_err(),
        PropertiesError::InterpolatedFile { .. }
    ));
}

#[test]
fn typed_getters_parse_trim_and_default() {
    let properties = parsed(
        "port= 8084 \nflag=TRUE\noff=false\npoll=PT1M\nday=P1D\nms=1500\nblank=  \nfrac=PT0.5S\n",
    );
    assert_eq!(properties.get_u64("port").unwrap(), Some(8084));
    assert_eq!(properties.get_u64_or("missing", 7).unwrap(), 7);
    assert_eq!(properties.get_u64_or("blank", 9).unwrap(), 9);
    assert_eq!(properties.get_bool("flag").unwrap(), Some(true));
    assert!(!properties.get_bool_or("off", true).unwrap());
    assert!(properties.get_bool_or("missing", true).unwrap());
    assert_eq!(properties.get_duration_ms("poll").unwrap(), Some(60_000));
    assert_eq!(properties.get_duration_ms("day").unwrap(), Some(86_400_000));
    assert_eq!(properties.get_duration_ms("ms").unwrap(), Some(1_500));
    assert_eq!(properties.get_duration_ms("frac").unwrap(), Some(500));
    assert_eq!(
        properties
            .get_duration_ms_or("missing", 15 * 60_000)
            .unwrap(),
        900_000
    );
    assert_eq!(
        properties.get_str_or("missing", "druid/realtime").unwrap(),
        "druid/realtime"
    );
}

#[test]
fn typed_getter_errors_name_the_property_and_the_value() {
    let properties =
        parsed("port=eighty\nneg=-1\nflag=yes\nmonthly=P1M\nbad=1 minute\nnegative=PT-1M\n");
    let error = properties.get_u64("port").unwrap_err();
    assert_eq!(
        error.to_string(),
        "property `port` is `eighty`, expected a non-negative integer"
    );
    assert!(properties.get_u64_or("neg", 0).is_err());
    let error = properties.get_bool_or("flag", false).unwrap_err();
    assert_eq!(
        error.to_string(),
        "property `flag` is `yes`, expected `true` or `false`"
    );
    for key in ["monthly", "bad", "negative"] {
        let error = properties.get_duration_ms(key).unwrap_err();
        assert!(
            matches!(&error, PropertiesError::Invalid { property, .. } if property == key),
            "{error}"
        );
    }
}

#[test]
fn typed_getters_interpolate_before_parsing() {
    let properties = parsed("druid.port=${env:PORT}\n").with_environment(env(&[("PORT", "9000")]));
    assert_eq!(properties.get_u64("druid.port").unwrap(), Some(9000));
    let missing = parsed("druid.port=${env:PORT}\n").with_environment(env(&[]));
    assert!(matches!(
        missing.get_u64("druid.port").unwrap_err(),
        PropertiesError::MissingEnv { .. }
    ));
}

#[test]
fn visible_properties_hide_passwords_keys_and_tokens_as_druid_does() {
    let props = parsed(
        "druid.host=h1\ndruid.metadata.storage.connector.password=secret\n\
         druid.s3.accessKey=AK\nmy.api.Token=t\ndruid.storage.baseKey=seg\ndruid.port=8084\n",
    );
    let visible = props.visible().unwrap();
    let keys: Vec<&str> = visible.keys().map(String::as_str).collect();
    assert_eq!(keys, ["druid.host", "druid.port"]);

    let mut custom = props.clone();
    custom.set("druid.server.hiddenProperties", r#"["HOST"]"#);
    let visible = custom.visible().unwrap();
    assert!(!visible.contains_key("druid.host"));
    assert_eq!(
        visible["druid.metadata.storage.connector.password"],
        "secret"
    );
    custom.set("other.unused", "${env:RTNODE_SURELY_UNSET_VARIABLE}");
    let visible = custom.visible().unwrap();
    assert_eq!(
        visible["other.unused"],
        "${env:RTNODE_SURELY_UNSET_VARIABLE}"
    );
    custom.set("druid.server.hiddenProperties", "password");
    let err = custom.visible().unwrap_err().to_string();
    assert!(err.contains("druid.server.hiddenProperties"), "{err}");
}
