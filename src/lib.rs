//! rtnode: a standalone, pull-model real-time ingestion node that speaks Apache Druid's formats
//! on every edge — the realtime spec, v9 segments, deep-storage layout, the `druid_segments`
//! table, ZooKeeper announcements, handoff, native queries and metric names.
//!
//! # Data flow
//!
//! ```text
//!  broker ─▶ firehose ─mpsc(4 batches ≤ 128 KiB, checkpoint in each)─▶ fire chief (own thread)
//!                                                                       │ parse ─▶ transforms ─▶ filter ─▶ rejection policy
//!                                                                       ▼
//!                                           Sink per segment interval ─▶ in-memory index (rollup)
//!                                                                       │ persist trigger: maxRowsInMemory |
//!                                                                       │ maxBytesInMemory | intermediatePersistPeriod
//!                                                                       ▼ (≤ maxPendingPersists+1 in flight)
//!                                 persist worker (own thread): hydrant = v9 segment dir (no bitmap
//!                                 indexes: queries build them on first use), fsynced
//!                                                                       ▼
//!                                 commit record: positions + hydrant list, written atomically
//!                                                                       ▼
//!                                 acknowledge the source: Kafka offset commit, RabbitMQ ack(multiple)
//!                                                                       │ interval end + windowPeriod passed
//!                                                                       ▼
//!            handoff task: merge hydrants (k-way, runs copied) ─▶ index.zip + descriptor.json ─▶ deep storage
//!            ─▶ druid_segments row + druid_dataSource checkpoint (one transaction) ─▶ await handoff
//!            ─▶ unannounce, drop the Sink and its files
//!  queries: HTTP /druid/v2 ─▶ timeline of Sinks ─▶ in-memory snapshot + mmapped hydrants ─▶ merged result
//! ```
//!
//! # Invariants
//!
//! 1. **Nothing is acknowledged before it is durable.** The source is told only after the
//!    hydrant files and the commit record are fsynced ([`plumber::commit`]).
//! 2. **The commit record is the truth on restart.** Hydrants it does not name are quarantined;
//!    the firehose resumes at the positions it holds ([`plumber::recover`]). With Kafka that makes
//!    ingestion exactly-once; RabbitMQ has no positions, so it is at-least-once.
//! 3. **No unbounded buffer.** Every channel has a stated capacity; a full one pauses the
//!    producer (backpressure), it never grows memory.
//! 4. **Bad input never stops the node and is never silent** (unless `reportParseExceptions`):
//!    it is counted by reason, sampled into a bounded buffer and logged at a limited rate; with
//!    `deadLetterDirectory` every event not indexed is also written to a file that is fsynced
//!    before the commit record acknowledging it ([`plumber::dead_letter`]).
//! 5. **Corruption is detected and named.** Segments carry CRC32 checksums in a side file Druid
//!    ignores; a corrupt piece is quarantined with a log line naming it, never loaded.
//! 6. **Nothing blocks the async runtime.** Parsing and indexing run on the chief's own thread,
//!    persists on the persist worker's, merges and query work on blocking threads.
//!
//! # Modules, in pipeline order
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the realtime spec (Druid JSON, pre-0.7 specs converted, defaults, validation with JSON paths), runtime properties |
//! | [`firehose`] | where events come from: local files, Kafka, RabbitMQ, HTTP receiver, wrappers |
//! | [`parse`] | JSON / CSV / TSV / regex events → rows: timestamps, dimensions, metric inputs, flatten |
//! | [`expr`] | Druid's expression language, for the `transformSpec`'s transforms (applied by [`parse::transform`]) |
//! | [`index`] | the in-memory rollup index, granularities, persisting it as a segment |
//! | [`hll`] | Druid's HyperLogLog collector (`hyperUnique`) |
//! | [`segment`] | the v9 segment format: one module per structure, writer, mmap reader, merge, packaging |
//! | [`plumber`] | sinks, rejection, persist and commit record, recovery, merge-push-publish-handoff (or `flushing`: drop unpushed), dead letters |
//! | [`storage`] | deep storage and the metadata store (SQLite, PostgreSQL, MySQL) |
//! | [`announce`] | ZooKeeper announcements and handoff notifiers |
//! | [`query`] | Druid native queries over the timeline: filters, aggregators, engines per query type |
//! | [`server`] | HTTP: `/druid/v2`, status and health, datasources, `/metrics`, parse errors, receiver pushes |
//! | [`metrics`] | Prometheus metrics with Druid's names |
//! | [`node`] | wiring: services, fire chiefs, signals |
//! | [`time`] | instants, periods and intervals as Druid writes them |
//! | [`failpoint`] | crash points for the crash tests |

pub mod announce;
pub mod config;
pub mod expr;
pub mod failpoint;
pub mod firehose;
pub mod hll;
pub mod index;
pub mod metrics;
pub mod node;
pub mod parse;
pub mod plumber;
pub mod query;
pub mod segment;
pub mod server;
pub mod storage;
pub mod time;
