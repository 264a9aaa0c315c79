//! Product photos over real HTTP: real PNG and JPEG files made here, resized
//! copies served with immutable caching, garbage and wrong types refused with a
//! named 4xx, the same photo stored once.

use std::io::Cursor;

use serde_json::json;

use crate::common::{TestApp, request, spawn_app};
use cunlink_core::auth::Role;

/// A 1200×800 gradient (not flat, so JPEG has something to encode).
fn picture(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(1200, 800, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

async fn upload(
    app: &TestApp,
    token: &str,
    product: i64,
    ct: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {token}");
    let r = request(
        app.http,
        "POST",
        &format!("/api/market/products/{product}/photos"),
        &[("authorization", &auth), ("content-type", ct)],
        body,
    )
    .await;
    (r.status, r.json())
}

fn stored_files(app: &TestApp) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&app.dir.0.join("photos"))
}

#[tokio::test]
async fn photos_are_validated_resized_deduplicated_and_listed() {
    let mut app = spawn_app().await;
    let farmer = app.user("farmer", Role::Farmer, Some("茶香村")).await;
    let other = app.user("other-farmer", Role::Farmer, Some("茶香村")).await;
    let (s, v) = app
        .post_json(
            "/api/market/products",
            &farmer,
            json!({"name": "龙井茶", "unit": "500g", "price_fen": 12800, "stock": 10}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();

    // A real PNG: stored, two sizes.
    let png = picture(image::ImageFormat::Png);
    let (s, p) = upload(&app, &farmer, id, "image/png", png.clone()).await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(
        (p["width"].as_i64(), p["height"].as_i64()),
        (Some(1200), Some(800))
    );
    let small = p["small"].as_str().unwrap().to_string();
    let large = p["large"].as_str().unwrap().to_string();
    assert_eq!(stored_files(&app), 2);

    // Served as JPEG, resized, cached forever.
    let r = app.get(&small, &farmer).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/jpeg");
    assert!(
        r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let img = image::load_from_memory_with_format(&r.body, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (320, 213));
    assert!(
        r.body.len() < 40_000,
        "small photo is {} bytes",
        r.body.len()
    );
    let img = image::load_from_memory(&app.get(&large, &farmer).await.body).unwrap();
    assert_eq!((img.width(), img.height()), (960, 640));

    // The same photo again: 200, nothing new on disk, still one photo listed.
    let (s, again) = upload(&app, &farmer, id, "image/png", png).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["hash"], p["hash"]);
    assert_eq!(stored_files(&app), 2);

    // A JPEG is another photo.
    let (s, j) = upload(
        &app,
        &farmer,
        id,
        "image/jpeg",
        picture(image::ImageFormat::Jpeg),
    )
    .await;
    assert_eq!(s, 201, "{j}");
    assert_ne!(j["hash"], p["hash"]);
    assert_eq!(stored_files(&app), 4);

    let product = app
        .get(&format!("/api/market/products/{id}"), &farmer)
        .await
        .json();
    let photos = product["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2);
    assert_eq!(photos[0]["small"], p["small"]);
    let list = app.get("/api/market/products", &farmer).await.json();
    assert_eq!(list[0]["photos"].as_array().unwrap().len(), 2);

    // Refusals name the problem and store nothing.
    let (s, e) = upload(
        &app,
        &farmer,
        id,
        "image/png",
        b"definitely not a png".to_vec(),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (422, Some("not_an_image")), "{e}");
    let (s, e) = upload(
        &app,
        &farmer,
        id,
        "image/jpeg",
        picture(image::ImageFormat::Png),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (422, Some("not_an_image")),
        "PNG sent as JPEG: {e}"
    );
    let (s, e) = upload(&app, &farmer, id, "application/pdf", b"%PDF-1.4".to_vec()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (415, Some("unsupported_photo_type")),
        "{e}"
    );
    let tiny = {
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image::RgbImage::new(10, 10))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    let (s, e) = upload(&app, &farmer, id, "image/png", tiny).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (422, Some("photo_too_small")),
        "{e}"
    );
    let (s, e) = upload(&app, &farmer, id, "image/png", vec![0u8; 13 * 1024 * 1024]).await;
    assert_eq!(s, 413, "{e}");
    let (s, e) = upload(
        &app,
        &other,
        id,
        "image/png",
        picture(image::ImageFormat::Png),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    let (s, e) = upload(
        &app,
        &farmer,
        9999,
        "image/png",
        picture(image::ImageFormat::Png),
    )
    .await;
    assert_eq!(s, 404, "{e}");
    assert_eq!(stored_files(&app), 4);
    let r = app.get("/api/market/photos/not-a-photo.jpg", &farmer).await;
    assert_eq!(r.status, 404);
    app.stop().await;
}
