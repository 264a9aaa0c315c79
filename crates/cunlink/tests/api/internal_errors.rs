//! A request that fails inside the server (here: a table gone from under it)
//! answers a fixed 500 body; what the database said stays in the server's log.

use crate::common::{TestApp, spawn_app};

/// Drops `table` from the running server's database through a connection of
/// our own (SQLite or PostgreSQL, where tables referencing it lose their
/// foreign keys: CASCADE).
fn drop_table(app: &TestApp, table: &str) {
    let c = app.db_conn();
    let cascade = if c.is_postgres() { " CASCADE" } else { "" };
    c.execute_batch(&format!("DROP TABLE {table}{cascade}"))
        .unwrap();
}

#[tokio::test]
async fn internal_errors_answer_internal_error_and_nothing_of_sqlite() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    for path in ["/api/me/notifications", "/api/market/products"] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 200, "{path} works before: {}", r.text());
    }
    drop_table(&app, "alert_notify_prefs");
    drop_table(&app, "market_products");
    for path in ["/api/me/notifications", "/api/market/products"] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 500, "{path}: {}", r.text());
        assert_eq!(
            r.json(),
            serde_json::json!({"error": "internal", "message": "internal error"}),
            "{path}"
        );
        let text = r.text();
        for leak in [
            "sqlite",
            "postgres",
            "relation",
            "no such table",
            "notify_prefs",
            "market_products",
            "database",
        ] {
            assert!(!text.contains(leak), "{path} leaks '{leak}': {text}");
        }
    }
}
