use std::path::Path;

use super::*;

fn server(backend: MetadataBackend, uri: &str) -> (String, Option<String>, Option<String>) {
    let translated = translate_uri(backend, Some(uri)).unwrap();
    match translated.location {
        MetadataLocation::Server(url) => (url.to_string(), translated.user, translated.password),
        other => panic!("expected a server location, got {other:?}"),
    }
}

fn sqlite_path(uri: Option<&str>) -> PathBuf {
    match translate_uri(MetadataBackend::Sqlite, uri)
        .unwrap()
        .location
    {
        MetadataLocation::SqliteFile(path) => path,
        other => panic!("expected a SQLite file, got {other:?}"),
    }
}

fn properties(text: &str) -> RuntimeProperties {
    let mut properties = RuntimeProperties::new();
    properties.load_str("runtime.properties", text).unwrap();
    properties
}

#[test]
fn translates_jdbc_postgresql_uris_and_moves_credentials_out() {
    let (url, user, password) = server(
        MetadataBackend::Postgres,
        "jdbc:postgresql://db.example.com:5432/druid?user=druid&password=s3cret&ssl=false",
    );
    assert_eq!(url, "postgres://db.example.com:5432/druid?ssl=false");
    assert_eq!(
        (user.as_deref(), password.as_deref()),
        (Some("druid"), Some("s3cret"))
    );
    let (url, user, _) = server(MetadataBackend::Postgres, "jdbc:postgresql:druid");
    assert_eq!((url.as_str(), user), ("postgres://localhost/druid", None));
    let (url, _, _) = server(MetadataBackend::Postgres, "JDBC:PostgreSQL://h/db");
    assert_eq!(url, "postgres://h/db");
}

#[test]
fn translates_jdbc_mysql_and_mariadb_uris() {
    let (url, user, password) = server(
        MetadataBackend::MySql,
        "jdbc:mysql://127.0.0.1:3306/druid?useSSL=false",
    );
    assert_eq!(url, "mysql://127.0.0.1:3306/druid?useSSL=false");
    assert_eq!((user, password), (None, None));
    let (url, _, _) = server(MetadataBackend::MySql, "jdbc:mariadb://maria:3307/meta");
    assert_eq!(url, "mysql://maria:3307/meta");
}

#[test]
fn accepts_sqlx_urls_with_encoded_userinfo() {
    let (url, user, password) = server(
        MetadataBackend::Postgres,
        "postgresql://root:p%40ss%3Aw@127.0.0.1/test",
    );
    assert_eq!(url, "postgres://127.0.0.1/test");
    assert_eq!(
        (user.as_deref(), password.as_deref()),
        (Some("root"), Some("p@ss:w"))
    );
    let (url, user, _) = server(MetadataBackend::MySql, "mariadb://root@localhost/test");
    assert_eq!(
        (url.as_str(), user.as_deref()),
        ("mysql://localhost/test", Some("root"))
    );
}

#[test]
fn translates_sqlite_and_derby_uris_to_file_paths() {
    assert_eq!(sqlite_path(None), Path::new("var/druid/metadata.db"));
    assert_eq!(
        sqlite_path(Some("jdbc:sqlite:/var/lib/rtnode/meta.db")),
        Path::new("/var/lib/rtnode/meta.db")
    );
    assert_eq!(
        sqlite_path(Some("sqlite:relative.db")),
        Path::new("relative.db")
    );
    assert_eq!(
        sqlite_path(Some("sqlite:///abs.db?mode=rwc")),
        Path::new("/abs.db")
    );
    let derby = "jdbc:derby://localhost:1527/var/druid/metadata.db;create=true";
    assert_eq!(sqlite_path(Some(derby)), Path::new("var/druid/metadata.db"));
    assert_eq!(
        sqlite_path(Some("jdbc:derby:/data/meta;create=true")),
        Path::new("/data/meta")
    );
}

#[test]
fn rejects_mismatched_missing_and_unknown_uris() {
    let error = translate_uri(MetadataBackend::Postgres, Some("jdbc:mysql://h/db")).unwrap_err();
    assert_eq!(
        error,
        "`jdbc:mysql://h/db` is a mysql URI but `druid.metadata.storage.type` is `postgresql`; \
         set `druid.metadata.storage.type=mysql`"
    );
    let error = translate_uri(MetadataBackend::MySql, None).unwrap_err();
    assert_eq!(error, "a connect URI is required for `mysql`");
    let error = translate_uri(
        MetadataBackend::Postgres,
        Some("jdbc:oracle:thin:@h:1521:x"),
    )
    .unwrap_err();
    assert!(
        error.contains("is not a PostgreSQL, MySQL, SQLite or Derby URI"),
        "{error}"
    );
    assert!(translate_uri(MetadataBackend::Sqlite, Some("jdbc:sqlite::memory:")).is_err());
}

#[test]
fn an_unparsable_url_error_hides_the_password() {
    let error = translate_uri(
        MetadataBackend::Postgres,
        Some("jdbc:postgresql://u:hunter2@host:notaport/db"),
    )
    .unwrap_err();
    assert!(!error.contains("hunter2"), "{error}");
    assert!(
        error.contains("postgres://u:***@host:notaport/db"),
        "{error}"
    );
}

#[test]
fn reads_druid_properties() {
    let config = MetadataStoreConfig::from_properties(&properties(
        "druid.metadata.storage.type=postgresql\n\
         druid.metadata.storage.connector.connectURI=jdbc:postgresql://pg:5432/druid\n\
         druid.metadata.storage.connector.user=druid\n\
         druid.metadata.storage.connector.password=diurd\n\
         druid.metadata.storage.tables.base=rt\n\
         druid.metadata.storage.tables.segments=my_segments\n\
         druid.metadata.storage.connector.createTables=false\n\
         druid.unrelated.property=ignored\n",
    ))
    .unwrap();
    assert_eq!(config.backend, MetadataBackend::Postgres);
    assert_eq!(
        config.tables,
        MetadataTables {
            segments: "my_segments".into(),
            data_source: "rt_dataSource".into()
        }
    );
    assert!(!config.create_tables);
    assert_eq!(config.display_uri(), "postgres://druid@pg:5432/druid");
    assert_eq!(
        config.connect_url(Path::new("/")).unwrap(),
        "postgres://druid:diurd@pg:5432/druid"
    );
    assert!(!format!("{config:?}").contains("diurd"));
}

#[test]
fn defaults_to_sqlite_and_accepts_derby_as_an_alias() {
    let default = MetadataStoreConfig::from_properties(&RuntimeProperties::new()).unwrap();
    assert_eq!(
        default,
        MetadataStoreConfig::sqlite("var/druid/metadata.db")
    );
    assert_eq!(default.tables.segments, "druid_segments");
    assert_eq!(default.tables.data_source, "druid_dataSource");
    let derby = MetadataStoreConfig::from_properties(&properties(
        "druid.metadata.storage.type=derby\n\
         druid.metadata.storage.connector.connectURI=jdbc:derby://localhost:1527/var/druid/metadata.db;create=true\n",
    ))
    .unwrap();
    assert_eq!(
        derby.location,
        MetadataLocation::SqliteFile("var/druid/metadata.db".into())
    );
    let url = derby.connect_url(Path::new("/srv/rt node")).unwrap();
    assert_eq!(
        url,
        "sqlite:///srv/rt%20node/var/druid/metadata.db?mode=rwc"
    );
}

#[test]
fn resolves_druid_password_providers() {
    let text = "druid.metadata.storage.type=mysql\n\
                druid.metadata.storage.connector.connectURI=jdbc:mysql://h/db?user=u&password=from_uri\n";
    let from_uri = MetadataStoreConfig::from_properties(&properties(text)).unwrap();
    assert_eq!(from_uri.password.as_deref(), Some("from_uri"));
    let json = format!(
        "{text}druid.metadata.storage.connector.password={{\"type\":\"default\",\"password\":\"pw\"}}\n"
    );
    let provided = MetadataStoreConfig::from_properties(&properties(&json)).unwrap();
    assert_eq!(provided.password.as_deref(), Some("pw"));
    let env = format!(
        "{text}druid.metadata.storage.connector.password={{\"type\":\"environment\",\"variable\":\"RTNODE_SURELY_UNSET_VAR\"}}\n"
    );
    let error = MetadataStoreConfig::from_properties(&properties(&env)).unwrap_err();
    assert!(
        error.to_string().contains("`RTNODE_SURELY_UNSET_VAR`"),
        "{error}"
    );
}

#[test]
fn rejects_bad_types_and_table_names_naming_the_property() {
    let error =
        MetadataStoreConfig::from_properties(&properties("druid.metadata.storage.type=oracle\n"))
            .unwrap_err();
    assert!(
        error.to_string().contains("`druid.metadata.storage.type`"),
        "{error}"
    );
    assert!(
        error.to_string().contains("unknown type `oracle`"),
        "{error}"
    );
    let error = MetadataStoreConfig::from_properties(&properties(
        "druid.metadata.storage.tables.base=druid; DROP\n",
    ))
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`druid.metadata.storage.tables.base`"),
        "{error}"
    );
    let error = MetadataStoreConfig::from_properties(&properties(
        "druid.metadata.storage.tables.dataSource=9ds\n",
    ))
    .unwrap_err();
    assert!(error.to_string().contains("table name `9ds`"), "{error}");
}
