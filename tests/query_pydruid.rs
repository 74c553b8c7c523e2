//! pydruid (Druid's Python client, from PyPI) queries a live rtnode server on a loopback port:
//! timeseries, topN, groupBy and scan, values checked by the script.

mod query_support;

use std::process::Command;
use std::sync::Arc;

use query_support::{ingest_segments, shared, to_segments};
use rtnode::query::StaticTarget;
use rtnode::server::{ServerState, router, serve};

fn ensure_pydruid() {
    let importable = |python: &str| {
        Command::new(python)
            .args(["-c", "import pydruid.client"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable("python3") {
        return;
    }
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "pydruid"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        installed && importable("python3"),
        "pydruid could not be installed with pip"
    );
}

#[test]
fn pydruid_reads_timeseries_topn_groupby_and_scan() {
    ensure_pydruid();
    let schema = serde_json::json!({
        "dataSource": "wiki",
        "parser": {"type": "string", "parseSpec": {
            "format": "json",
            "timestampSpec": {"column": "timestamp", "format": "iso"},
            "dimensionsSpec": {"dimensions": ["page", "language", "user", "unpatrolled", "newPage",
                "robot", "anonymous", "namespace", "continent", "country", "region", "city"]}
        }},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "doubleSum", "name": "added", "fieldName": "added"}
        ],
        "granularitySpec": {"type": "uniform", "segmentGranularity": "DAY", "queryGranularity": "second"}
    });
    let hydrants = ingest_segments(
        &shared("druid/it/union_query"),
        "wikipedia_index_data.json",
        schema,
        None,
    );
    let target = Arc::new(StaticTarget::new(to_segments("wiki", hydrants)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(Arc::new(ServerState::for_target(target)));
    let server = runtime.spawn(serve(listener, app, async {
        let _ = stop_rx.await;
    }));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pydruid/check_pydruid.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{address}"))
        .arg("wiki")
        .output()
        .unwrap();
    let _ = stop_tx.send(());
    runtime.block_on(server).unwrap().unwrap();
    assert!(
        output.status.success(),
        "pydruid script failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("pydruid checks passed"));
}
