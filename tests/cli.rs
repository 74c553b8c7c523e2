//! The `rtnode` binary: exit codes, stdout/stderr discipline and the summary line.

mod cli_support;

use std::path::PathBuf;
use std::process::Command;

use cli_support::{
    assert_refused, dumped_rows, repo, rtnode, run_to_end, spec_file, spec_over_lines, summary_line,
};
use serde_json::{Value, json};

#[test]
fn validate_prints_the_resolved_spec() {
    let out = rtnode(
        &["validate", "--spec", "specs/wikipedia-local.json"],
        &repo(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resolved[0]["tuningConfig"]["maxPendingPersists"], 0);
    assert_eq!(
        resolved[0]["tuningConfig"]["indexSpec"]["bitmap"]["type"],
        "roaring"
    );
    let tuning = &resolved[0]["tuningConfig"];
    assert_eq!(tuning["indexSpec"]["metricCompression"], "lz4");
    assert_eq!(tuning["indexSpec"]["dimensionCompression"], "lz4");
    assert_eq!(tuning["indexSpec"]["longEncoding"], "longs");
    let hydrants = &tuning["indexSpecForIntermediatePersists"];
    assert_eq!(hydrants["dimensionCompression"], "uncompressed");
    assert_eq!(hydrants["metricCompression"], "none");
    assert_eq!(hydrants["longEncoding"], "longs");
    assert_eq!(
        resolved[0]["dataSchema"]["granularitySpec"]["queryGranularity"],
        "MINUTE"
    );
}

#[test]
fn validate_refuses_with_the_json_path_and_exit_code_1() {
    let tmp = tempfile::tempdir().unwrap();
    let path = spec_file(tmp.path(), tmp.path(), json!({"maxRowsInMemory": "lots"}));
    let out = rtnode(&["validate", "--spec", path.to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("$[0].tuningConfig.maxRowsInMemory"),
        "{stderr}"
    );
}

#[test]
fn run_exit_when_done_prints_the_summary_as_the_last_stdout_line() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = [
        "{\"ts\":\"2015-09-12T00:00:00Z\",\"page\":\"a\"}",
        "{broken",
        "{\"ts\":\"2015-09-12T01:00:00Z\",\"page\":\"b\"}",
    ];
    let path = spec_over_lines(tmp.path(), &lines);
    let out = rtnode(
        &["run", "--spec", path.to_str().unwrap(), "--exit-when-done"],
        tmp.path(),
    );
    let last = summary_line(&out);
    let ds = &last["dataSources"][0];
    assert_eq!(
        (
            ds["dataSource"].as_str(),
            ds["processed"].as_u64(),
            ds["unparseable"].as_u64()
        ),
        (Some("cli"), Some(2), Some(1))
    );
    assert_eq!(ds["thrownAway"], 0);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unparseable event skipped"),
        "parse errors are logged to stderr"
    );
}

#[test]
fn report_parse_exceptions_stops_with_the_input_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("in");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("a.json"),
        "{\"ts\":\"2015-09-12T00:00:00Z\"}\n{\"ts\":\"never\",\"page\":\"boom\"}\n",
    )
    .unwrap();
    let path = spec_file(
        tmp.path(),
        &data,
        json!({"rejectionPolicy": {"type": "none"}, "reportParseExceptions": true}),
    );
    let out = rtnode(
        &["run", "--spec", path.to_str().unwrap(), "--exit-when-done"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"{"ts":"never","page":"boom"}"#) && stderr.contains("a.json:2"),
        "{stderr}"
    );
}

#[test]
fn dump_segment_prints_druid_rows() {
    let path = repo().join("../shared/druid/segments/druid-indexing-hadoop-test-segment/index.zip");
    let out = rtnode(&["dump-segment", path.to_str().unwrap()], &repo());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["host"], "b.example.com");
    assert_eq!(rows[1]["visited_sum"], 150);
    let out = rtnode(
        &["dump-segment", "--metadata", path.to_str().unwrap()],
        &repo(),
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(meta["numRows"], 3);
    assert_eq!(meta["columns"]["host"]["cardinality"], 3);
    let damaged =
        repo().join("../shared/druid/segments/druid-v9SegmentPersistDir-segmentWithDamagedFile");
    let out = rtnode(&["dump-segment", damaged.to_str().unwrap()], &repo());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("count"));
}

#[test]
fn one_spec_serves_every_machine_through_the_partition_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("in");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("a.json"),
        "{\"ts\":\"2015-09-12T00:00:00Z\",\"page\":\"a\"}\n",
    )
    .unwrap();
    let path = spec_file(
        tmp.path(),
        &data,
        json!({"rejectionPolicy": {"type": "none"}}),
    );
    let spec = path.to_str().unwrap();
    // The environment variable (as a per-machine unit file would set it) and the flag.
    let out = Command::new(env!("CARGO_BIN_EXE_rtnode"))
        .args([
            "run",
            "--spec",
            spec,
            "--exit-when-done",
            "-D",
            "druid.plaintextPort=0",
        ])
        .current_dir(tmp.path())
        .env("RTNODE_PARTITION_NUM", "2")
        .output()
        .unwrap();
    let last = summary_line(&out);
    let segment = &last["dataSources"][0]["segments"][0];
    let zip = PathBuf::from(segment["path"].as_str().unwrap());
    let descriptor: Value =
        serde_json::from_slice(&std::fs::read(zip.with_file_name("descriptor.json")).unwrap())
            .unwrap();
    assert_eq!(
        descriptor["shardSpec"],
        json!({"type": "linear", "partitionNum": 2})
    );
    assert!(zip.parent().unwrap().ends_with("2"), "{}", zip.display());

    let out = rtnode(
        &["validate", "--spec", spec, "--partition-num", "7"],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        resolved[0]["tuningConfig"]["shardSpec"],
        json!({"type": "linear", "partitionNum": 7})
    );

    let numbered = spec_file(
        tmp.path(),
        &data,
        json!({"shardSpec": {"type": "numbered", "partitionNum": 0, "partitions": 4}}),
    );
    let out = rtnode(
        &[
            "validate",
            "--spec",
            numbered.to_str().unwrap(),
            "--partition-num",
            "4",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("$[0].tuningConfig.shardSpec.partitionNum")
            && stderr.contains("must be below partitions 4"),
        "{stderr}"
    );
}

#[test]
fn log_format_json_writes_one_json_object_per_stderr_line() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = [
        "{\"ts\":\"2015-09-12T00:00:00Z\",\"page\":\"a\"}",
        "{broken",
    ];
    let path = spec_over_lines(tmp.path(), &lines);
    let spec = path.to_str().unwrap();
    let out = rtnode(
        &[
            "run",
            "--spec",
            spec,
            "--exit-when-done",
            "--log-format",
            "json",
        ],
        tmp.path(),
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let logged: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        logged
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    let skipped = logged
        .iter()
        .find(|l| l["fields"]["message"] == "unparseable event skipped")
        .unwrap_or_else(|| panic!("no parse error line in {stderr}"));
    assert_eq!(skipped["level"], "WARN", "{skipped}");
    let text = rtnode(
        &["--log-format", "yaml", "validate", "--spec", spec],
        tmp.path(),
    );
    assert_eq!(
        text.status.code(),
        Some(2),
        "clap refuses an unknown format"
    );
}

/// The example `specs/access-log-regex.json` (regex parse spec, a filtered count,
/// `createBitmapIndex: false`) over generated access-log lines, through the binary.
#[test]
fn the_access_log_example_spec_ingests_a_log() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (mut lines, mut errors, mut bytes) = (Vec::new(), 0i64, 0i64);
    for i in 0..600u32 {
        let status = [200, 304, 404, 500, 503][i as usize % 5];
        errors += i64::from(status >= 500);
        bytes += i64::from(i);
        lines.push(format!(
            r#"10.0.0.{} - u{} [12/Sep/2015:10:{:02}:00 +0000] "GET /p{} HTTP/1.1" {status} {i} "-" "curl/8""#,
            i % 9, i % 13, i % 60, i % 7
        ));
    }
    lines.push("not an access log line".into());
    std::fs::write(logs.join("access.log"), lines.join("\n")).unwrap();
    let text = std::fs::read_to_string(repo().join("specs/access-log-regex.json")).unwrap();
    let mut spec: Value = serde_json::from_str(&text).unwrap();
    spec[0]["ioConfig"]["firehose"]["baseDir"] = json!(logs.display().to_string());
    spec[0]["tuningConfig"]["rejectionPolicy"] = json!({"type": "none"});
    let ds = &run_to_end(tmp.path(), &spec);
    assert_eq!(
        (ds["processed"].as_u64(), ds["unparseable"].as_u64()),
        (Some(600), Some(1))
    );
    let zip = ds["segments"][0]["path"].as_str().unwrap();
    let rows = dumped_rows(zip, tmp.path());
    let sum = |name: &str| rows.iter().map(|r| r[name].as_i64().unwrap()).sum::<i64>();
    assert_eq!(
        (sum("requests"), sum("server_errors"), sum("bytes")),
        (600, errors, bytes)
    );
    assert!(
        rows.iter().all(|r| r["agent"] == "curl/8"),
        "the optional group is read"
    );
    let meta = rtnode(&["dump-segment", "--metadata", zip], tmp.path());
    let meta: Value = serde_json::from_slice(&meta.stdout).unwrap();
    let bitmaps = |column: &str| meta["columns"][column]["hasBitmapIndexes"].as_bool();
    assert_eq!(
        (bitmaps("host"), bitmaps("method")),
        (Some(false), Some(true)),
        "{meta}"
    );
}

/// Druid 0.6's RabbitMQ example spec, in the pre-0.7 format, runs as it is but for its input: a
/// local firehose carrying the example's own parser over generated events.
#[test]
fn a_druid_06_spec_runs_in_its_own_format() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("in");
    std::fs::create_dir(&data).unwrap();
    let (mut lines, mut wp_sum) = (Vec::new(), 0.0f64);
    for i in 0..300u32 {
        let wp = f64::from(i) * 0.5;
        wp_sum += wp;
        lines.push(format!(
            r#"{{"utcdt":"2015-09-12T{:02}:{:02}:{:02}Z","wp":{wp},"page":"p{}","user":"u{}"}}"#,
            10 + i % 2,
            i % 60,
            i % 17,
            i % 7,
            i % 3
        ));
    }
    std::fs::write(data.join("events.json"), lines.join("\n")).unwrap();
    let legacy = repo().join("../shared/druid/specs/druid-0.6.174/rabbitmq_realtime.spec");
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(legacy).unwrap()).unwrap();
    let parser = spec[0]["firehose"]["parser"].clone();
    spec[0]["firehose"] = json!({"type": "local", "baseDir": data.display().to_string(),
        "filter": "*.json", "parser": parser});
    spec[0]["plumber"]["basePersistDirectory"] =
        json!(tmp.path().join("persist").display().to_string());
    let ds = &run_to_end(tmp.path(), &spec);
    assert_eq!(ds["dataSource"], "rabbitmqtest");
    assert_eq!(ds["processed"], 300);
    let segments = ds["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "hour segments: {ds}");
    let (mut impressions, mut wp) = (0, 0.0);
    for segment in segments {
        let zip = segment["path"].as_str().unwrap();
        for row in dumped_rows(zip, tmp.path()) {
            impressions += row["impressions"].as_i64().unwrap();
            wp += row["wp"].as_f64().unwrap();
            let time_ms = row["__time"].as_i64().unwrap();
            assert_eq!(time_ms % 60_000, 0, "minute rollup: {row}");
        }
        let meta = rtnode(&["dump-segment", "--metadata", zip], tmp.path());
        let meta: Value = serde_json::from_slice(&meta.stdout).unwrap();
        assert_eq!(
            meta["dimensions"],
            json!(["page", "user"]),
            "wp is excluded"
        );
    }
    assert_eq!(impressions, 300);
    assert!((wp - wp_sum).abs() < 1e-6, "{wp} vs {wp_sum}");
}

/// Druid's realtime node read its spec from `druid.realtime.specFile`; so does `rtnode` when
/// `--spec` is not given, from a properties file or a `-D` override.
#[test]
fn the_spec_file_comes_from_druid_realtime_spec_file_when_not_given() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = ["{\"ts\":\"2015-09-12T00:00:00Z\",\"page\":\"a\"}"];
    let spec = spec_over_lines(tmp.path(), &lines);
    let properties = tmp.path().join("runtime.properties");
    std::fs::write(
        &properties,
        format!(
            "druid.service=realtime\ndruid.realtime.specFile={}\n",
            spec.display()
        ),
    )
    .unwrap();
    let out = rtnode(
        &[
            "--properties",
            properties.to_str().unwrap(),
            "run",
            "--exit-when-done",
        ],
        tmp.path(),
    );
    let summary = summary_line(&out);
    assert_eq!(summary["dataSources"][0]["dataSource"], "cli", "{summary}");
    assert_eq!(summary["dataSources"][0]["processed"], 1);

    let override_arg = format!("druid.realtime.specFile={}", spec.display());
    let out = rtnode(&["-D", &override_arg, "validate"], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resolved[0]["dataSchema"]["dataSource"], "cli");

    let out = rtnode(&["validate"], tmp.path());
    assert_refused(&out, "druid.realtime.specFile");
}

/// Druid's `transformSpec.filter` (0.13+): events it does not match are thrown away (reason
/// `filtered`) before they reach a sink; filters read input fields that are not dimensions too.
#[test]
fn the_transform_spec_filter_drops_the_events_it_does_not_match() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut lines, mut kept, mut kept_added) = (Vec::new(), 0u64, 0i64);
    for i in 0..500i64 {
        let robot = i % 3 == 0;
        let added = i % 40;
        if !robot && added >= 10 {
            kept += 1;
            kept_added += added;
        }
        lines.push(format!(
            r#"{{"ts":"2015-09-12T00:{:02}:00Z","page":"p{}","isRobot":{robot},"added":{added}}}"#,
            i % 60,
            i % 4
        ));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let path = spec_over_lines(tmp.path(), &refs);
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    spec[0]["dataSchema"]["metricsSpec"] = json!([{"type": "count", "name": "count"},
        {"type": "longSum", "name": "added", "fieldName": "added"}]);
    spec[0]["dataSchema"]["transformSpec"] = json!({"filter": {"type": "and", "fields": [
        {"type": "selector", "dimension": "isRobot", "value": "false"},
        {"type": "bound", "dimension": "added", "lower": "10", "ordering": "numeric"}]}});
    std::fs::write(&path, spec.to_string()).unwrap();
    let resolved = rtnode(&["validate", "--spec", path.to_str().unwrap()], tmp.path());
    let resolved: Value = serde_json::from_slice(&resolved.stdout).unwrap();
    assert_eq!(
        resolved[0]["dataSchema"]["transformSpec"],
        spec[0]["dataSchema"]["transformSpec"]
    );
    let out = rtnode(
        &["run", "--spec", path.to_str().unwrap(), "--exit-when-done"],
        tmp.path(),
    );
    let summary = summary_line(&out);
    let ds = &summary["dataSources"][0];
    assert_eq!(
        (ds["processed"].as_u64(), ds["thrownAway"].as_u64()),
        (Some(kept), Some(500 - kept)),
        "{ds}"
    );
    let zip = ds["segments"][0]["path"].as_str().unwrap();
    let rows = dumped_rows(zip, tmp.path());
    let sum = |name: &str| rows.iter().map(|r| r[name].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("count"), sum("added")), (kept as i64, kept_added));

    spec[0]["dataSchema"]["transformSpec"]["transforms"] =
        json!([{"type": "expression", "name": "x", "expression": "upper(page"}]);
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = rtnode(&["validate", "--spec", path.to_str().unwrap()], tmp.path());
    assert_refused(
        &out,
        "$[0].dataSchema.transformSpec.transforms[0].expression",
    );
}

/// `tuningConfig.deadLetterDirectory`: every event read but not indexed (late, filtered,
/// unparseable) is kept as one JSON line with its reason, position and raw text.
#[test]
fn events_that_are_not_indexed_go_to_the_dead_letter_file() {
    let tmp = tempfile::tempdir().unwrap();
    let now = rtnode::time::format_iso(rtnode::time::now_ms());
    let lines = [
        format!(r#"{{"ts":"{now}","page":"a","isRobot":false}}"#),
        r#"{"ts":"2015-09-12T00:00:00Z","page":"old","isRobot":false}"#.to_string(),
        "{broken".to_string(),
        format!(r#"{{"ts":"{now}","page":"bot","isRobot":true}}"#),
        format!(r#"{{"ts":"{now}","page":"b","isRobot":false}}"#),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let path = spec_over_lines(tmp.path(), &refs);
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let letters_dir = tmp.path().join("dead");
    spec[0]["tuningConfig"] = json!({"type": "realtime", "rejectionPolicy": {"type": "serverTime"},
        "windowPeriod": "PT10M", "deadLetterDirectory": letters_dir.display().to_string()});
    spec[0]["dataSchema"]["transformSpec"] = json!({"filter": {"type": "not",
        "field": {"type": "selector", "dimension": "isRobot", "value": "true"}}});
    let ds = &run_to_end(tmp.path(), &spec);
    assert_eq!(
        (&ds["processed"], &ds["thrownAway"], &ds["unparseable"]),
        (&json!(2), &json!(2), &json!(1)),
        "{ds}"
    );
    let text = std::fs::read_to_string(letters_dir.join("cli_0.jsonl")).unwrap();
    let letters: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str)> = letters
        .iter()
        .map(|l| (l["reason"].as_str().unwrap(), l["event"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("late", lines[1].as_str()),
            ("unparseable", lines[2].as_str()),
            ("filtered", lines[3].as_str())
        ]
    );
    assert!(
        letters[1]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        letters[0]["position"].as_str().unwrap().ends_with(":2"),
        "{}",
        letters[0]
    );
}

#[test]
fn print_config_shows_the_properties_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("runtime.properties");
    std::fs::write(
        &file,
        "druid.host=${env:RTNODE_TEST_HOST}\ndruid.metadata.storage.connector.password=pw\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rtnode"))
        .args([
            "--properties",
            file.to_str().unwrap(),
            "-D",
            "druid.port=9000",
            "print-config",
        ])
        .env("RTNODE_TEST_HOST", "rt7")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, json!({"druid.host": "rt7", "druid.port": "9000"}));
}

/// Without a subcommand `rtnode` runs the node, as Druid's realtime node just ran; an unreadable
/// spec file is named once, with its cause once.
#[test]
fn no_subcommand_means_run() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.spec");
    let property = format!("druid.realtime.specFile={}", missing.display());
    let out = rtnode(
        &["-D", &property, "-D", "druid.plaintextPort=0"],
        tmp.path(),
    );
    assert_refused(
        &out,
        &format!("cannot read spec file `{}`", missing.display()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}
