//! Announcer configuration, read from Druid's runtime properties.
//!
//! | property | default | meaning |
//! |---|---|---|
//! | `druid.zk.service.host` | unset: nothing is announced | ZooKeeper connect string (`h1:2181,h2:2181[/chroot]`) |
//! | `druid.zk.service.sessionTimeoutMs` | 30000 | session timeout asked of ZooKeeper |
//! | `druid.zk.service.compress` | true | gzip every payload (readers accept raw JSON too) |
//! | `druid.zk.paths.base` | `/druid` | base path (`druid` and `/druid` are the same) |
//! | `druid.zk.paths.announcementsPath` | `{base}/announcements` | server announcements |
//! | `druid.zk.paths.liveSegmentsPath` | `{base}/segments` | batch segment announcements |
//! | `druid.host` | the local host name | host, or `host:port` |
//! | `druid.port` | 8084 | port (must agree with a port in `druid.host`) |
//! | `druid.server.tier` | `_default_tier` | tier |
//! | `druid.server.priority` | 0 | priority (may be negative) |
//! | `druid.server.maxSize` | 0 | bytes this server may hold |
//! | `druid.announcer.segmentsPerNode` | 50 | segments per batch znode (at least 1) |
//! | `druid.announcer.maxBytesPerNode` | 524288 | JSON bytes per batch znode (1 KiB to 1 MiB) |
//! | `druid.announcer.skipLoadSpec` | false | announce `"loadSpec":null` |
//! | `druid.announcer.skipDimensionsAndMetrics` | false | announce `""` dimensions and metrics |
//!
//! Druid's default host is the *canonical* (DNS) name of the local host; rtnode uses the host
//! name the kernel reports (`gethostname`). Set `druid.host` when other nodes need another name.

use std::time::Duration;

use crate::config::properties::{PropertiesError, RuntimeProperties};

/// The server type Druid's realtime node announces.
pub const REALTIME_SERVER_TYPE: &str = "realtime";

/// Smallest allowed `druid.announcer.maxBytesPerNode` (Druid's `@Min(1024)`).
pub const MIN_BYTES_PER_NODE: usize = 1024;
/// Largest allowed `druid.announcer.maxBytesPerNode` (Druid's `@Max(1024 * 1024)`): ZooKeeper's
/// default `jute.maxbuffer` is 1 MiB.
pub const MAX_BYTES_PER_NODE: usize = 1024 * 1024;

/// How to reach ZooKeeper and where Druid's paths are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkConfig {
    /// The connect string (`host:port,host:port[/chroot]`).
    pub connect: String,
    /// Session timeout asked of the server, in milliseconds.
    pub session_timeout_ms: u64,
    /// Whether payloads are gzip-compressed.
    pub compress: bool,
    /// `{base}/announcements`: one ephemeral znode per server.
    pub announcements_path: String,
    /// `{base}/segments`: one persistent parent per server, batch znodes below.
    pub live_segments_path: String,
}

impl ZkConfig {
    /// Returns the ZooKeeper settings, or `None` when `druid.zk.service.host` is not set.
    pub fn from_properties(props: &RuntimeProperties) -> Result<Option<Self>, PropertiesError> {
        let Some(connect) = props.get_str("druid.zk.service.host")? else {
            return Ok(None);
        };
        let connect = connect.trim().to_string();
        if connect.is_empty() {
            return Ok(None);
        }
        let base = normalize_path(&props.get_str_or("druid.zk.paths.base", "/druid")?);
        let announcements_path = match props.get_str("druid.zk.paths.announcementsPath")? {
            Some(path) => normalize_path(&path),
            None => join_path(&base, "announcements"),
        };
        let live_segments_path = match props.get_str("druid.zk.paths.liveSegmentsPath")? {
            Some(path) => normalize_path(&path),
            None => join_path(&base, "segments"),
        };
        Ok(Some(ZkConfig {
            connect,
            session_timeout_ms: props.get_u64_or("druid.zk.service.sessionTimeoutMs", 30_000)?,
            compress: props.get_bool_or("druid.zk.service.compress", true)?,
            announcements_path,
            live_segments_path,
        }))
    }

    /// Returns the session timeout.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.session_timeout_ms)
    }
}

/// What a server announces about itself (Druid's `DruidServerMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMetadata {
    /// `host:port`: the znode name, `name` and `host` in the JSON.
    pub host_and_port: String,
    /// `maxSize` in bytes.
    pub max_size_bytes: u64,
    /// `realtime`, `historical`, `bridge`, …
    pub server_type: String,
    /// The tier.
    pub tier: String,
    /// The priority.
    pub priority: i32,
}

impl ServerMetadata {
    /// Returns this node's metadata: a `realtime` server at `druid.host` / `druid.port`.
    pub fn from_properties(props: &RuntimeProperties) -> Result<Self, PropertiesError> {
        let priority_text = props.get_str_or("druid.server.priority", "0")?;
        let priority = priority_text
            .trim()
            .parse()
            .map_err(|_| PropertiesError::Invalid {
                property: "druid.server.priority".into(),
                value: priority_text.clone(),
                expected: "an integer",
            })?;
        Ok(ServerMetadata {
            host_and_port: host_and_port(props)?,
            max_size_bytes: props.get_u64_or("druid.server.maxSize", 0)?,
            server_type: REALTIME_SERVER_TYPE.into(),
            tier: props.get_str_or("druid.server.tier", "_default_tier")?,
            priority,
        })
    }

    /// Returns the JSON Druid 0.9.2 writes, keys in its order:
    /// `{"name","host","maxSize","type","tier","priority"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.host_and_port,
            "host": self.host_and_port,
            "maxSize": self.max_size_bytes,
            "type": self.server_type,
            "tier": self.tier,
            "priority": self.priority,
        })
    }
}

/// Batch announcer limits and segment stripping (Druid's `BatchDataSegmentAnnouncerConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// At most this many segments per znode.
    pub segments_per_node: usize,
    /// At most this many (uncompressed JSON) bytes per znode.
    pub max_bytes_per_node: usize,
    /// Announce `"loadSpec":null`.
    pub skip_load_spec: bool,
    /// Announce empty `dimensions` and `metrics`.
    pub skip_dimensions_and_metrics: bool,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            segments_per_node: 50,
            max_bytes_per_node: 512 * 1024,
            skip_load_spec: false,
            skip_dimensions_and_metrics: false,
        }
    }
}

impl BatchConfig {
    /// Returns the batch settings, checking Druid's bounds.
    pub fn from_properties(props: &RuntimeProperties) -> Result<Self, PropertiesError> {
        let defaults = BatchConfig::default();
        let segments_per_node = props.get_u64_or(
            "druid.announcer.segmentsPerNode",
            defaults.segments_per_node as u64,
        )?;
        if segments_per_node == 0 {
            return Err(invalid(
                "druid.announcer.segmentsPerNode",
                segments_per_node,
                "at least 1",
            ));
        }
        let max_bytes = props.get_u64_or(
            "druid.announcer.maxBytesPerNode",
            defaults.max_bytes_per_node as u64,
        )?;
        if !(MIN_BYTES_PER_NODE as u64..=MAX_BYTES_PER_NODE as u64).contains(&max_bytes) {
            return Err(invalid(
                "druid.announcer.maxBytesPerNode",
                max_bytes,
                "between 1024 and 1048576 bytes",
            ));
        }
        Ok(BatchConfig {
            segments_per_node: usize::try_from(segments_per_node).unwrap_or(usize::MAX),
            max_bytes_per_node: max_bytes as usize,
            skip_load_spec: props.get_bool_or("druid.announcer.skipLoadSpec", false)?,
            skip_dimensions_and_metrics: props
                .get_bool_or("druid.announcer.skipDimensionsAndMetrics", false)?,
        })
    }
}

/// Everything the ZooKeeper announcer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncerConfig {
    /// ZooKeeper connection and paths.
    pub zk: ZkConfig,
    /// This server.
    pub server: ServerMetadata,
    /// Batch znode limits.
    pub batch: BatchConfig,
}

impl AnnouncerConfig {
    /// Returns the announcer settings, or `None` when `druid.zk.service.host` is not set.
    pub fn from_properties(props: &RuntimeProperties) -> Result<Option<Self>, PropertiesError> {
        let Some(zk) = ZkConfig::from_properties(props)? else {
            return Ok(None);
        };
        Ok(Some(AnnouncerConfig {
            zk,
            server: ServerMetadata::from_properties(props)?,
            batch: BatchConfig::from_properties(props)?,
        }))
    }

    /// `{announcementsPath}/{host:port}`: the server's ephemeral znode.
    pub fn server_path(&self) -> String {
        join_path(&self.zk.announcements_path, &self.server.host_and_port)
    }

    /// `{liveSegmentsPath}/{host:port}`: the persistent parent of the batch znodes.
    pub fn segments_parent_path(&self) -> String {
        join_path(&self.zk.live_segments_path, &self.server.host_and_port)
    }
}

/// Returns `host:port` the way Druid's `DruidNode` builds it from `druid.host` and `druid.port`.
pub fn host_and_port(props: &RuntimeProperties) -> Result<String, PropertiesError> {
    let port_opt = props.get_u64("druid.port")?;
    let host_text = match props.get_str("druid.host")? {
        Some(text) if !text.trim().is_empty() => text.trim().to_string(),
        _ => local_host_name(),
    };
    let (host, host_port_opt) = split_host_port(&host_text);
    let port = match (host_port_opt, port_opt) {
        (Some(in_host), Some(given)) if u64::from(in_host) != given => {
            return Err(PropertiesError::Invalid {
                property: "druid.port".into(),
                value: given.to_string(),
                expected: "the same port as in `druid.host`",
            });
        }
        (Some(in_host), _) => u64::from(in_host),
        (None, Some(given)) => given,
        (None, None) => 8084,
    };
    Ok(format!("{host}:{port}"))
}

/// Splits `host:port`, `[v6]:port` or a bare host.
fn split_host_port(text: &str) -> (&str, Option<u16>) {
    if let Some(rest) = text.strip_prefix('[')
        && let Some((v6, tail)) = rest.split_once(']')
    {
        let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
        return (&text[..v6.len() + 2], port);
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (text, None),
        },
        _ => (text, None),
    }
}

/// Returns the local host name, `localhost` when the kernel gives none.
fn local_host_name() -> String {
    let name = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_string();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// Returns `path` with one leading `/` and no trailing `/` (ZooKeeper's `ZKPaths.makePath`).
pub fn normalize_path(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    format!("/{trimmed}")
}

/// Joins a znode path and a child name.
pub fn join_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn invalid(property: &str, value: u64, expected: &'static str) -> PropertiesError {
    PropertiesError::Invalid {
        property: property.into(),
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> RuntimeProperties {
        let mut props = RuntimeProperties::new();
        for (key, value) in pairs {
            props.set(key, value);
        }
        props
    }

    #[test]
    fn no_zookeeper_host_means_no_announcer() {
        assert_eq!(AnnouncerConfig::from_properties(&props(&[])).unwrap(), None);
    }

    #[test]
    fn defaults_follow_druid() {
        let config = AnnouncerConfig::from_properties(&props(&[
            ("druid.zk.service.host", "zk1:2181"),
            ("druid.host", "rt1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.zk.session_timeout_ms, 30_000);
        assert!(config.zk.compress);
        assert_eq!(config.server_path(), "/druid/announcements/rt1:8084");
        assert_eq!(config.segments_parent_path(), "/druid/segments/rt1:8084");
        assert_eq!(config.batch, BatchConfig::default());
        assert_eq!(
            serde_json::to_string(&config.server.to_json()).unwrap(),
            r#"{"name":"rt1:8084","host":"rt1:8084","maxSize":0,"type":"realtime","tier":"_default_tier","priority":0}"#
        );
    }

    #[test]
    fn base_path_and_host_port_variants() {
        let config = AnnouncerConfig::from_properties(&props(&[
            ("druid.zk.service.host", "zk1:2181"),
            ("druid.zk.paths.base", "prod/"),
            ("druid.host", "rt2:9000"),
            ("druid.server.priority", "-3"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.server_path(), "/prod/announcements/rt2:9000");
        assert_eq!(config.server.priority, -3);
        let both = props(&[("druid.host", "rt2:9000"), ("druid.port", "9001")]);
        assert!(host_and_port(&both).is_err());
        let v6 = props(&[("druid.host", "[::1]:9000")]);
        assert_eq!(host_and_port(&v6).unwrap(), "[::1]:9000");
        let port_only = props(&[("druid.host", "rt3"), ("druid.port", "8100")]);
        assert_eq!(host_and_port(&port_only).unwrap(), "rt3:8100");
    }

    #[test]
    fn max_bytes_per_node_is_bounded() {
        let with = |value: &str| {
            BatchConfig::from_properties(&props(&[("druid.announcer.maxBytesPerNode", value)]))
        };
        assert!(with("1023").is_err());
        assert!(with("1048577").is_err());
        assert_eq!(with("1024").unwrap().max_bytes_per_node, 1024);
        let zero =
            BatchConfig::from_properties(&props(&[("druid.announcer.segmentsPerNode", "0")]));
        assert!(zero.is_err());
    }
}
