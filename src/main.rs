//! The `rtnode` command line: `run`, `validate`, `dump-segment`, `reset-offsets`. Errors become
//! exit codes: 0 on success, 1 on a refused spec or a failed run. Logs go to stderr; only
//! results go to stdout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use rtnode::config::properties::RuntimeProperties;
use rtnode::config::{self, FireDepartment, FirehoseSpec, SpecOverrides};
use rtnode::firehose::kafka::{self, ResetTo};
use rtnode::metrics::NodeMetrics;
use rtnode::node::{self, RunOptions};
use rtnode::plumber::commit::CommitRecord;

/// The spec `rtnode run` uses when `--spec` is not given.
const DEFAULT_SPEC: &str = include_str!("../specs/wikipedia-local.json");

#[derive(Debug, Parser)]
#[command(
    name = "rtnode",
    version,
    about = "A standalone pull-model real-time ingestion node for Apache Druid"
)]
struct Cli {
    /// Java-style runtime properties file (Druid's property names); repeatable.
    #[arg(long = "properties", global = true, value_name = "FILE")]
    properties: Vec<PathBuf>,
    /// A runtime property override, `key=value`; repeatable.
    #[arg(short = 'D', global = true, value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// This machine's partition: sets `tuningConfig.shardSpec.partitionNum` of every fire
    /// department (a `none` shardSpec becomes `linear`), so one spec serves every machine.
    #[arg(long, global = true, env = "RTNODE_PARTITION_NUM", value_name = "N")]
    partition_num: Option<u32>,
    /// Log lines on stderr: `text`, or `json` (one object per line: timestamp, level, target,
    /// message and fields, with the current span's fields such as `dataSource`). `RUST_LOG`
    /// filters either (default `info`).
    #[arg(
        long,
        global = true,
        env = "RTNODE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    log_format: LogFormat,
    /// What to do (default: `run`, as Druid's realtime node just ran).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node: ingest every fire department of the spec.
    Run {
        /// Realtime spec file (default: Druid's `druid.realtime.specFile` property, else the
        /// embedded `specs/wikipedia-local.json`).
        #[arg(long, env = "RTNODE_SPEC")]
        spec: Option<PathBuf>,
        /// Exit 0 once every finite input is exhausted and print a JSON summary as the last line.
        #[arg(long)]
        exit_when_done: bool,
    },
    /// Print the runtime properties as rtnode reads them (`--properties` files, then `-D`),
    /// interpolated, as one JSON object; passwords, keys and tokens are left out, as Druid's
    /// `/status/properties` leaves them out (`druid.server.hiddenProperties`).
    PrintConfig,
    /// Validate a spec and print it resolved, every default filled in.
    Validate {
        /// Realtime spec file (default: the `druid.realtime.specFile` property).
        #[arg(long)]
        spec: Option<PathBuf>,
    },
    /// Print a segment (directory or index.zip): one JSON object per row, or its metadata.
    DumpSegment {
        /// Segment directory or `index.zip`.
        path: PathBuf,
        /// Print one JSON object with interval, row count and per-column type, cardinality, size.
        #[arg(long)]
        metadata: bool,
    },
    /// Rewrite the Kafka positions in the commit record of every Kafka fire department of the
    /// spec (stop the node first). By default only positions outside the partition's retained
    /// range move; the others keep exactly-once. Prints one JSON line per fire department.
    ResetOffsets {
        /// Realtime spec file, the one the node runs (default: the `druid.realtime.specFile`
        /// property).
        #[arg(long)]
        spec: Option<PathBuf>,
        /// `earliest`: the oldest retained message; `latest`: only messages produced from now.
        #[arg(long, value_enum)]
        to: ResetTarget,
        /// Move every partition the node reads, in range or not (skips or re-reads events:
        /// a deliberate break of exactly-once).
        #[arg(long)]
        all: bool,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines.
    Json,
}

/// Where `reset-offsets` moves positions.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ResetTarget {
    /// Each partition's low watermark.
    Earliest,
    /// Each partition's high watermark.
    Latest,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let properties = RuntimeProperties::load(&cli.properties, &cli.overrides)
        .context("cannot load runtime properties")?;
    let overrides = SpecOverrides {
        partition_num: cli.partition_num,
    };
    let command = cli.command.unwrap_or_else(|| Command::Run {
        spec: std::env::var_os("RTNODE_SPEC").map(PathBuf::from),
        exit_when_done: false,
    });
    match command {
        Command::Validate { spec } => {
            let spec = required_spec_file(spec, &properties)?;
            let departments = config::load_spec_file_with(&spec, &overrides)?;
            let resolved: Vec<_> = departments
                .iter()
                .map(FireDepartment::to_resolved_json)
                .collect();
            println!("{}", serde_json::to_string_pretty(&resolved)?);
            Ok(())
        }
        Command::PrintConfig => {
            println!("{}", serde_json::to_string_pretty(&properties.visible()?)?);
            Ok(())
        }
        Command::DumpSegment { path, metadata } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if metadata {
                rtnode::segment::dump::dump_metadata(&path, &mut out)?;
            } else {
                rtnode::segment::dump::dump_rows(&path, &mut out)?;
            }
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::ResetOffsets { spec, to, all } => {
            let to = match to {
                ResetTarget::Earliest => ResetTo::Earliest,
                ResetTarget::Latest => ResetTo::Latest,
            };
            let spec = required_spec_file(spec, &properties)?;
            reset_offsets(&spec, &overrides, to, all)
        }
        Command::Run {
            spec,
            exit_when_done,
        } => {
            let departments = match &spec_file(spec, &properties)? {
                Some(path) => config::load_spec_file_with(path, &overrides)?,
                None => config::load_spec_str_with(DEFAULT_SPEC, &overrides)
                    .context("the embedded default spec")?,
            };
            let metrics = NodeMetrics::new();
            let summaries = node::run(
                departments,
                &properties,
                &RunOptions::new(exit_when_done),
                &metrics,
            )?;
            println!("{}", node::summary_json(&summaries));
            Ok(())
        }
    }
}

/// Druid's realtime node took its spec from the `druid.realtime.specFile` property.
const SPEC_FILE_PROPERTY: &str = "druid.realtime.specFile";

/// The spec file: `--spec`, else the `druid.realtime.specFile` runtime property.
fn spec_file(
    spec: Option<PathBuf>,
    properties: &RuntimeProperties,
) -> anyhow::Result<Option<PathBuf>> {
    match spec {
        Some(path) => Ok(Some(path)),
        None => Ok(properties
            .get_str(SPEC_FILE_PROPERTY)?
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from)),
    }
}

/// [`spec_file`] for the commands that have no default spec.
fn required_spec_file(
    spec: Option<PathBuf>,
    properties: &RuntimeProperties,
) -> anyhow::Result<PathBuf> {
    spec_file(spec, properties)?.with_context(|| {
        format!("no spec: give `--spec FILE` or set the `{SPEC_FILE_PROPERTY}` property")
    })
}

/// `rtnode reset-offsets`: for each fire department reading Kafka (directly or through a `timed`
/// or `clipped` wrapper, which pass the checkpoint through), computes the new positions from the
/// partitions' watermarks and writes them into its commit record, atomically. Without a commit
/// record (the node never persisted) one is created holding only the positions.
fn reset_offsets(
    spec: &Path,
    overrides: &SpecOverrides,
    to: ResetTo,
    all: bool,
) -> anyhow::Result<()> {
    let departments = config::load_spec_file_with(spec, overrides)?;
    let mut kafka_departments = 0;
    for department in &departments {
        let data_source = &department.data_schema.data_source;
        let Some(firehose) = kafka_firehose(&department.io_config.firehose) else {
            tracing::info!(
                data_source,
                "no kafka firehose: its commit record is left as it is"
            );
            continue;
        };
        kafka_departments += 1;
        let tuning = &department.tuning_config;
        let partition_num = tuning.shard_spec.partition_num();
        let dir = node::persist_dir(
            Path::new(&tuning.base_persist_directory),
            data_source,
            partition_num,
        );
        let record = CommitRecord::read(&dir)?;
        let before = record.as_ref().and_then(|r| r.checkpoint.clone());
        let current = if all { None } else { before.as_ref() };
        let after = kafka::reset_offsets(firehose, partition_num, current, to)
            .with_context(|| format!("datasource `{data_source}`: cannot reset offsets"))?;
        let changed = before.as_ref() != Some(&after);
        if changed {
            let mut record =
                record.unwrap_or_else(|| CommitRecord::new(data_source, partition_num));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
            record.checkpoint = Some(after.clone());
            record.write(&dir)?;
            tracing::info!(data_source, dir = %dir.display(), "commit record rewritten");
        }
        let line = serde_json::json!({
            "dataSource": data_source,
            "partitionNum": partition_num,
            "before": before,
            "after": after,
            "changed": changed,
        });
        println!("{line}");
    }
    if kafka_departments == 0 {
        anyhow::bail!(
            "`{}` has no fire department reading Kafka: nothing to reset",
            spec.display()
        );
    }
    Ok(())
}

/// The Kafka firehose of a spec, looking through wrappers that keep its checkpoint as it is.
fn kafka_firehose(spec: &FirehoseSpec) -> Option<&FirehoseSpec> {
    match spec {
        FirehoseSpec::Kafka(_) | FirehoseSpec::Kafka08(_) => Some(spec),
        FirehoseSpec::Timed(timed) => kafka_firehose(&timed.delegate),
        FirehoseSpec::Clipped(clipped) => kafka_firehose(&clipped.delegate),
        _ => None,
    }
}
