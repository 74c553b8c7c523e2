//! The `rtnode` command line: `run`, `validate`, `dump-segment`. Errors become exit codes: 0 on
//! success, 1 on a refused spec or a failed run. Logs go to stderr; only results go to stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rtnode::config::properties::RuntimeProperties;
use rtnode::config::{self, FireDepartment};
use rtnode::metrics::NodeMetrics;
use rtnode::node::{self, RunOptions};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node: ingest every fire department of the spec.
    Run {
        /// Realtime spec file (default: the embedded `specs/wikipedia-local.json`).
        #[arg(long, env = "RTNODE_SPEC")]
        spec: Option<PathBuf>,
        /// Exit 0 once every finite input is exhausted and print a JSON summary as the last line.
        #[arg(long)]
        exit_when_done: bool,
    },
    /// Validate a spec and print it resolved, every default filled in.
    Validate {
        /// Realtime spec file.
        #[arg(long)]
        spec: PathBuf,
    },
    /// Print a segment (directory or index.zip): one JSON object per row, or its metadata.
    DumpSegment {
        /// Segment directory or `index.zip`.
        path: PathBuf,
        /// Print one JSON object with interval, row count and per-column type, cardinality, size.
        #[arg(long)]
        metadata: bool,
    },
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let properties = RuntimeProperties::load(&cli.properties, &cli.overrides)
        .context("cannot load runtime properties")?;
    match cli.command {
        Command::Validate { spec } => {
            let departments = config::load_spec_file(&spec)?;
            let resolved: Vec<_> = departments
                .iter()
                .map(FireDepartment::to_resolved_json)
                .collect();
            println!("{}", serde_json::to_string_pretty(&resolved)?);
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
        Command::Run {
            spec,
            exit_when_done,
        } => {
            let departments = match &spec {
                Some(path) => config::load_spec_file(path)?,
                None => config::load_spec_str(DEFAULT_SPEC).context("the embedded default spec")?,
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
