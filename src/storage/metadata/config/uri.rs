//! Translation of Druid's JDBC URIs (and sqlx URLs) into a `MetadataLocation` and the
//! credentials they carry.

use std::path::PathBuf;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use url::Url;

use super::{DEFAULT_SQLITE_PATH, MetadataBackend, MetadataLocation, TYPE};

/// A URI translated into a location and the credentials it carried.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TranslatedUri {
    pub location: MetadataLocation,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Translates a JDBC URI or sqlx URL for `backend`; `None` is the default SQLite file.
pub(crate) fn translate_uri(
    backend: MetadataBackend,
    uri: Option<&str>,
) -> Result<TranslatedUri, String> {
    let sqlite = |path: &str| {
        let path = if path.is_empty() {
            DEFAULT_SQLITE_PATH
        } else {
            path
        };
        TranslatedUri {
            location: MetadataLocation::SqliteFile(PathBuf::from(path)),
            user: None,
            password: None,
        }
    };
    let Some(uri) = uri else {
        return match backend {
            MetadataBackend::Sqlite => Ok(sqlite("")),
            server => Err(format!("a connect URI is required for `{server}`")),
        };
    };
    let (uri_backend, rest) = split_scheme(uri)?;
    if uri_backend != backend {
        return Err(format!(
            "`{uri}` is a {uri_backend} URI but `{TYPE}` is `{backend}`; set `{TYPE}={uri_backend}`"
        ));
    }
    match rest {
        UriRest::SqlitePath(path) => {
            if path == ":memory:" {
                return Err(
                    "an in-memory SQLite metadata store would lose every commit; give a file path"
                        .into(),
                );
            }
            Ok(sqlite(path))
        }
        UriRest::Server(url_text) => server_url(&url_text),
    }
}

enum UriRest<'a> {
    SqlitePath(&'a str),
    Server(String),
}

/// Splits off the scheme, returning the backend it names and the rest in sqlx form.
fn split_scheme(uri: &str) -> Result<(MetadataBackend, UriRest<'_>), String> {
    let lower = uri.to_ascii_lowercase();
    let strip = |prefix: &str| lower.starts_with(prefix).then(|| &uri[prefix.len()..]);
    if let Some(rest) = strip("jdbc:derby:") {
        tracing::info!("derby connect URI `{uri}`: its path is used as the SQLite metadata file");
        return Ok((
            MetadataBackend::Sqlite,
            UriRest::SqlitePath(derby_path(rest)),
        ));
    }
    for prefix in ["jdbc:sqlite:", "sqlite://", "sqlite:"] {
        if let Some(rest) = strip(prefix) {
            return Ok((
                MetadataBackend::Sqlite,
                UriRest::SqlitePath(rest.split('?').next().unwrap_or("")),
            ));
        }
    }
    if let Some(rest) = strip("jdbc:postgresql:") {
        let rest = if rest.starts_with("//") {
            rest.to_string()
        } else {
            format!("//localhost/{rest}")
        };
        return Ok((
            MetadataBackend::Postgres,
            UriRest::Server(format!("postgres:{rest}")),
        ));
    }
    for prefix in ["postgresql:", "postgres:"] {
        if let Some(rest) = strip(prefix) {
            return Ok((
                MetadataBackend::Postgres,
                UriRest::Server(format!("postgres:{rest}")),
            ));
        }
    }
    for prefix in ["jdbc:mysql:", "jdbc:mariadb:", "mysql:", "mariadb:"] {
        if let Some(rest) = strip(prefix) {
            return Ok((
                MetadataBackend::MySql,
                UriRest::Server(format!("mysql:{rest}")),
            ));
        }
    }
    Err(format!(
        "`{uri}` is not a PostgreSQL, MySQL, SQLite or Derby URI"
    ))
}

/// `//host:1527/var/druid/metadata.db;create=true` or `/abs/path;create=true` → the path.
fn derby_path(rest: &str) -> &str {
    let without_options = rest.split(';').next().unwrap_or("");
    match without_options.strip_prefix("//") {
        Some(network) => network.split_once('/').map_or("", |(_, path)| path),
        None => without_options,
    }
}

/// Parses a server URL and moves its credentials (userinfo or `user`/`password` parameters) out.
fn server_url(text: &str) -> Result<TranslatedUri, String> {
    let mut url = Url::parse(text)
        .map_err(|error| format!("`{}` is not a valid URL: {error}", redact(text)))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{}` has no host", redact(text)));
    }
    let decode = |s: &str| Some(percent_decode_str(s).decode_utf8_lossy().into_owned());
    let mut user = Some(url.username())
        .filter(|u| !u.is_empty())
        .and_then(decode);
    let mut password = url.password().and_then(decode);
    let mut kept = Vec::new();
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "user" => user = user.or(Some(value.into_owned())),
            "password" => password = password.or(Some(value.into_owned())),
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(TranslatedUri {
        location: MetadataLocation::Server(url),
        user,
        password,
    })
}

/// Hides a password in a URL that failed to parse (`user:secret@` → `user:***@`).
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => text.to_string(),
    }
}

/// The bytes kept as they are in an sqlx SQLite URL path; sqlx percent-decodes the rest.
const PATH_KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'_')
    .remove(b'-')
    .remove(b'~');

/// Percent-encodes a file path for an sqlx SQLite URL.
pub(super) fn percent_encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH_KEPT).to_string()
}
