//! Test support (the `test-util` feature): a fresh PostgreSQL database per test, on the server
//! `scripts/services.sh` starts. Never compiled into a shipped build.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The variable naming the PostgreSQL server tests create their databases on.
pub const TEST_DATABASE_URL_ENV: &str = "SWITCHBOARD_TEST_DATABASE_URL";

/// Creates an empty database with a random name on the test server and returns its URL, so
/// tests running in parallel never share tables. Panics (failing the test, never skipping it)
/// when [`TEST_DATABASE_URL_ENV`] is unset or the server cannot be reached.
#[allow(clippy::panic)]
pub async fn fresh_postgres_url() -> String {
    let Ok(admin) = std::env::var(TEST_DATABASE_URL_ENV) else {
        panic!(
            "set {TEST_DATABASE_URL_ENV} to a PostgreSQL server's URL \
             (`bash scripts/services.sh cargo test …` starts one)"
        );
    };
    let mut conn = match PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => panic!("cannot connect to {TEST_DATABASE_URL_ENV}: {e}"),
    };
    let name = format!("sb_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    if let Err(e) = sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
    {
        panic!("cannot create the test database {name}: {e}");
    }
    let _ = conn.close().await;
    with_database(&admin, &name)
}

/// `url` pointing at database `name` instead of the one it names.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, query) = match rest.find(['/', '?']) {
        Some(i) => {
            let tail = &rest[i..];
            (&rest[..i], tail.find('?').map_or("", |q| &tail[q..]))
        }
        None => (rest, ""),
    };
    format!("{scheme}://{authority}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_swapped_and_options_kept() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5/postgres", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
