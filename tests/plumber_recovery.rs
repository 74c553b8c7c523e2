//! Issue 4 through the `rtnode` binary: a corrupt persisted hydrant is caught by its checksum on
//! restart, quarantined with its path in the log, and its rows are read again from the source;
//! SIGTERM stops gracefully (persist, commit, exit 0) and a restart continues from the commit;
//! a second signal during the graceful stop exits at once and a restart still gives exact
//! totals; a following local firehose picks up a file added later.
//!
//! Every event has its own user, so no two events roll up: the published segments must hold
//! exactly one row per input event (time, page, user, count 1, added) — nothing lost, nothing
//! counted twice.

mod announce_support;
mod node_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use node_support::*;
use serde_json::{Value, json};

/// One published row: `(__time, page, user, count, added)`.
type Row = (i64, String, String, i64, i64);

/// `count` events spread evenly over `hours` hours from hour `first_hour` of 2015-09-12, users
/// `{tag}{i}` (all distinct), varied `added`.
fn events(tag: &str, count: usize, first_hour: u32, hours: u32) -> String {
    let start = rtnode::time::parse_iso(&hour_start(first_hour)).unwrap();
    let span_ms = i64::from(hours) * 3_600_000;
    (0..count)
        .map(|i| {
            let time = rtnode::time::format_iso(start + i as i64 * span_ms / count as i64);
            let page = ["Apple", "Pear", "Plum"][i % 3];
            event(&time, page, &format!("{tag}{i}"), (i as i64 * 7) % 101)
        })
        .collect()
}

/// The rows the input lines must publish (one per event).
fn expected_rows(inputs: &[&str]) -> Vec<Row> {
    let mut rows: Vec<Row> = inputs
        .iter()
        .flat_map(|text| text.lines())
        .map(|line| {
            let e: Value = serde_json::from_str(line).unwrap();
            (
                rtnode::time::parse_iso(e["timestamp"].as_str().unwrap()).unwrap(),
                e["page"].as_str().unwrap().to_string(),
                e["user"].as_str().unwrap().to_string(),
                1,
                e["added"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Every row of every used `wiki` segment in the metadata store, read from deep storage.
async fn published_rows(workdir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for segment in used_segments(workdir).await {
        let zip = segment["loadSpec"]["path"]
            .as_str()
            .expect("a local loadSpec");
        let mut out = Vec::new();
        rtnode::segment::dump::dump_rows(Path::new(zip), &mut out).unwrap();
        for line in String::from_utf8(out).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            rows.push((
                r["__time"].as_i64().unwrap(),
                r["page"].as_str().unwrap().to_string(),
                r["user"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
                r["added"].as_i64().unwrap(),
            ));
        }
    }
    rows.sort();
    rows
}

/// Asserts the published segments hold exactly `expected` (compared as counts and sums first,
/// so a failure says what is off before listing rows).
async fn assert_published_exactly(workdir: &Path, expected: &[Row], hours: usize) {
    let used = used_segments(workdir).await;
    assert_eq!(used.len(), hours, "one segment per hour: {used:?}");
    let actual = published_rows(workdir).await;
    let totals = |rows: &[Row]| {
        (
            rows.len(),
            rows.iter().map(|r| r.3).sum::<i64>(),
            rows.iter().map(|r| r.4).sum::<i64>(),
        )
    };
    assert_eq!(
        totals(&actual),
        totals(expected),
        "(rows, count, added) published vs input"
    );
    assert!(actual == expected, "published rows differ from the input");
}

/// Writes `{dir}/in/{name}` atomically (a temporary name the `*.json` filter does not match,
/// then a rename), so a following firehose never sees half a file.
fn add_input(dir: &Path, name: &str, lines: &str) -> u64 {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let tmp = input.join(format!("{name}.part"));
    std::fs::write(&tmp, lines).unwrap();
    std::fs::rename(&tmp, input.join(name)).unwrap();
    lines.len() as u64
}

/// The firehose spec over `{dir}/in/*.json` (the files are added with [`add_input`]).
fn firehose(dir: &Path) -> Value {
    json!({"type": "local", "baseDir": dir.join("in").display().to_string(), "filter": "*.json"})
}

/// The log with ANSI colour escapes removed.
fn plain_log(node: &Node) -> String {
    let raw = node.stderr();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
async fn eventually(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `druid_ingest_events_processed_total` of `wiki` from the node's `/metrics` (`None` while the
/// server is not up or the counter not yet created).
async fn processed(port: u16) -> Option<u64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("druid_ingest_events_processed_total{dataSource=\"wiki\"} "))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until the node reports `count` processed events (and not more).
async fn wait_processed(node: &Node, port: u16, count: u64) {
    let mut last = None;
    let reached = eventually(Duration::from_secs(60), async || {
        last = processed(port).await;
        last.is_some_and(|n| n >= count)
    })
    .await;
    assert!(
        reached,
        "processed stayed at {last:?}, expected {count}; log:\n{}",
        plain_log(node)
    );
    assert_eq!(last, Some(count), "events processed");
}

/// A timeseries query over the whole day: `(count, added)` summed.
async fn query_totals(port: u16) -> (i64, i64) {
    let query = json!({
        "queryType": "timeseries", "dataSource": "wiki",
        "intervals": "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z", "granularity": "all",
        "aggregations": [
            {"type": "longSum", "name": "count", "fieldName": "count"},
            {"type": "longSum", "name": "added", "fieldName": "added"}
        ]
    });
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/druid/v2"))
        .json(&query)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{:?}", response.status());
    let body: Value = response.json().await.unwrap();
    let result = &body[0]["result"];
    (
        result["count"].as_i64().unwrap_or_else(|| panic!("{body}")),
        result["added"].as_i64().unwrap_or_else(|| panic!("{body}")),
    )
}

/// The commit record of `wiki` (first line of `commit.json`).
fn commit_record(dir: &Path) -> Value {
    let text = std::fs::read_to_string(persist_base(dir).join("wiki/commit.json")).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

/// `(sink directory, hydrant number, generation, rows)` of every hydrant in the commit record.
fn committed_hydrants(dir: &Path) -> Vec<(PathBuf, u64, u64, u64)> {
    let record = commit_record(dir);
    let mut hydrants = Vec::new();
    for sink in record["sinks"].as_array().unwrap() {
        let interval = sink["interval"].as_str().unwrap().replace('/', "_");
        let sink_dir = persist_base(dir).join("wiki").join(interval);
        for h in sink["hydrants"].as_array().unwrap() {
            hydrants.push((
                sink_dir.clone(),
                h["number"].as_u64().unwrap(),
                h["generation"].as_u64().unwrap(),
                h["rows"].as_u64().unwrap(),
            ));
        }
    }
    hydrants
}

/// The byte range of column `name` inside `00000.smoosh`, from `meta.smoosh`.
fn column_range(hydrant: &Path, name: &str) -> (usize, usize) {
    let meta = std::fs::read_to_string(hydrant.join("meta.smoosh")).unwrap();
    let line = meta
        .lines()
        .skip(1)
        .find(|l| l.split(',').next() == Some(name))
        .unwrap_or_else(|| panic!("no column `{name}` in meta.smoosh:\n{meta}"));
    let fields: Vec<&str> = line.split(',').collect();
    assert_eq!(fields[1], "0", "one smoosh file: {line}");
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_a_hydrant_is_quarantined_and_its_rows_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Four files, each one batch spanning hours 1-3; each batch exceeds maxRowsInMemory, so
    // each is its own persist (generation) with a hydrant in every hour's sink.
    let inputs: Vec<String> = (1..=4)
        .map(|n| events(&format!("f{n}u"), 400, 1, 3))
        .collect();
    let mut sizes = Vec::new();
    for (n, text) in inputs.iter().enumerate() {
        sizes.push(add_input(dir, &format!("events-{}.json", n + 1), text));
    }
    let spec = write_spec(
        dir,
        firehose(dir),
        json!({"maxRowsInMemory": 300, "rejectionPolicy": {"type": "none"}}),
    );
    let props = vec!["druid.plaintextPort=0".to_string()];

    // Run 1 follows the directory (no handoff: rejection `none` closes no sink before the
    // input ends, and a following input never ends); stop it once all four are committed.
    let mut node = Node::start(dir, &spec, false, &props, false);
    let last = json!({"file": "events-4.json", "offset": sizes[3]});
    assert!(
        eventually(Duration::from_secs(60), async || committed_checkpoint(dir)
            .as_ref()
            == Some(&last))
        .await,
        "never committed {last}; commit: {:?}; log:\n{}",
        committed_checkpoint(dir),
        plain_log(&node)
    );
    node.terminate();
    let status = node.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}\n{}", plain_log(&node));
    drop(node);

    let hydrants = committed_hydrants(dir);
    let generations: std::collections::BTreeSet<u64> = hydrants.iter().map(|h| h.2).collect();
    assert!(
        generations.len() >= 3,
        "several persists: {:?}",
        commit_record(dir)
    );
    assert_eq!(hydrants.iter().map(|h| h.3).sum::<u64>(), 1600, "rows");
    // Damage a hydrant of a middle generation in hour 2: one byte of its `added` column.
    let bad_generation = *generations.iter().nth(1).unwrap();
    let (sink_dir, number, _, _) = hydrants
        .iter()
        .find(|h| h.2 == bad_generation && h.0 == sink_dir(dir, 2))
        .expect("the middle generation has a hydrant in hour 2")
        .clone();
    let hydrant = sink_dir.join(number.to_string());
    let smoosh = hydrant.join("00000.smoosh");
    let mut bytes = std::fs::read(&smoosh).unwrap();
    let (start, end) = column_range(&hydrant, "added");
    bytes[(start + end) / 2] ^= 0x5a;
    std::fs::write(&smoosh, &bytes).unwrap();
    // Rows of that generation and later ones must come again from the source; earlier ones
    // come from their hydrants.
    let reread: u64 = hydrants
        .iter()
        .filter(|h| h.2 >= bad_generation)
        .map(|h| h.3)
        .sum();
    assert!(reread > 0 && reread < 1600, "{reread}");

    // Run 2 recovers, re-reads and hands everything off.
    let mut node = Node::start(dir, &spec, true, &props, false);
    let summary = node.wait_success(Duration::from_secs(60)).await;
    let log = plain_log(&node);
    let hydrant_path = format!("path={} ", hydrant.display());
    let quarantine_line = log
        .lines()
        .find(|l| l.contains("quarantining persisted data") && l.contains(&hydrant_path))
        .unwrap_or_else(|| panic!("no quarantine line naming {hydrant_path}; log:\n{log}"));
    assert!(
        quarantine_line.contains("checksum"),
        "the reason is the checksum: {quarantine_line}"
    );
    assert!(
        log.lines().any(|l| l.contains(&hydrant_path)
            && l.contains("crc32")
            && l.contains("00000.smoosh")),
        "the error names the file whose crc32 failed; log:\n{log}"
    );
    let quarantined = quarantine_line
        .split("quarantined_to=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no quarantined_to in: {quarantine_line}"));
    assert!(
        quarantined.starts_with(persist_base(dir).join("quarantine/wiki")),
        "{}",
        quarantined.display()
    );
    assert_eq!(
        std::fs::read(quarantined.join("00000.smoosh")).unwrap(),
        bytes,
        "the quarantined copy is the damaged hydrant"
    );
    assert!(
        log.contains("rewinding the firehose"),
        "the firehose is rewound; log:\n{log}"
    );
    assert_eq!(
        summary["dataSources"][0]["processed"], reread,
        "exactly the damaged generation and later ones are read again: {summary}"
    );
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    assert_published_exactly(dir, &expected_rows(&inputs), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_persists_commits_and_exits_then_a_restart_continues_from_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = events("a", 600, 1, 2);
    let first_size = add_input(dir, "events-1.json", &first);
    // Nothing triggers a persist on its own: only the graceful stop can make the rows durable.
    let spec = write_spec(
        dir,
        firehose(dir),
        json!({"maxRowsInMemory": 1_000_000, "intermediatePersistPeriod": "PT1H",
               "rejectionPolicy": {"type": "none"}}),
    );
    let port = free_port();
    let props = vec![format!("druid.plaintextPort={port}")];
    let mut node = Node::start(dir, &spec, false, &props, false);
    wait_processed(&node, port, 600).await;
    assert_eq!(committed_checkpoint(dir), None, "nothing persisted yet");

    let stop = Instant::now();
    node.terminate();
    let summary = node.wait_success(Duration::from_secs(20)).await;
    let took = stop.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "graceful stop took {took:?}"
    );
    let log = plain_log(&node);
    assert!(log.contains("stopping: persisting and committing"), "{log}");
    assert_eq!(summary["dataSources"][0]["processed"], 600, "{summary}");
    assert_eq!(summary["dataSources"][0]["rowsInMemory"], 0, "{summary}");
    assert!(
        summary["dataSources"][0]["persists"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert_eq!(
        committed_checkpoint(dir),
        Some(json!({"file": "events-1.json", "offset": first_size})),
        "the commit covers the whole file"
    );
    let hydrants = committed_hydrants(dir);
    assert_eq!(hydrants.iter().map(|h| h.3).sum::<u64>(), 600);
    for (sink_dir, number, _, _) in &hydrants {
        let hydrant = sink_dir.join(number.to_string());
        assert!(
            hydrant.join("00000.smoosh").is_file(),
            "{}",
            hydrant.display()
        );
    }
    assert!(used_segments(dir).await.is_empty(), "nothing handed off");
    drop(node);

    // More input arrives while the node is down; the restart reads only what is new.
    let second = events("b", 400, 2, 2);
    add_input(dir, "events-2.json", &second);
    let mut node = Node::start(dir, &spec, true, &props, false);
    let summary = node.wait_success(Duration::from_secs(60)).await;
    assert_eq!(
        summary["dataSources"][0]["processed"], 400,
        "the restart continues after the committed file: {summary}"
    );
    assert_published_exactly(dir, &expected_rows(&[&first, &second]), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_graceful_stop_exits_at_once_and_a_restart_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // File 1 (hours 2-3) exceeds maxRowsInMemory: persisted and committed while running.
    let first = events("a", 1_500, 2, 2);
    let first_size = add_input(dir, "events-1.json", &first);
    let spec = write_spec(
        dir,
        firehose(dir),
        json!({"maxRowsInMemory": 1_000, "intermediatePersistPeriod": "PT1H",
               "rejectionPolicy": {"type": "none"}}),
    );
    let port = free_port();
    let props = vec![format!("druid.plaintextPort={port}")];
    let mut node = Node::start(dir, &spec, false, &props, false);
    let committed = json!({"file": "events-1.json", "offset": first_size});
    assert!(
        eventually(Duration::from_secs(60), async || committed_checkpoint(dir)
            .as_ref()
            == Some(&committed))
        .await,
        "file 1 never committed; log:\n{}",
        plain_log(&node)
    );
    // File 2 (hours 1-3) stays in memory.
    let second = events("b", 900, 1, 3);
    add_input(dir, "events-2.json", &second);
    wait_processed(&node, port, 2_400).await;

    // A regular file where hour 1's sink directory goes makes the graceful stop's persist fail
    // and retry with back-off (seconds): the stop is still under way when the second signal
    // comes, whatever the machine's speed.
    let blocker = sink_dir(dir, 1);
    std::fs::write(&blocker, "in the way").unwrap();
    node.terminate();
    assert!(
        eventually(Duration::from_secs(10), async || plain_log(&node)
            .contains("persist failed; retrying"))
        .await,
        "the graceful stop's persist did not start; log:\n{}",
        plain_log(&node)
    );
    assert!(node.running(), "still stopping gracefully");
    let second_signal = Instant::now();
    node.terminate();
    let status = node.wait(Duration::from_secs(10)).await;
    let took = second_signal.elapsed();
    let log = plain_log(&node);
    assert!(log.contains("stopping: persisting and committing"), "{log}");
    assert!(log.contains("second signal: exiting now"), "{log}");
    assert_eq!(
        status.code(),
        Some(130),
        "non-graceful exit: {status}\n{log}"
    );
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    assert_eq!(
        committed_checkpoint(dir),
        Some(committed),
        "the cut-short stop committed nothing more"
    );
    drop(node);

    // The restart keeps file 1's hydrants and reads file 2 again, once.
    std::fs::remove_file(&blocker).unwrap();
    let mut node = Node::start(dir, &spec, true, &props, false);
    let summary = node.wait_success(Duration::from_secs(60)).await;
    assert_eq!(summary["dataSources"][0]["processed"], 900, "{summary}");
    assert_published_exactly(dir, &expected_rows(&[&first, &second]), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_node_picks_up_a_file_added_later() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = events("a", 300, 1, 1);
    add_input(dir, "events-1.json", &first);
    let spec = write_spec(
        dir,
        firehose(dir),
        json!({"maxRowsInMemory": 250, "rejectionPolicy": {"type": "none"}}),
    );
    let port = free_port();
    let props = vec![format!("druid.plaintextPort={port}")];
    let mut node = Node::start(dir, &spec, false, &props, false);
    wait_processed(&node, port, 300).await;
    let first_added: i64 = expected_rows(&[&first]).iter().map(|r| r.4).sum();
    assert_eq!(query_totals(port).await, (300, first_added));

    // A file added while the node runs: read, queryable, committed.
    let second = events("b", 200, 2, 1);
    let second_size = add_input(dir, "events-2.json", &second);
    wait_processed(&node, port, 500).await;
    let added: i64 = expected_rows(&[&first, &second]).iter().map(|r| r.4).sum();
    assert_eq!(query_totals(port).await, (500, added));
    assert!(node.running(), "a following node keeps running");

    node.terminate();
    let summary = node.wait_success(Duration::from_secs(20)).await;
    assert_eq!(summary["dataSources"][0]["processed"], 500, "{summary}");
    assert_eq!(
        committed_checkpoint(dir),
        Some(json!({"file": "events-2.json", "offset": second_size})),
        "the commit checkpoint advanced into the new file"
    );
    assert_eq!(
        committed_hydrants(dir).iter().map(|h| h.3).sum::<u64>(),
        500
    );
}
