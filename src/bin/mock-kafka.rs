//! Test helper (not part of `rtnode`): hosts a librdkafka mock Kafka cluster on loopback for
//! tests and benchmarks run against a broker that is not ours.
//!
//! ```text
//! mock-kafka [TOPIC [PARTITIONS [BROKERS]]]     (defaults: events 4 1)
//! ```
//!
//! It creates `TOPIC` with `PARTITIONS` partitions, sets the group initial rebalance delay to
//! 0 ms, prints `BROKERS=host:port,…` on standard output, and lives until standard input closes.
//! The mock keeps about 5 MiB per partition; older messages are dropped.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use rtnode::firehose::kafka::mock::MockKafka;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "events".into());
    let number = |i: usize, default: u32| match args.get(i) {
        Some(text) => text.parse::<u32>().map_err(|e| format!("`{text}`: {e}")),
        None => Ok(default),
    };
    let (partitions, brokers) = match (number(1, 4), number(2, 1)) {
        (Ok(p), Ok(b)) => (p, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("usage: mock-kafka [TOPIC [PARTITIONS [BROKERS]]]: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cluster = match MockKafka::new(brokers.max(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot start the mock cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = cluster.create_topic(&topic, partitions.max(1) as i32) {
        eprintln!("error: cannot create topic `{topic}`: {e}");
        return ExitCode::FAILURE;
    }
    println!("BROKERS={}", cluster.bootstrap_servers());
    let _ = std::io::stdout().flush();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
