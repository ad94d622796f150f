//! What clients see when the database refuses a write: a status they can act on (503 with
//! `Retry-After`), never the database's own words. Run on SQLite and, with TEST_DATABASE_URL,
//! on PostgreSQL.

use sqlx::Connection;

use crate::common::*;

/// Runs `ddl` on the bridge's database from a connection of its own.
async fn alter(url: &str, ddl: &str) {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(ddl).execute(&mut c).await.expect("ddl");
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(ddl).execute(&mut c).await.expect("ddl");
    }
}

#[tokio::test]
async fn a_unique_violation_while_enqueuing_is_503_without_database_text() {
    let dir = tempfile::tempdir().expect("tmp");
    for url in store_urls(dir.path()).await {
        let app = spawn_app(|c| {
            c.database_url = url.clone();
            no_workers(c);
        })
        .await;
        // A constraint the bridge does not expect: a second job of the same kind violates it.
        alter(&url, "CREATE UNIQUE INDEX jobs_one_per_kind ON jobs (kind)").await;
        let (status, _) = app
            .api(reqwest::Method::POST, "/api/v1/groups/g1/sync", None)
            .await;
        assert_eq!(status, 202, "{url}");

        let resp = app
            .http
            .post(format!("{}/api/v1/groups/g2/sync", app.url))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 503, "{url}");
        assert!(resp.headers().contains_key("retry-after"), "{url}");
        let text = resp.text().await.expect("body");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON error");
        assert_eq!(v["error"]["code"], "database_unavailable", "{url}: {text}");
        for leak in [
            "jobs_one_per_kind",
            "unique",
            "UNIQUE",
            "duplicate",
            "constraint",
        ] {
            assert!(
                !text.contains(leak),
                "{url}: database text reached the client: {text}"
            );
        }

        let body = docspace_event(7, "group.updated", serde_json::json!({ "id": "g3" }));
        let (status, v) = app.deliver_docspace(&body).await;
        assert_eq!(status, 503, "{url}: {v}");
        assert!(!v.to_string().contains("jobs_one_per_kind"), "{url}: {v}");
    }
}
