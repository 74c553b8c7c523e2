//! Runtime properties: Druid's `runtime.properties` file plus `-D key=value` overrides.
//!
//! The file is a Java `.properties` file read as UTF-8 (Druid reads it through a UTF-8 reader),
//! with the rules of `java.util.Properties.load`:
//!
//! ```text
//!   # comment            ! comment            (first non-blank character `#` or `!`)
//!   key=value            key: value           key value          (first `=`, `:` or blank ends the key)
//!   key = a long \       (an odd number of trailing `\` joins the next line,
//!         value                 whose leading blanks are dropped)
//!   tab\tnewline\n \u00e9 \: \= \\              (escapes, in keys and values)
//! ```
//!
//! Later files override earlier ones, and `-D` overrides override files, in order. Values are kept
//! raw; the getters interpolate them on read, the way Druid's `StringSubstitutor` does when it
//! binds a config object, so a property rtnode never reads can never fail the start-up:
//!
//! - `${env:VAR}`: an environment variable (an unset one is an error naming the property),
//! - `${sys:NAME}`: another property (interpolated in turn; cycles are errors),
//! - `${file:UTF-8:/path}`: the content of a file, unchanged (no trimming, as in Druid),
//! - `${env:VAR:-default}`: a default when the variable is unset,
//! - `$${…}` is the literal text `${…}`; a reference with any other prefix stays as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::time::Period;

mod parse;

/// An error in reading the properties or in one property's value.
#[derive(Debug, thiserror::Error)]
pub enum PropertiesError {
    /// The properties file could not be read.
    #[error("cannot read properties file `{path}`: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The properties file is not UTF-8.
    #[error("properties file `{path}` is not valid UTF-8 (byte {offset})")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A malformed `\uXXXX` escape.
    #[error("`{source_name}` line {line}: malformed `\\uXXXX` escape `{escape}`")]
    BadEscape {
        /// The file name or `-D`.
        source_name: String,
        /// 1-based line number of the logical line.
        line: usize,
        /// The escape as written.
        escape: String,
    },
    /// A `-D` argument without `=`.
    #[error("override `{argument}` is not of the form `key=value`")]
    BadOverride {
        /// The argument as given.
        argument: String,
    },
    /// `${env:VAR}` names an unset variable.
    #[error("property `{property}` refers to environment variable `{variable}`, which is not set")]
    MissingEnv {
        /// The property being read.
        property: String,
        /// The environment variable.
        variable: String,
    },
    /// `${sys:NAME}` names a property that is not set.
    #[error(
        "property `{property}` refers to property `{name}` (`${{sys:{name}}}`), which is not set"
    )]
    MissingSys {
        /// The property being read.
        property: String,
        /// The referenced property.
        name: String,
    },
    /// `${sys:…}` references form a cycle.
    #[error("property `{property}`: interpolation cycle {chain}")]
    Cycle {
        /// The property being read.
        property: String,
        /// The cycle, `a -> b -> a`.
        chain: String,
    },
    /// `${file:CHARSET:PATH}` could not be read.
    #[error("property `{property}` refers to file `{path}`, which cannot be read: {reason}")]
    InterpolatedFile {
        /// The property being read.
        property: String,
        /// The file.
        path: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// A value that does not parse as the type the property needs.
    #[error("property `{property}` is `{value}`, expected {expected}")]
    Invalid {
        /// The property.
        property: String,
        /// The (interpolated) value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// Druid's default `druid.server.hiddenProperties`.
const DEFAULT_HIDDEN_PROPERTIES: &[&str] = &[
    "druid.s3.accessKey",
    "druid.s3.secretKey",
    "druid.metadata.storage.connector.password",
    "password",
    "key",
    "token",
    "pwd",
];

/// Where environment variables come from: the process, or a fixed map (tests, embedding).
#[derive(Debug, Clone, Default)]
enum Environment {
    #[default]
    Process,
    Fixed(BTreeMap<String, String>),
}

impl Environment {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Environment::Process => std::env::var(name).ok(),
            Environment::Fixed(vars) => vars.get(name).cloned(),
        }
    }
}

/// Druid runtime properties: an ordered map of raw key → value strings, read with typed getters.
///
/// Properties rtnode does not read are kept and ignored, as Druid ignores them.
#[derive(Debug, Clone, Default)]
pub struct RuntimeProperties {
    values: BTreeMap<String, String>,
    environment: Environment,
}

impl RuntimeProperties {
    /// Returns empty properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the properties of `files` (later ones override earlier ones) with `overrides`
    /// (`key=value`, as given to `-D`) applied in order.
    pub fn load(files: &[PathBuf], overrides: &[String]) -> Result<Self, PropertiesError> {
        let mut properties = Self::new();
        for file in files {
            properties.load_file(file)?;
        }
        for argument in overrides {
            properties.apply_override(argument)?;
        }
        Ok(properties)
    }

    /// Reads a `.properties` file (UTF-8) and sets its properties, overriding existing ones.
    pub fn load_file(&mut self, path: &Path) -> Result<(), PropertiesError> {
        let bytes = std::fs::read(path).map_err(|source| PropertiesError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|error| PropertiesError::NotUtf8 {
            path: path.to_path_buf(),
            offset: error.utf8_error().valid_up_to(),
        })?;
        self.load_str(&path.display().to_string(), &text)
    }

    /// Parses `.properties` text and sets its properties; `source_name` appears in errors.
    pub fn load_str(&mut self, source_name: &str, text: &str) -> Result<(), PropertiesError> {
        for (key, value) in parse::parse_properties(source_name, text)? {
            self.values.insert(key, value);
        }
        Ok(())
    }

    /// Applies one `-D` override `key=value` (the value may be empty; the key is trimmed).
    pub fn apply_override(&mut self, argument: &str) -> Result<(), PropertiesError> {
        let bad = || PropertiesError::BadOverride {
            argument: argument.to_string(),
        };
        let (key, value) = argument.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad());
        }
        self.set(key, value);
        Ok(())
    }

    /// Sets one property to a raw value (interpolated when read).
    pub fn set(&mut self, key: &str, value: &str) {
        self.values.insert(key.to_string(), value.to_string());
    }

    /// Returns the raw, uninterpolated value of a property.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Returns true when the property is set (even to an empty value).
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// Returns the raw properties in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// Returns the number of properties.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Returns true when no property is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Returns every property interpolated, in key order (for `print-config`); fails on the first
    /// property that does not interpolate.
    pub fn resolved(&self) -> Result<BTreeMap<String, String>, PropertiesError> {
        self.values
            .keys()
            .map(|key| Ok((key.clone(), self.interpolated(key)?.unwrap_or_default())))
            .collect()
    }

    /// Every property interpolated except the hidden ones: those whose name contains, in any
    /// case, an entry of `druid.server.hiddenProperties` (a JSON list; Druid's default hides
    /// passwords, keys and tokens). What `GET /status/properties` and `print-config` show.
    pub fn visible(&self) -> Result<BTreeMap<String, String>, PropertiesError> {
        const KEY: &str = "druid.server.hiddenProperties";
        let hidden: Vec<String> = match self.get_str(KEY)? {
            Some(list) => serde_json::from_str(&list).map_err(|_| PropertiesError::Invalid {
                property: KEY.into(),
                value: list.clone(),
                expected: "a JSON list of strings",
            })?,
            None => DEFAULT_HIDDEN_PROPERTIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let hidden: Vec<String> = hidden.iter().map(|h| h.to_ascii_lowercase()).collect();
        let shown = |key: &String| {
            let key = key.to_ascii_lowercase();
            !hidden.iter().any(|h| key.contains(h.as_str()))
        };
        // A property that does not interpolate is shown as written: one rtnode does not use
        // must not stop the node.
        Ok(self
            .values
            .iter()
            .filter(|(key, _)| shown(key))
            .map(|(key, raw)| {
                let value = self.interpolated(key).ok().flatten();
                (key.clone(), value.unwrap_or_else(|| raw.clone()))
            })
            .collect())
    }

    /// Replaces the process environment with `vars` for `${env:…}` lookups.
    pub fn with_environment(mut self, vars: BTreeMap<String, String>) -> Self {
        self.environment = Environment::Fixed(vars);
        self
    }

    /// Returns the interpolated value of a property, `None` when it is not set.
    pub fn get_str(&self, key: &str) -> Result<Option<String>, PropertiesError> {
        self.interpolated(key)
    }

    /// Returns the interpolated value of a property, or `default` when it is not set.
    pub fn get_str_or(&self, key: &str, default: &str) -> Result<String, PropertiesError> {
        Ok(self.get_str(key)?.unwrap_or_else(|| default.to_string()))
    }

    /// Returns a non-negative integer property; an unset or blank value is `None`.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, PropertiesError> {
        self.typed(key, "a non-negative integer", |text| text.parse().ok())
    }

    /// Returns a non-negative integer property, or `default` when it is unset or blank.
    pub fn get_u64_or(&self, key: &str, default: u64) -> Result<u64, PropertiesError> {
        Ok(self.get_u64(key)?.unwrap_or(default))
    }

    /// Returns a boolean property (`true` or `false`, any case); an unset or blank value is `None`.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, PropertiesError> {
        self.typed(key, "`true` or `false`", |text| {
            match text.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        })
    }

    /// Returns a boolean property, or `default` when it is unset or blank.
    pub fn get_bool_or(&self, key: &str, default: bool) -> Result<bool, PropertiesError> {
        Ok(self.get_bool(key)?.unwrap_or(default))
    }

    /// Returns a duration property in milliseconds: an ISO-8601 period of fixed length (`PT1M`,
    /// `P1D`; no months or years) or a plain number of milliseconds, as Jackson reads Druid's
    /// `Period`/`Duration` fields. An unset or blank value is `None`.
    pub fn get_duration_ms(&self, key: &str) -> Result<Option<u64>, PropertiesError> {
        self.typed(
            key,
            "an ISO-8601 period of fixed length such as `PT1M`, or milliseconds",
            parse_duration_ms,
        )
    }

    /// Returns a duration property in milliseconds, or `default_ms` when it is unset or blank.
    pub fn get_duration_ms_or(&self, key: &str, default_ms: u64) -> Result<u64, PropertiesError> {
        Ok(self.get_duration_ms(key)?.unwrap_or(default_ms))
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, PropertiesError> {
        let Some(value) = self.interpolated(key)? else {
            return Ok(None);
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        parse(trimmed)
            .map(Some)
            .ok_or_else(|| PropertiesError::Invalid {
                property: key.to_string(),
                value,
                expected,
            })
    }

    fn interpolated(&self, key: &str) -> Result<Option<String>, PropertiesError> {
        let Some(raw) = self.values.get(key) else {
            return Ok(None);
        };
        let mut chain = vec![key.to_string()];
        parse::interpolate(raw, &mut chain, self).map(Some)
    }

    fn lookup_env(&self, name: &str) -> Option<String> {
        self.environment.get(name)
    }

    fn lookup_property(&self, name: &str) -> Option<&str> {
        self.raw(name)
    }
}

/// Parses a fixed-length ISO period or a plain count of milliseconds.
fn parse_duration_ms(text: &str) -> Option<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Some(ms);
    }
    let period: Period = text.parse().ok()?;
    u64::try_from(period.fixed_millis()?).ok()
}

#[cfg(test)]
mod tests;
