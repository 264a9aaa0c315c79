//! A request that fails inside the server (here: a table gone from under it)
//! answers a fixed 500 body; what SQLite said stays in the server's log.

use crate::common::spawn_app;

/// Drops `table` from the running server's database through a connection of our own.
fn drop_table(db: &std::path::Path, table: &str) {
    let c = cunlink_core::db::open_connection(db).unwrap();
    c.execute_batch(&format!("DROP TABLE {table}")).unwrap();
}

#[tokio::test]
async fn internal_errors_answer_internal_error_and_nothing_of_sqlite() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    for path in ["/api/me/notifications", "/api/market/products"] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 200, "{path} works before: {}", r.text());
    }
    let db = app.dir.0.join("cunlink.db");
    drop_table(&db, "alert_notify_prefs");
    drop_table(&db, "market_products");
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
            "no such table",
            "notify_prefs",
            "market_products",
            "database",
        ] {
            assert!(!text.contains(leak), "{path} leaks '{leak}': {text}");
        }
    }
}
