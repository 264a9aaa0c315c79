//! School channels: the contract forms, content served with Range/ETag/
//! immutable, chunk manifests, and bad input (hash mismatch, unknown channel,
//! another village's channel) changing nothing.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::{Resp, request, spawn_app};
use cunlink_core::auth::Role;

pub fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Upload `data` as `name` into channel `id` with `token`.
pub async fn upload(
    addr: std::net::SocketAddr,
    token: &str,
    id: i64,
    query: &str,
    data: &[u8],
) -> Resp {
    let auth = format!("Bearer {token}");
    request(
        addr,
        "POST",
        &format!("/api/school/channels/{id}/files?{query}"),
        &[
            ("authorization", &auth),
            ("content-type", "application/octet-stream"),
        ],
        data.to_vec(),
    )
    .await
}

#[tokio::test]
async fn channel_contract_and_content_serving() {
    let app = spawn_app().await;
    let teacher = app.user("t1", Role::Teacher, Some("县城")).await;
    let (st, v) = app
        .post_json(
            "/api/school/channels",
            &teacher,
            json!({"name": "县城第一小学", "description": "三年级语文"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();

    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = sha_hex(&data);
    let r = upload(app.http, &teacher, id, "name=lesson1.mp4", &data).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json(), json!({"sha256": sha, "size": 3_000_000}));
    // The file is on disk under its hash.
    let on_disk = app.dir.0.join("school/content").join(&sha[..2]).join(&sha);
    assert_eq!(std::fs::read(&on_disk).unwrap(), data);

    let (st, v) = app
        .post_json(
            &format!("/api/school/channels/{id}/publish"),
            &teacher,
            json!({}),
        )
        .await;
    assert_eq!((st, v.clone()), (200, json!({"version": 1})), "{v}");
    let r = app
        .get(&format!("/api/school/channels/{id}"), &teacher)
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["id"], id);
    assert_eq!(v["name"], "县城第一小学");
    assert_eq!(v["version"], 1);
    assert_eq!(v["files"][0]["name"], "lesson1.mp4");
    assert_eq!(v["files"][0]["sha256"], sha);
    assert_eq!(v["files"][0]["size"], 3_000_000);

    // Whole file: 200, ETag, immutable.
    let path = format!("/api/school/content/{sha}");
    let r = app.get(&path, &teacher).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    let etag = r.headers["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{sha}\""));
    assert!(
        r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(r.headers["accept-ranges"], "bytes");

    let auth = format!("Bearer {teacher}");
    let ranged = |range: &'static str| {
        let auth = auth.clone();
        let path = path.clone();
        let addr = app.http;
        async move {
            request(
                addr,
                "GET",
                &path,
                &[("authorization", &auth), ("range", range)],
                vec![],
            )
            .await
        }
    };
    let r = ranged("bytes=100-199").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[100..200]);
    assert_eq!(r.headers["content-range"], "bytes 100-199/3000000");
    let r = ranged("bytes=-10").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[data.len() - 10..]);
    let r = ranged("bytes=2999990-").await;
    assert_eq!(r.body, &data[2_999_990..]);
    let r = ranged("bytes=3000000-").await;
    assert_eq!(r.status, 416);
    assert_eq!(r.headers["content-range"], "bytes */3000000");
    let r = request(
        app.http,
        "GET",
        &path,
        &[("authorization", &auth), ("if-none-match", &etag)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 304);

    // The chunk manifest: 1 MiB chunks, each hash right.
    let r = app.get(&format!("{path}/chunks"), &teacher).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["chunk_size"], 1_048_576);
    let chunks: Vec<String> = v["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(chunks.len(), 3);
    for (i, c) in chunks.iter().enumerate() {
        let end = ((i + 1) * 1_048_576).min(data.len());
        assert_eq!(*c, sha_hex(&data[i * 1_048_576..end]));
    }

    // The same bytes in another channel are stored once.
    let (_, v) = app
        .post_json("/api/school/channels", &teacher, json!({"name": "备课"}))
        .await;
    let id2 = v["id"].as_i64().unwrap();
    let r = upload(app.http, &teacher, id2, "name=copy.mp4", &data).await;
    assert_eq!(r.status, 201);
    let files = std::fs::read_dir(app.dir.0.join("school/content").join(&sha[..2]))
        .unwrap()
        .count();
    assert_eq!(files, 1);

    // Two publishes at once (as on two nodes) get two version numbers.
    let publish = format!("/api/school/channels/{id2}/publish");
    let (a, b) = tokio::join!(
        app.post_json(&publish, &teacher, json!({})),
        app.post_json(&publish, &teacher, json!({}))
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    let mut got = [a.1["version"].as_i64(), b.1["version"].as_i64()];
    got.sort();
    assert_eq!(got, [Some(1), Some(2)]);
}

#[tokio::test]
async fn bad_channel_input_changes_nothing() {
    let app = spawn_app().await;
    let teacher = app.user("t1", Role::Teacher, Some("县城")).await;
    let other = app.user("t2", Role::Teacher, Some("茶香村")).await;
    let farmer = app.user("f1", Role::Farmer, Some("县城")).await;
    let (_, v) = app
        .post_json("/api/school/channels", &teacher, json!({"name": "A"}))
        .await;
    let id = v["id"].as_i64().unwrap();

    // A body whose hash is not the one sent: 400 naming sha256, nothing kept.
    let data = b"lesson bytes".to_vec();
    let wrong = sha_hex(b"something else");
    let r = upload(
        app.http,
        &teacher,
        id,
        &format!("name=a.txt&sha256={wrong}"),
        &data,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"], "hash_mismatch");
    assert_eq!(r.json()["field"], "sha256");
    assert!(
        !app.dir
            .0
            .join("school/content")
            .join(&sha_hex(&data)[..2])
            .exists()
    );
    let tmp = app.dir.0.join("school/tmp");
    assert_eq!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0), 0);
    let v = app
        .get(&format!("/api/school/channels/{id}"), &teacher)
        .await
        .json();
    assert_eq!(v["files"], json!([]));
    // The right hash is taken.
    let r = upload(
        app.http,
        &teacher,
        id,
        &format!("name=a.txt&sha256={}", sha_hex(&data)),
        &data,
    )
    .await;
    assert_eq!(r.status, 201);

    // An uploaded HTML lesson runs in an opaque origin.
    let html = b"<script>fetch('/api/me')</script>";
    let r = upload(app.http, &teacher, id, "name=app.html", html).await;
    assert_eq!(r.status, 201);
    let r = app
        .get(&format!("/api/school/content/{}?name=app.html", sha_hex(html)), &teacher)
        .await;
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers["content-security-policy"], "sandbox allow-scripts");

    // Unknown channel: 404 for reads and writes; nothing stored.
    let r = app.get("/api/school/channels/9999", &teacher).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown_channel");
    let r = upload(app.http, &teacher, 9999, "name=x.txt", b"xyz").await;
    assert_eq!(r.status, 404);
    assert!(
        !app.dir
            .0
            .join("school/content")
            .join(&sha_hex(b"xyz")[..2])
            .exists()
    );
    let (st, _) = app
        .post_json("/api/school/channels/9999/publish", &teacher, json!({}))
        .await;
    assert_eq!(st, 404);
    let r = app.get("/api/school/channels/9999/export", &teacher).await;
    assert_eq!(r.status, 404);

    // Missing name, bad name, empty channel name: 400 naming the field.
    let r = upload(app.http, &teacher, id, "", b"x").await;
    assert_eq!((r.status, r.json()["field"].clone()), (400, json!("name")));
    let r = upload(app.http, &teacher, id, "name=..%2Fetc", b"x").await;
    assert_eq!((r.status, r.json()["field"].clone()), (400, json!("name")));
    let (st, v) = app
        .post_json("/api/school/channels", &teacher, json!({"name": ""}))
        .await;
    assert_eq!((st, v["field"].clone()), (400, json!("name")));

    // Another village's teacher and a farmer may not change it.
    let r = upload(app.http, &other, id, "name=b.txt", b"b").await;
    assert_eq!(r.status, 403);
    let r = upload(app.http, &farmer, id, "name=b.txt", b"b").await;
    assert_eq!(r.status, 403);
    let (st, _) = app
        .post_json(
            &format!("/api/school/channels/{id}/publish"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(st, 403);
    // Unpublished: no export yet.
    let r = app
        .get(&format!("/api/school/channels/{id}/export"), &teacher)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unpublished_channel");
    // Content that is not here, or a name that is not a hash.
    let r = app
        .get(
            &format!("/api/school/content/{}", sha_hex(b"nope")),
            &teacher,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .get("/api/school/content/..%2F..%2Fcunlink.db", &teacher)
        .await;
    assert_eq!(r.status, 404);
}
