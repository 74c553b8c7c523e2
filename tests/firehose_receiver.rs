//! The `receiver` firehose over its axum router, and the wrappers (`timed`, `clipped`,
//! `combining`) through `firehose::start`.

mod firehose_common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use firehose_common::FakeIngest;
use rtnode::config::FirehoseSpec;
use rtnode::firehose::receiver::router;
use rtnode::firehose::{self, FirehoseContext};
use serde_json::{Value, json};
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(10);

async fn post(app: &axum::Router, uri: &str, body: String) -> (StatusCode, Value) {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn spec(value: Value) -> FirehoseSpec {
    serde_json::from_value(value).unwrap()
}

fn start(spec: &FirehoseSpec, resume: Option<Value>, ctx: &FirehoseContext) -> FakeIngest {
    let (tx, rx) = firehose::channel();
    let (_handle, ack) = firehose::start(spec, resume, ctx, tx).unwrap();
    FakeIngest::new(rx, Some(ack))
}

const PUSH: &str = "/druid/worker/v1/chat/wiki/push-events";

#[tokio::test]
async fn pushed_events_arrive_as_batches_and_a_full_buffer_answers_503() {
    let ctx = FirehoseContext::new(tokio::runtime::Handle::current(), "wiki");
    let app = router(ctx.receivers.clone());
    let receiver = spec(json!({"type": "receiver", "serviceName": "wiki", "bufferSize": 5}));
    // Registered but not yet drained: fill the buffer before the firehose task reads it.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let (_h, _ack) = firehose::start(&receiver, None, &ctx, tx).unwrap();
    let events = json!([{"page": "a", "added": 1}, {"page": "b"}, {"page": "c"}]).to_string();
    let (status, body) = post(&app, PUSH, events.clone()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"eventCount": 3})));
    let mut ingest = FakeIngest::new(rx, None);
    assert_eq!(ingest.receive_until(3, WAIT).await, 3);
    assert_eq!(ingest.held[0].bytes, br#"{"page":"a","added":1}"#);
    assert_eq!(ingest.held_checkpoint, Some(json!({"count": 3})));

    // The channel (capacity 1) holds one batch; the buffer then fills up to 5 events.
    let mut accepted = 0;
    let mut refused = false;
    for _ in 0..10 {
        let (status, _) = post(&app, PUSH, events.clone()).await;
        match status {
            StatusCode::OK => accepted += 3,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = true;
                break;
            }
            other => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "a full buffer must answer 503");
    let (status, _) = post(&app, PUSH, "{\"not\":\"an array\"}".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(&app, "/druid/worker/v1/chat/other/push-events", "[]".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(ingest.receive_until(3 + accepted, WAIT).await, 3 + accepted);

    let (status, _) = post(
        &app,
        "/druid/worker/v1/chat/wiki/shutdown?shutoffTime=2000-01-01T00:00:00Z",
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    ingest.run_for(WAIT).await;
    assert_eq!(ingest.ended, Some(json!({"count": 3 + accepted})));
}

#[tokio::test]
async fn timed_ends_the_input_at_shutoff_and_clipped_sets_the_interval() {
    let ctx = FirehoseContext::new(tokio::runtime::Handle::current(), "wiki");
    let app = router(ctx.receivers.clone());
    let shutoff = rtnode::time::format_iso(chrono::Utc::now().timestamp_millis() + 1500);
    let wrapped = spec(
        json!({"type": "timed", "shutoffTime": shutoff, "delegate": {
        "type": "clipped", "interval": "2020-01-01/2020-01-02",
        "delegate": {"type": "receiver", "serviceName": "wiki"}}}),
    );
    let mut ingest = start(&wrapped, None, &ctx);
    let (status, _) = post(&app, PUSH, json!([{"t": 1}]).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ingest.receive_until(1, WAIT).await, 1);
    let day = rtnode::time::parse_iso("2020-01-01T00:00:00Z").unwrap();
    assert_eq!(
        ingest.clip,
        Some(rtnode::time::Interval::new(day, day + 86_400_000))
    );
    ingest.run_for(WAIT).await;
    assert_eq!(
        ingest.ended,
        Some(json!({"count": 1})),
        "timed ends with the last checkpoint"
    );
}

#[tokio::test]
async fn combining_reads_delegates_in_order_and_resumes_from_the_list() {
    let dir = tempfile::tempdir().unwrap();
    for (sub, lines) in [("a", "1\n2\n"), ("b", "3\n4\n")] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join("x.json"), lines).unwrap();
    }
    let local =
        |sub: &str| json!({"type": "local", "baseDir": dir.path().join(sub), "filter": "*.json"});
    let combining = spec(json!({"type": "combining", "delegates": [local("a"), local("b")]}));
    let ctx = FirehoseContext::new(tokio::runtime::Handle::current(), "wiki");
    let mut ingest = start(&combining, None, &ctx);
    ingest.run_for(WAIT).await;
    let lines: Vec<&[u8]> = ingest.held.iter().map(|r| r.bytes.as_slice()).collect();
    assert_eq!(lines, [b"1", b"2", b"3", b"4"]);
    let end = ingest.ended.clone().unwrap();
    assert_eq!(
        end,
        json!([{"file": "x.json", "offset": 4}, {"file": "x.json", "offset": 4}])
    );
    // Resume inside the second delegate: only its rest is read.
    let resume = json!([{"file": "x.json", "offset": 4}, {"file": "x.json", "offset": 2}]);
    let mut again = start(&combining, Some(resume), &ctx);
    again.run_for(WAIT).await;
    let lines: Vec<&[u8]> = again.held.iter().map(|r| r.bytes.as_slice()).collect();
    assert_eq!(lines, [b"4"]);
    assert_eq!(
        again.held_checkpoint,
        Some(json!([{"file": "x.json", "offset": 4}, {"file": "x.json", "offset": 4}]))
    );
}
