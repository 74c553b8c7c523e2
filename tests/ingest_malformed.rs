//! 100,000 malformed lines mixed into valid input (and log lines a `regex` pattern does not
//! match): no panic, every valid row ingested, every bad one counted as unparseable.

mod ingest_support;

use std::io::Write;

use ingest_support::{ingest, local_spec};
use rtnode::index::{SortedIndex, rows_as_json};
use serde_json::json;

/// Deterministic kinds of broken input.
fn malformed(i: u64) -> Vec<u8> {
    let ts = 1_442_016_000_000u64 + i;
    match i % 12 {
        0 => format!("{{\"ts\":{ts},\"page\":\"p\"").into_bytes(),
        1 => b"not json at all".to_vec(),
        2 => vec![0xff, 0xfe, b'{', b'}', 0xc3],
        3 => format!("{{\"page\":\"no time {i}\",\"added\":1}}").into_bytes(),
        4 => format!("{{\"ts\":\"the {i}th of never\",\"page\":\"p\"}}").into_bytes(),
        5 => format!("[{ts},\"p\"]").into_bytes(),
        6 => format!("{{\"ts\":{ts},\"added\":\"lots\"}}").into_bytes(),
        7 => format!("{{\"ts\":{ts},\"added\":[1,2]}}").into_bytes(),
        8 => b"{\"ts\":null,\"page\":\"p\"}".to_vec(),
        9 => format!("{{\"ts\":{ts},\"page\":\"{}\"", "x".repeat(5000)).into_bytes(),
        10 => b"{\"ts\":1e400}".to_vec(),
        _ => format!("{{\"ts\":{ts},,\"page\":\"p\"}}").into_bytes(),
    }
}

#[test]
fn malformed_lines_are_counted_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(tmp.path().join("mixed.json")).unwrap());
    let (mut valid, mut bad, mut added_total) = (0u64, 0u64, 0i64);
    for i in 0..150_000u64 {
        if i % 3 == 0 {
            let added = (i % 97) as i64;
            added_total += added;
            valid += 1;
            writeln!(file, "{}", json!({"ts": 1_442_016_000_000u64 + i, "page": format!("p{}", i % 50), "added": added})).unwrap();
        } else {
            bad += 1;
            file.write_all(&malformed(i)).unwrap();
            file.write_all(b"\n").unwrap();
        }
    }
    file.flush().unwrap();
    drop(file);
    let schema = json!({
        "dataSource": "mixed",
        "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "ts", "format": "auto"},
            "dimensionsSpec": {"dimensions": ["page"]}}},
        "metricsSpec": [{"type": "count", "name": "count"}, {"type": "longSum", "name": "added", "fieldName": "added"}],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "HOUR"}
    });
    let department = local_spec(tmp.path(), "mixed.json", schema, json!({}));
    let (chief, report) = ingest(&department, 0);
    assert_eq!(bad, 100_000);
    assert_eq!(report.counts.processed, valid);
    assert_eq!(report.counts.unparseable, bad);
    let sink = chief.plumber().sinks().values().next().unwrap();
    let rows = rows_as_json(&SortedIndex::new(&sink.current));
    assert_eq!(
        rows.iter()
            .map(|r| r["count"].as_i64().unwrap())
            .sum::<i64>() as u64,
        valid
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["added"].as_i64().unwrap())
            .sum::<i64>(),
        added_total
    );
}

/// The `regex` parse spec over an access log: lines the pattern does not match as a whole are
/// unparseable; the others roll up by host and status with their byte counts.
#[test]
fn regex_log_lines_roll_up_and_the_rest_are_unparseable() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    let (mut valid, mut bytes_total) = (0u64, 0i64);
    for i in 0..3_000u64 {
        let (host, status, bytes) = (format!("10.0.0.{}", i % 7), 200 + (i % 3) * 100, i % 500);
        let second = i % 60;
        lines.push(match i % 10 {
            9 => format!("{host} garbage {i}"),
            8 => format!("{host} - - [12/Sep/2015:00:01:{second:02} +0000] \"GET /p HTTP/1.1\" {status}"),
            _ => {
                valid += 1;
                bytes_total += bytes as i64;
                format!("{host} - - [12/Sep/2015:00:01:{second:02} +0000] \"GET /p{i} HTTP/1.1\" {status} {bytes}")
            }
        });
    }
    std::fs::write(tmp.path().join("access.log"), lines.join("\n")).unwrap();
    let schema = json!({
        "dataSource": "access",
        "parser": {"type": "string", "parseSpec": {"format": "regex",
            "pattern": "(\\S+) \\S+ \\S+ \\[([^\\]]+)\\] \"\\S+ \\S+ [^\"]*\" (\\d{3}) (\\d+)",
            "columns": ["host", "time", "status", "bytes"],
            "timestampSpec": {"column": "time", "format": "dd/MMM/yyyy:HH:mm:ss Z"},
            "dimensionsSpec": {"dimensions": ["host", "status"]}}},
        "metricsSpec": [{"type": "count", "name": "count"}, {"type": "longSum", "name": "bytes", "fieldName": "bytes"}],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "HOUR"}
    });
    let department = local_spec(tmp.path(), "access.log", schema, json!({}));
    let (chief, report) = ingest(&department, 0);
    assert_eq!(report.counts.processed, valid);
    assert_eq!(report.counts.unparseable, 3_000 - valid);
    let sink = chief.plumber().sinks().values().next().unwrap();
    let rows = rows_as_json(&SortedIndex::new(&sink.current));
    assert_eq!(rows.len(), 7 * 3, "one row per host and status");
    for row in &rows {
        assert_eq!(row["__time"], json!(1_442_016_000_000i64));
        assert!(row["host"].as_str().unwrap().starts_with("10.0.0."));
    }
    let sum = |name: &str| rows.iter().map(|r| r[name].as_i64().unwrap()).sum::<i64>();
    assert_eq!(sum("count") as u64, valid);
    assert_eq!(sum("bytes"), bytes_total);
}
