//! Helpers of the tests that run the `rtnode` binary: running it, small specs over local
//! files, its summary line and dumped segment rows.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// Runs the binary in `cwd` (a `run` gets an ephemeral HTTP port).
pub fn rtnode(args: &[&str], cwd: &Path) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    if args.contains(&"run") {
        all.extend(["-D", "druid.plaintextPort=0"]);
    }
    Command::new(env!("CARGO_BIN_EXE_rtnode"))
        .args(&all)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn spec_file(dir: &Path, base_dir: &Path, tuning: Value) -> PathBuf {
    let spec = json!([{
        "dataSchema": {
            "dataSource": "cli",
            "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "ts"}, "dimensionsSpec": {"dimensions": ["page"]}}},
            "metricsSpec": [{"type": "count", "name": "count"}],
            "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "NONE"}
        },
        "ioConfig": {"type": "realtime", "firehose": {"type": "local", "baseDir": base_dir.display().to_string(), "filter": "*.json"}},
        "tuningConfig": tuning
    }]);
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

/// `lines` as the file `in/a.json` under `dir`, and a spec reading it with no rejection policy.
pub fn spec_over_lines(dir: &Path, lines: &[&str]) -> PathBuf {
    let data = dir.join("in");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.json"), lines.join("\n")).unwrap();
    spec_file(dir, &data, json!({"rejectionPolicy": {"type": "none"}}))
}

/// Writes `spec` as `dir/spec.json`, runs it with `--exit-when-done` and returns the summary
/// of its first datasource.
pub fn run_to_end(dir: &Path, spec: &Value) -> Value {
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = rtnode(
        &["run", "--spec", path.to_str().unwrap(), "--exit-when-done"],
        dir,
    );
    summary_line(&out)["dataSources"][0].clone()
}

/// The rows of a segment, as `dump-segment` prints them.
pub fn dumped_rows(segment: &str, dir: &Path) -> Vec<Value> {
    let dump = rtnode(&["dump-segment", segment], dir);
    String::from_utf8(dump.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The command failed with exit code 1 and `text` on stderr.
pub fn assert_refused(out: &Output, text: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(text), "no `{text}` in {stderr}");
}

/// The summary line `run --exit-when-done` prints last (the run must have succeeded).
pub fn summary_line(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}
