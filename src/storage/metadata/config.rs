//! Metadata store configuration from Druid's properties, and JDBC URI translation.
//!
//! | property | default |
//! |---|---|
//! | `druid.metadata.storage.type` | `sqlite` (`derby` is an alias; `postgresql`, `mysql`) |
//! | `druid.metadata.storage.connector.connectURI` | `var/druid/metadata.db` under the working directory (SQLite) |
//! | `druid.metadata.storage.connector.user` / `.password` | none (the password may be a Druid password provider) |
//! | `druid.metadata.storage.connector.createTables` | `true` |
//! | `druid.metadata.storage.tables.base` | `druid` |
//! | `druid.metadata.storage.tables.segments` / `.dataSource` | `{base}_segments` / `{base}_dataSource` |
//!
//! Accepted URIs: `jdbc:postgresql://host:5432/db?…`, `jdbc:postgresql:db`, `jdbc:mysql://…`,
//! `jdbc:mariadb://…`, `jdbc:sqlite:/path`, `jdbc:derby://host:1527/path;create=true` (its path
//! becomes the SQLite file), and sqlx URLs (`postgres://`, `postgresql://`, `mysql://`,
//! `mariadb://`, `sqlite:`). Credentials in the URI (`user:pass@` or `?user=…&password=…`) are
//! moved out of it and used when the `.user` / `.password` properties are not set.

mod uri;

use std::fmt;
use std::path::PathBuf;

use url::Url;

use self::uri::{percent_encode_path, translate_uri};
use super::MetadataError;
use crate::config::properties::RuntimeProperties;

const TYPE: &str = "druid.metadata.storage.type";
const CONNECT_URI: &str = "druid.metadata.storage.connector.connectURI";
const USER: &str = "druid.metadata.storage.connector.user";
const PASSWORD: &str = "druid.metadata.storage.connector.password";
const CREATE_TABLES: &str = "druid.metadata.storage.connector.createTables";
const TABLES_BASE: &str = "druid.metadata.storage.tables.base";
const TABLES_SEGMENTS: &str = "druid.metadata.storage.tables.segments";
const TABLES_DATA_SOURCE: &str = "druid.metadata.storage.tables.dataSource";

/// The default SQLite file, the path of Druid's default Derby URI, under the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "var/druid/metadata.db";

/// Which database holds the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataBackend {
    /// The embedded store (Druid's Derby role), one file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl fmt::Display for MetadataBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetadataBackend::Sqlite => "sqlite",
            MetadataBackend::Postgres => "postgresql",
            MetadataBackend::MySql => "mysql",
        })
    }
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataLocation {
    /// A SQLite file (relative paths are under the working directory); created when missing.
    SqliteFile(PathBuf),
    /// A server, as an sqlx URL (`postgres://…` or `mysql://…`) without credentials.
    Server(Url),
}

/// The names of the tables rtnode writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTables {
    /// The segments table (`druid_segments`).
    pub segments: String,
    /// The commit metadata table (`druid_dataSource`).
    pub data_source: String,
}

impl MetadataTables {
    /// Returns `{base}_segments` and `{base}_dataSource`; fails unless `base` is an identifier.
    pub fn with_base(base: &str) -> Result<Self, String> {
        let tables = MetadataTables {
            segments: format!("{base}_segments"),
            data_source: format!("{base}_dataSource"),
        };
        tables.validate()?;
        Ok(tables)
    }

    /// Checks that both names are plain identifiers (letters, digits, `_`; at most 48 bytes so
    /// that `idx_{table}_datasource` fits every backend's 64-byte limit).
    pub fn validate(&self) -> Result<(), String> {
        for name in [&self.segments, &self.data_source] {
            let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let starts_well = name.bytes().next().is_some_and(|b| !b.is_ascii_digit());
            if !plain || !starts_well || name.len() > 48 {
                return Err(format!(
                    "table name `{name}` must be 1 to 48 letters, digits or `_`, not starting with a digit"
                ));
            }
        }
        Ok(())
    }
}

/// How to reach the metadata store and which tables to use.
#[derive(Clone, PartialEq, Eq)]
pub struct MetadataStoreConfig {
    /// The database kind.
    pub backend: MetadataBackend,
    /// The database.
    pub location: MetadataLocation,
    /// The user name, if any.
    pub user: Option<String>,
    /// The password, if any (never printed).
    pub password: Option<String>,
    /// The table names.
    pub tables: MetadataTables,
    /// Whether to create missing tables when connecting.
    pub create_tables: bool,
}

impl fmt::Debug for MetadataStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataStoreConfig")
            .field("backend", &self.backend)
            .field("uri", &self.display_uri())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tables", &self.tables)
            .field("create_tables", &self.create_tables)
            .finish()
    }
}

impl MetadataStoreConfig {
    /// Returns the configuration of the embedded SQLite store in `path` with Druid's default tables.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        MetadataStoreConfig {
            backend: MetadataBackend::Sqlite,
            location: MetadataLocation::SqliteFile(path.into()),
            user: None,
            password: None,
            tables: MetadataTables::with_base("druid").expect("`druid` is a valid table base"),
            create_tables: true,
        }
    }

    /// Returns the configuration for `backend` at `uri` (a JDBC URI or an sqlx URL; `None` is the
    /// default SQLite file) with Druid's default tables; credentials in the URI are moved out.
    pub fn from_uri(backend: MetadataBackend, uri: Option<&str>) -> Result<Self, MetadataError> {
        let translated =
            translate_uri(backend, uri).map_err(|reason| config_error(CONNECT_URI, reason))?;
        Ok(MetadataStoreConfig {
            backend,
            location: translated.location,
            user: translated.user,
            password: translated.password,
            ..Self::sqlite(DEFAULT_SQLITE_PATH)
        })
    }

    /// Reads the `druid.metadata.storage.*` properties.
    pub fn from_properties(properties: &RuntimeProperties) -> Result<Self, MetadataError> {
        let backend = backend_from_type(&properties.get_str_or(TYPE, "sqlite")?)?;
        let uri = properties
            .get_str(CONNECT_URI)?
            .filter(|uri| !uri.trim().is_empty());
        let mut config = Self::from_uri(backend, uri.as_deref().map(str::trim))?;
        if let Some(user) = properties.get_str(USER)?.filter(|user| !user.is_empty()) {
            config.user = Some(user);
        }
        if let Some(provider) = properties.get_str(PASSWORD)?
            && let Some(password) = resolve_password_provider(&provider)?
        {
            config.password = Some(password);
        }
        config.create_tables = properties.get_bool_or(CREATE_TABLES, true)?;
        let base = properties.get_str_or(TABLES_BASE, "druid")?;
        let defaults = MetadataTables::with_base(base.trim())
            .map_err(|reason| config_error(TABLES_BASE, reason))?;
        config.tables = MetadataTables {
            segments: properties
                .get_str(TABLES_SEGMENTS)?
                .map_or(defaults.segments, |name| name.trim().to_string()),
            data_source: properties
                .get_str(TABLES_DATA_SOURCE)?
                .map_or(defaults.data_source, |name| name.trim().to_string()),
        };
        config
            .tables
            .validate()
            .map_err(|reason| config_error("druid.metadata.storage.tables", reason))?;
        Ok(config)
    }

    /// Returns the location for messages: the SQLite path, or the server URL with the user but
    /// never the password.
    pub fn display_uri(&self) -> String {
        match &self.location {
            MetadataLocation::SqliteFile(path) => path.display().to_string(),
            MetadataLocation::Server(url) => {
                let mut shown = url.clone();
                if let Some(user) = &self.user {
                    let _ = shown.set_username(user);
                }
                shown.to_string()
            }
        }
    }

    /// Returns the sqlx connection URL, credentials included (never log it); a relative SQLite
    /// path is resolved against `working_dir`.
    pub fn connect_url(&self, working_dir: &std::path::Path) -> Result<String, MetadataError> {
        match &self.location {
            MetadataLocation::SqliteFile(path) => {
                let absolute = working_dir.join(path);
                let text = absolute.to_str().ok_or_else(|| {
                    config_error(
                        CONNECT_URI,
                        format!("path `{}` is not UTF-8", absolute.display()),
                    )
                })?;
                Ok(format!("sqlite://{}?mode=rwc", percent_encode_path(text)))
            }
            MetadataLocation::Server(url) => {
                let mut full = url.clone();
                let refused =
                    || config_error(CONNECT_URI, "the URL cannot carry credentials".to_string());
                if let Some(user) = &self.user {
                    full.set_username(user).map_err(|()| refused())?;
                }
                if let Some(password) = &self.password {
                    full.set_password(Some(password)).map_err(|()| refused())?;
                }
                Ok(full.to_string())
            }
        }
    }
}

fn config_error(property: &'static str, reason: String) -> MetadataError {
    MetadataError::Config { property, reason }
}

fn backend_from_type(value: &str) -> Result<MetadataBackend, MetadataError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "sqlite" => Ok(MetadataBackend::Sqlite),
        "derby" => {
            tracing::info!(
                "`{TYPE}=derby`: using the embedded SQLite metadata store in place of Derby"
            );
            Ok(MetadataBackend::Sqlite)
        }
        "postgresql" | "postgres" => Ok(MetadataBackend::Postgres),
        "mysql" | "mariadb" => Ok(MetadataBackend::MySql),
        other => Err(config_error(
            TYPE,
            format!("unknown type `{other}` (expected sqlite, derby, postgresql or mysql)"),
        )),
    }
}

/// Resolves a Druid password provider: a plain string, `{"type":"default","password":"…"}` or
/// `{"type":"environment","variable":"…"}`.
fn resolve_password_provider(value: &str) -> Result<Option<String>, MetadataError> {
    let trimmed = value.trim();
    if !trimmed.starts_with('{') {
        return Ok((!value.is_empty()).then(|| value.to_string()));
    }
    let bad = |reason: String| config_error(PASSWORD, reason);
    let provider: serde_json::Value = serde_json::from_str(trimmed)
        .map_err(|error| bad(format!("invalid password provider JSON: {error}")))?;
    let field = |name: &str| provider.get(name).and_then(serde_json::Value::as_str);
    match field("type").unwrap_or("default") {
        "default" => Ok(field("password").map(str::to_string)),
        "environment" => {
            let variable = field("variable")
                .ok_or_else(|| bad("the environment provider needs `variable`".into()))?;
            let password = std::env::var(variable).map_err(|_| {
                bad(format!(
                    "environment variable `{variable}` of the password provider is not set"
                ))
            })?;
            Ok(Some(password))
        }
        other => Err(bad(format!(
            "password provider type `{other}` is not supported (use default or environment)"
        ))),
    }
}

#[cfg(test)]
mod tests;
