//! Wiring: the node runtime, shared services (metadata store, deep storage, announcer, handoff
//! notifier), one fire chief per fire department, signals.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::announce::{Announcer, HandoffConfig, HandoffKind, HandoffNotifier, NodeAnnouncer};
use crate::config::properties::RuntimeProperties;
use crate::config::{FireDepartment, PlumberSpec};
use crate::firehose::dispatch::{self, FirehoseContext};
use crate::firehose::kafka::KafkaMetrics;
use crate::firehose::receiver::ReceiverRegistry;
use crate::firehose::{self, FirehoseError};
use crate::index::persist::PersistMetadata;
use crate::metrics::NodeMetrics;
use crate::parse::InputRowParser;
use crate::plumber::chief::{ChiefParts, ChiefSummary, FireChief, PersistTriggers};
use crate::plumber::clock::{Clock, SystemClock};
use crate::plumber::dead_letter::DeadLetters;
use crate::plumber::handoff::HandoffContext;
use crate::plumber::ingest::{IngestError, Ingestor};
use crate::plumber::parse_errors::ParseErrorLog;
use crate::plumber::persist::PersistWorker;
use crate::plumber::recover;
use crate::plumber::timeline::NodeTimeline;
use crate::plumber::{Plumber, PlumberSettings};
use crate::query::QueryConfig;
use crate::segment::writer::WriteOptions;
use crate::server::ServerState;
use crate::storage::deep::LocalDeepStorage;
use crate::storage::metadata::{MetadataStore, MetadataStoreConfig};

/// Options of `rtnode run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop when every finite input is exhausted and handed off, and print the summary.
    pub exit_when_done: bool,
    /// The clock of the plumbers (the system clock when `None`; tests pass a manual one).
    pub clock: Option<Arc<dyn Clock>>,
    /// A graceful stop besides SIGINT/SIGTERM: the node stops when it turns true.
    pub stop: Option<watch::Receiver<bool>>,
}

impl RunOptions {
    /// Options of `rtnode run`.
    pub fn new(exit_when_done: bool) -> RunOptions {
        RunOptions {
            exit_when_done,
            clock: None,
            stop: None,
        }
    }
}

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A service or a fire department could not start.
    #[error("{0}")]
    Setup(String),
    /// A firehose could not start.
    #[error("datasource `{data_source}`: {error}")]
    Firehose {
        /// Datasource.
        data_source: String,
        /// The error (in the message, so not also a `source`: chains would print it twice).
        error: FirehoseError,
    },
    /// Ingestion stopped.
    #[error("datasource `{data_source}`: {error}")]
    Ingest {
        /// Datasource.
        data_source: String,
        /// The error (in the message, as above).
        error: IngestError,
    },
}

/// The result of one fire department.
#[derive(Debug)]
pub struct DepartmentSummary {
    /// Datasource.
    pub data_source: String,
    /// What the chief did.
    pub summary: ChiefSummary,
}

/// Services every fire department shares.
struct Services {
    metadata: Option<Arc<MetadataStore>>,
    deep_storage: LocalDeepStorage,
    announcer: Arc<dyn Announcer>,
    handoff: Arc<dyn HandoffNotifier>,
    metrics: NodeMetrics,
    clock: Arc<dyn Clock>,
    node_start_ms: i64,
    kafka_metrics: KafkaMetrics,
    receivers: ReceiverRegistry,
    timeline: Arc<NodeTimeline>,
}

/// Runs every fire department until shutdown or (with `exit_when_done`) until all input is
/// handed off; returns their summaries.
pub fn run(
    departments: Vec<FireDepartment>,
    properties: &RuntimeProperties,
    options: &RunOptions,
    metrics: &NodeMetrics,
) -> Result<Vec<DepartmentSummary>, NodeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rtnode")
        .enable_all()
        .build()
        .map_err(|e| NodeError::Setup(e.to_string()))?;
    runtime.block_on(run_async(departments, properties, options, metrics))
}

/// Runs the node on the current runtime (what [`run`] does; tests call it in process).
pub async fn run_async(
    departments: Vec<FireDepartment>,
    properties: &RuntimeProperties,
    options: &RunOptions,
    metrics: &NodeMetrics,
) -> Result<Vec<DepartmentSummary>, NodeError> {
    run_node(departments, properties, options, metrics, None).await
}

/// [`run_async`], serving HTTP on `listener` instead of binding `druid.plaintextPort`: an
/// in-process caller binds port 0 itself and so knows where the node listens.
pub async fn run_async_on(
    listener: tokio::net::TcpListener,
    departments: Vec<FireDepartment>,
    properties: &RuntimeProperties,
    options: &RunOptions,
    metrics: &NodeMetrics,
) -> Result<Vec<DepartmentSummary>, NodeError> {
    run_node(departments, properties, options, metrics, Some(listener)).await
}

async fn run_node(
    departments: Vec<FireDepartment>,
    properties: &RuntimeProperties,
    options: &RunOptions,
    metrics: &NodeMetrics,
    listener: Option<tokio::net::TcpListener>,
) -> Result<Vec<DepartmentSummary>, NodeError> {
    let node_announcer =
        NodeAnnouncer::from_properties(properties).map_err(|e| NodeError::Setup(e.to_string()))?;
    let result = match services(properties, &node_announcer, metrics, options).await {
        Ok(services) => {
            let result =
                run_departments(departments, &services, options, properties, listener).await;
            if let Some(store) = &services.metadata {
                store.close().await;
            }
            result
        }
        Err(e) => Err(e),
    };
    // On every way out, failures included: brokers must stop routing queries here at once,
    // not one session timeout later.
    node_announcer.close().await;
    result
}

async fn services(
    properties: &RuntimeProperties,
    node_announcer: &NodeAnnouncer,
    metrics: &NodeMetrics,
    options: &RunOptions,
) -> Result<Arc<Services>, NodeError> {
    let clock: Arc<dyn Clock> = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let deep_storage = LocalDeepStorage::from_properties(properties)
        .map_err(|e| NodeError::Setup(e.to_string()))?;
    let handoff =
        HandoffConfig::from_properties(properties).map_err(|e| NodeError::Setup(e.to_string()))?;
    if !matches!(handoff.kind, HandoffKind::None) {
        // Druid #3466: historicals on other hosts never load a node-local path, and the node
        // waits for a handoff that cannot happen.
        tracing::warn!(storage_directory = %deep_storage.root().display(), "local deep storage with a cluster handoff: every historical must read this directory at the same path (a shared mount), or handoff never completes");
    }
    Ok(Arc::new(Services {
        metadata: connect_metadata(properties).await?,
        deep_storage,
        announcer: node_announcer.announcer(),
        handoff: handoff
            .start()
            .map_err(|e| NodeError::Setup(e.to_string()))?,
        metrics: metrics.clone(),
        node_start_ms: clock.now_ms(),
        clock,
        kafka_metrics: KafkaMetrics::register(metrics),
        receivers: ReceiverRegistry::new(),
        timeline: Arc::new(NodeTimeline::default()),
    }))
}

/// Starts a fire chief per department and waits for all of them.
async fn run_departments(
    departments: Vec<FireDepartment>,
    services: &Arc<Services>,
    options: &RunOptions,
    properties: &RuntimeProperties,
    listener: Option<tokio::net::TcpListener>,
) -> Result<Vec<DepartmentSummary>, NodeError> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_tx = Arc::new(shutdown_tx);
    tokio::spawn(watch_signals(shutdown_tx.clone()));
    if let Some(mut stop) = options.stop.clone() {
        let shutdown_tx = shutdown_tx.clone();
        tokio::spawn(async move {
            if stop.wait_for(|stop| *stop).await.is_ok() {
                let _ = shutdown_tx.send(true);
            }
        });
    }
    let mut chiefs = Vec::new();
    for department in departments {
        chiefs.push(start_department(
            department,
            services,
            options,
            shutdown_rx.clone(),
        )?);
    }
    let server = start_server(properties, services, &chiefs, shutdown_rx.clone(), listener).await?;
    let mut summaries = Vec::new();
    for StartedChief {
        data_source,
        handle,
        firehose,
        ..
    } in chiefs
    {
        let result = tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(|e| NodeError::Setup(e.to_string()))?;
        join_firehose(&data_source, firehose).await;
        let summary = result.map_err(|_| {
            NodeError::Setup(format!(
                "datasource `{data_source}`: the fire chief panicked"
            ))
        })?;
        summaries.push(DepartmentSummary {
            summary: summary.map_err(|error| NodeError::Ingest {
                data_source: data_source.clone(),
                error,
            })?,
            data_source,
        });
    }
    server.abort();
    Ok(summaries)
}

/// How long a stopped chief's firehose may take to finish (its last acknowledgements; the
/// RabbitMQ firehose bounds its own stop by `rabbitmq::STOP_TIMEOUT`, 10 s).
const FIREHOSE_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Waits (bounded) for an async firehose whose chief has stopped: dropping the chief's receiver
/// stops it, and it may still be sending and confirming the acknowledgement of the last commit
/// (RabbitMQ, also inside a wrapper). Thread firehoses are left to stop on their own
/// ([`dispatch::FirehoseHandle::join_task`]).
async fn join_firehose(data_source: &str, firehose: dispatch::FirehoseHandle) {
    if tokio::time::timeout(FIREHOSE_STOP_TIMEOUT, firehose.join_task())
        .await
        .is_err()
    {
        tracing::warn!(
            data_source,
            "the firehose did not stop in time; exiting without it"
        );
    }
}

/// How long a fire chief may go without a loop turn before `/status/health` says false.
const WEDGED_AFTER_MS: i64 = 60_000;

/// Serves queries, status, metrics and the receiver firehose on `listener`, else on
/// `druid.plaintextPort` (or `druid.port`, default 8084; 0 picks a free port) until shutdown.
async fn start_server(
    properties: &RuntimeProperties,
    services: &Arc<Services>,
    chiefs: &[StartedChief],
    mut shutdown: watch::Receiver<bool>,
    listener: Option<tokio::net::TcpListener>,
) -> Result<tokio::task::JoinHandle<()>, NodeError> {
    let setup = |e: &dyn std::fmt::Display| NodeError::Setup(format!("HTTP server: {e}"));
    let listener = match listener {
        Some(listener) => listener,
        None => {
            let port = match properties
                .get_u64("druid.plaintextPort")
                .map_err(|e| setup(&e))?
            {
                Some(port) => port,
                None => properties
                    .get_u64_or("druid.port", 8084)
                    .map_err(|e| setup(&e))?,
            };
            tokio::net::TcpListener::bind(("0.0.0.0", port as u16))
                .await
                .map_err(|e| setup(&format!("cannot listen on port {port}: {e}")))?
        }
    };
    let address = listener.local_addr().map_err(|e| setup(&e))?;
    tracing::info!(%address, "serving queries, status and metrics over HTTP");
    let heartbeats: Vec<_> = chiefs.iter().map(|c| c.heartbeat.clone()).collect();
    let clock = services.clock.clone();
    let health = Arc::new(move || {
        let now = clock.now_ms();
        heartbeats
            .iter()
            .all(|h| now - h.load(std::sync::atomic::Ordering::Relaxed) < WEDGED_AFTER_MS)
    });
    let config = QueryConfig::from_properties(properties).map_err(|e| setup(&e))?;
    let parse_errors = chiefs.iter().map(|c| c.parse_errors.clone()).collect();
    let state = Arc::new(ServerState::new(
        services.timeline.clone(),
        services.metrics.clone(),
        parse_errors,
        health,
        config,
    ));
    let app = crate::server::router(state).merge(crate::firehose::receiver::router(
        services.receivers.clone(),
    ));
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    Ok(tokio::spawn(async move {
        if let Err(e) = crate::server::serve(listener, app, stop).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    }))
}

async fn connect_metadata(
    properties: &RuntimeProperties,
) -> Result<Option<Arc<MetadataStore>>, NodeError> {
    let publish = properties
        .get_str_or("druid.publish.type", "metadata")
        .map_err(|e| NodeError::Setup(e.to_string()))?;
    if publish == "noop" {
        tracing::info!("druid.publish.type=noop: segments are pushed but not published");
        return Ok(None);
    }
    let config = MetadataStoreConfig::from_properties(properties)
        .map_err(|e| NodeError::Setup(e.to_string()))?;
    let mut delay = Duration::from_millis(500);
    for attempt in 1.. {
        match MetadataStore::connect(&config).await {
            Ok(store) => {
                store
                    .create_tables()
                    .await
                    .map_err(|e| NodeError::Setup(e.to_string()))?;
                tracing::info!(store = %store.display_uri(), "metadata store ready");
                return Ok(Some(Arc::new(store)));
            }
            Err(e) if e.is_retryable() && attempt < 10 => {
                tracing::warn!(error = %e, attempt, "metadata store not reachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(NodeError::Setup(e.to_string())),
        }
    }
    unreachable!("the loop returns")
}

/// First SIGINT/SIGTERM: graceful stop (persist, commit, acknowledge). Second: exit at once.
async fn watch_signals(shutdown: Arc<watch::Sender<bool>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("stopping: persisting and committing (signal again to exit at once)");
    let _ = shutdown.send(true);
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::warn!("second signal: exiting now (state on disk stays consistent)");
    std::process::exit(130);
}

type ChiefHandle = std::thread::JoinHandle<Result<ChiefSummary, IngestError>>;

fn start_department(
    department: FireDepartment,
    services: &Arc<Services>,
    options: &RunOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<StartedChief, NodeError> {
    let data_source = department.data_schema.data_source.clone();
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        NodeError::Setup(format!("datasource `{data_source}`: {what}: {e}"))
    };
    let parser = InputRowParser::new(&department).map_err(|e| setup("parser", &e))?;
    let settings = PlumberSettings::from_spec(&department, parser.schema(), services.node_start_ms);
    // The spec's dimensions (none when schemaless): the merge's dimension order hint.
    let dimension_hint = parser.schema().dimension_names();
    let without_bitmap_index: Vec<String> = department
        .parser()
        .parse_spec()
        .dimensions_spec
        .dimensions
        .iter()
        .filter(|d| !d.create_bitmap_index)
        .map(|d| d.name.clone())
        .collect();
    let tuning = &department.tuning_config;
    let shard_spec = tuning.shard_spec.clone();
    let base = PathBuf::from(&tuning.base_persist_directory);
    let dir = persist_dir(&base, &data_source, shard_spec.partition_num());
    let recovered = recover::recover(
        &dir,
        &base.join("quarantine"),
        &data_source,
        &shard_spec,
        &settings.index,
    )
    .map_err(|e| setup("recovery", &e))?;
    tracing::info!(data_source, sinks = recovered.sinks.len(), resume = ?recovered.resume, "recovered persisted state");
    let metrics = services.metrics.for_data_source(&data_source);
    let plumber = Plumber::new(settings.clone(), &department, services.clock.clone()).with_sinks(
        recovered.sinks,
        services.announcer.clone(),
        recovered.record.max_event_time_ms,
    );
    let parse_errors = Arc::new(ParseErrorLog::new(
        tuning.max_saved_parse_exceptions as usize,
    ));
    let view = services
        .timeline
        .register(&data_source, settings.metric_names.clone());
    let ingestor = Ingestor::new(
        parser,
        plumber,
        metrics.clone(),
        parse_errors.clone(),
        tuning.report_parse_exceptions,
        tuning.max_parse_exceptions,
    )
    .with_row_filter(department.data_schema.transform_spec.filter.as_ref())
    .with_dead_letters(match &tuning.dead_letter_directory {
        Some(dir) => Some(
            DeadLetters::open(Path::new(dir), &data_source, shard_spec.partition_num())
                .map_err(|e| setup("dead-letter file", &e))?,
        ),
        None => None,
    });
    let (firehose_tx, firehose_rx) = firehose::channel();
    let context = FirehoseContext {
        runtime: tokio::runtime::Handle::current(),
        follow: !options.exit_when_done,
        data_source: data_source.clone(),
        partition_num: shard_spec.partition_num(),
        kafka_metrics: Some(services.kafka_metrics.clone()),
        receivers: services.receivers.clone(),
        rabbitmq_prefetch: crate::firehose::rabbitmq::DEFAULT_PREFETCH_COUNT,
    };
    let (firehose_handle, acknowledger) = dispatch::start(
        &department.io_config.firehose,
        recovered.resume.clone(),
        &context,
        firehose_tx,
    )
    .map_err(|error| NodeError::Firehose {
        data_source: data_source.clone(),
        error,
    })?;
    let (hydrant_options, merged_options) =
        write_options(tuning).map_err(|e| setup("indexSpec", &e))?;
    let permits = Arc::new(Semaphore::new(tuning.max_pending_persists as usize + 1));
    let (persist_tx, persist_rx) = std::sync::mpsc::channel();
    let (events_tx, events_rx) =
        tokio::sync::mpsc::channel(tuning.max_pending_persists as usize + 2);
    let committed = recovered.record.checkpoint.clone();
    let mut persist_worker = PersistWorker::new(
        dir.clone(),
        recovered.record,
        PersistMetadata::from_spec(&department),
        acknowledger,
        metrics.clone(),
        events_tx,
    )
    .with_write_options(hydrant_options);
    if flush_duration(&department.io_config.plumber).is_none() {
        // The `realtime` plumber pushes what it closes (`flushing` drops it).
        persist_worker =
            persist_worker.with_segment_format(merged_options, without_bitmap_index.clone());
    }
    persist_worker
        .spawn(persist_rx)
        .map_err(|e| setup("persist thread", &e))?;
    let handoff = Arc::new(HandoffContext {
        data_source: data_source.clone(),
        partition: shard_spec.partition_num(),
        dir,
        combiners: settings.combiners(),
        metric_names: settings.metric_names.clone(),
        dimension_hint,
        without_bitmap_index,
        rollup: department.data_schema.granularity_spec.rollup,
        write_options: merged_options,
        deep_storage: services.deep_storage.clone(),
        metadata: services.metadata.clone(),
        announcer: services.announcer.clone(),
        handoff: services.handoff.clone(),
        handoff_timeout: (tuning.handoff_condition_timeout > 0)
            .then(|| Duration::from_millis(tuning.handoff_condition_timeout)),
        handoff_report_interval: HANDOFF_REPORT_INTERVAL,
        persist: persist_tx.clone(),
        publish_lock: tokio::sync::Mutex::new(()),
        flush_duration: flush_duration(&department.io_config.plumber),
        finish_job: tokio::sync::watch::Sender::new(false),
        metrics: metrics.clone(),
    });
    let triggers = PersistTriggers {
        max_rows: tuning.max_rows_in_memory as usize,
        max_bytes: resolve_max_bytes(tuning.max_bytes_in_memory),
        period_ms: tuning
            .intermediate_persist_period
            .fixed_millis()
            .unwrap_or(600_000),
    };
    let chief = FireChief::new(ChiefParts {
        ingestor,
        triggers,
        exit_when_done: options.exit_when_done,
        persist_tx,
        persist_events: events_rx,
        permits,
        handoff,
        runtime: tokio::runtime::Handle::current(),
        committed_checkpoint: committed,
        view: Some(view),
    });
    let heartbeat = chief.heartbeat();
    let handle = std::thread::Builder::new()
        .name(format!("chief-{data_source}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds");
            runtime.block_on(chief.run(firehose_rx, shutdown))
        })
        .map_err(|e| setup("chief thread", &e))?;
    Ok(StartedChief {
        data_source,
        handle,
        firehose: firehose_handle,
        parse_errors,
        heartbeat,
    })
}

/// A running fire chief and what the HTTP side reads of it.
struct StartedChief {
    data_source: String,
    handle: ChiefHandle,
    /// Joined after the chief: a stopping firehose finishes its acknowledgements.
    firehose: dispatch::FirehoseHandle,
    parse_errors: Arc<ParseErrorLog>,
    heartbeat: Arc<std::sync::atomic::AtomicI64>,
}

/// `{base}/{dataSource}` for partition 0, `{base}/{dataSource}_partition{n}` otherwise.
pub fn persist_dir(base: &Path, data_source: &str, partition: u32) -> PathBuf {
    if partition == 0 {
        base.join(data_source)
    } else {
        base.join(format!("{data_source}_partition{partition}"))
    }
}

/// How often a wait for handoff is reported (Druid's plumber logged each poll, every minute).
const HANDOFF_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// The `flushing` plumber's `flushDuration` (validated as a fixed length); `None` for `realtime`.
fn flush_duration(plumber: &PlumberSpec) -> Option<Duration> {
    match plumber {
        PlumberSpec::Realtime => None,
        PlumberSpec::Flushing { flush_duration } => Some(Duration::from_millis(
            flush_duration.fixed_millis().unwrap_or(3_600_000).max(0) as u64,
        )),
    }
}

/// `maxBytesInMemory`: 0 means one sixth of physical memory (Druid: of the heap), -1 no limit.
fn resolve_max_bytes(configured: i64) -> usize {
    match configured {
        -1 => usize::MAX,
        0 => physical_memory_bytes() / 6,
        n => n as usize,
    }
}

fn physical_memory_bytes() -> usize {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(1 << 30)
}

/// The final JSON line of `rtnode run --exit-when-done`.
pub fn summary_json(summaries: &[DepartmentSummary]) -> Value {
    let data_sources: Vec<Value> = summaries
        .iter()
        .map(|s| {
            let c = &s.summary.counts;
            let segments: Vec<Value> = s
                .summary
                .segments
                .iter()
                .map(|p| {
                    let path = p.segment.load_spec.get("path").cloned().unwrap_or(Value::Null);
                    json!({"identifier": p.segment.identifier(), "rows": p.rows, "size": p.segment.size_bytes, "path": path})
                })
                .collect();
            json!({
                "dataSource": s.data_source,
                "processed": c.processed,
                "thrownAway": c.thrown_away(),
                "unparseable": c.unparseable,
                "rowsInMemory": s.summary.rows_in_memory,
                "rowsOutput": s.summary.rows_output,
                "persists": s.summary.persists,
                "segments": segments,
            })
        })
        .collect();
    json!({ "dataSources": data_sources })
}

/// The column formats of hydrants (`indexSpecForIntermediatePersists`, never with bitmap
/// indexes: see [`WriteOptions::HYDRANT_DEFAULT`]) and of the merged segment (`indexSpec`) of a
/// validated tuning config.
fn write_options(
    tuning: &crate::config::tuning::TuningConfig,
) -> Result<(WriteOptions, WriteOptions), String> {
    let hydrants = WriteOptions {
        bitmap_index: false,
        ..tuning
            .index_spec_for_intermediate_persists
            .write_options()?
    };
    Ok((hydrants, tuning.index_spec.write_options()?))
}
