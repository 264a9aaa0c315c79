//! Product photos: decoded to prove they are images, resized for weak links,
//! stored once by content hash.
//!
//! A farmer's phone sends a 3-12 MP photo; a buyer on 3G needs ~20 KB. Each upload
//! is decoded (so a renamed file or garbage is refused, not stored), its EXIF-less
//! pixels hashed (SHA-256 of width, height and RGB bytes: the same photo sent twice,
//! even re-encoded losslessly, is one file set), and written as JPEG at
//! [`SIZES`] px wide. Files never change once written, so they are served with
//! `immutable` cache headers under a name that is their hash.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use cunlink_core::sql::Connection;
use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::MarketError;
use crate::store;

/// Widths kept: a list thumbnail and a product page picture.
pub const SIZES: [u32; 2] = [320, 960];
/// Largest upload accepted (bytes).
pub const MAX_BYTES: usize = 12 * 1024 * 1024;
/// Largest picture accepted, in pixels (a 48 MP phone camera).
const MAX_PIXELS: u64 = 50_000_000;
const MAX_SIDE: u32 = 12_000;
/// Enough for a small phone screen; ~25 KB at 320 px.
const JPEG_QUALITY: u8 = 75;
/// Photos per product.
const MAX_PHOTOS: i64 = 8;

/// Why an upload was refused, each a distinct 4xx.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("Content-Type must be image/jpeg, image/png or image/webp, got '{0}'")]
    UnsupportedType(String),
    #[error("the photo is {0} bytes; at most {MAX_BYTES} are accepted")]
    TooLarge(usize),
    #[error("the body is not a readable {0} image: {1}")]
    NotAnImage(&'static str, String),
    #[error("the photo is {0}×{1} px; at most {MAX_SIDE} px a side and 50 megapixels are accepted")]
    TooManyPixels(u32, u32),
    #[error("the photo is {0}×{1} px; at least 64 px a side is needed")]
    TooSmall(u32, u32),
    #[error("storing the photo failed: {0}")]
    Io(String),
}

/// A decoded, resized photo ready to store.
pub struct Prepared {
    pub hash: String,
    pub width: u32,
    pub height: u32,
    /// (width, JPEG bytes) per size.
    pub files: Vec<(u32, Vec<u8>)>,
}

/// The format a Content-Type names, if it is one we take.
pub fn format_of(content_type: &str) -> Result<ImageFormat, PhotoError> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "image/jpeg" | "image/jpg" => Ok(ImageFormat::Jpeg),
        "image/png" => Ok(ImageFormat::Png),
        "image/webp" => Ok(ImageFormat::WebP),
        _ => Err(PhotoError::UnsupportedType(ct)),
    }
}

fn name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        _ => "WebP",
    }
}

/// Decode, check and resize. CPU-heavy: call from a blocking thread.
pub fn prepare(body: &[u8], format: ImageFormat) -> Result<Prepared, PhotoError> {
    if body.len() > MAX_BYTES {
        return Err(PhotoError::TooLarge(body.len()));
    }
    let bad = |e: image::ImageError| PhotoError::NotAnImage(name(format), e.to_string());
    // Dimensions first, from the header, so a decompression bomb is refused
    // before its pixels are allocated.
    let (w, h) = ImageReader::with_format(Cursor::new(body), format)
        .into_dimensions()
        .map_err(bad)?;
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(PhotoError::TooManyPixels(w, h));
    }
    if w < 64 || h < 64 {
        return Err(PhotoError::TooSmall(w, h));
    }
    let mut reader = ImageReader::with_format(Cursor::new(body), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    reader.limits(limits);
    let img = reader.decode().map_err(bad)?;
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    let mut hasher = Sha256::new();
    hasher.update(w.to_le_bytes());
    hasher.update(h.to_le_bytes());
    hasher.update(rgb.as_bytes());
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut files = Vec::with_capacity(SIZES.len());
    for &size in &SIZES {
        // Never enlarge: a small photo stays its size.
        let tw = size.min(w);
        let th = ((u64::from(h) * u64::from(tw)) / u64::from(w)).max(1) as u32;
        let small = if tw == w {
            rgb.clone()
        } else {
            rgb.resize_exact(tw, th, FilterType::Triangle)
        };
        let mut out = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
        small
            .write_with_encoder(enc)
            .map_err(|e| PhotoError::Io(e.to_string()))?;
        files.push((size, out));
    }
    Ok(Prepared {
        hash,
        width: w,
        height: h,
        files,
    })
}

/// Where photo files live: `<data_dir>/photos/<first two hex>/<hash>-<size>.jpg`.
pub fn file_path(dir: &Path, hash: &str, size: u32) -> PathBuf {
    dir.join(&hash[..2]).join(format!("{hash}-{size}.jpg"))
}

/// Write the files unless they exist (same hash = same bytes). Written to a
/// temporary name, synced, then renamed, so a crash never leaves half a photo
/// under its final name.
pub fn store_files(dir: &Path, p: &Prepared) -> Result<(), PhotoError> {
    use std::io::Write;
    let io = |e: std::io::Error| PhotoError::Io(e.to_string());
    for (size, bytes) in &p.files {
        let path = file_path(dir, &p.hash, *size);
        if path.exists() {
            continue;
        }
        let parent = path
            .parent()
            .ok_or_else(|| PhotoError::Io("bad photo path".into()))?;
        std::fs::create_dir_all(parent).map_err(io)?;
        let tmp = parent.join(format!(".{}-{size}.{}.tmp", p.hash, std::process::id()));
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A photo as the API lists it.
pub fn json_of(hash: &str, width: i64, height: i64) -> Value {
    json!({
        "hash": hash, "width": width, "height": height,
        "small": format!("/api/market/photos/{hash}-{}.jpg", SIZES[0]),
        "large": format!("/api/market/photos/{hash}-{}.jpg", SIZES[1]),
    })
}

/// Link a stored photo to a product the caller owns. Returns the photo and
/// whether it was new for this product.
pub fn attach(
    conn: &Connection,
    producer: i64,
    admin: bool,
    product: i64,
    p: &Prepared,
) -> Result<(Value, bool), MarketError> {
    match store::products::owner(conn, product)? {
        None => {
            return Err(MarketError::not_found(
                "unknown_product",
                format!("there is no product {product}"),
            ));
        }
        Some(o) if o != producer && !admin => {
            return Err(MarketError::forbidden(
                "only the producer who listed this product may add its photos",
            ));
        }
        _ => {}
    }
    let exists = store::photos::exists(conn, product, &p.hash)?;
    if !exists {
        let n = store::photos::count(conn, product)?;
        if n >= MAX_PHOTOS {
            return Err(MarketError::conflict(
                "too_many_photos",
                None,
                format!("a product has at most {MAX_PHOTOS} photos"),
            ));
        }
        store::photos::insert(conn, product, &p.hash, p.width, p.height)?;
    }
    Ok((json_of(&p.hash, p.width.into(), p.height.into()), !exists))
}

/// The photos of a product, first added first.
pub fn of_product(conn: &Connection, product: i64) -> Result<Vec<Value>, MarketError> {
    Ok(store::photos::of_product(conn, product)?
        .into_iter()
        .map(|(hash, w, h)| json_of(&hash, w, h))
        .collect())
}

/// A served file name `<64 hex>-<size>.jpg` → (hash, size), or None.
pub fn parse_file_name(name: &str) -> Option<(&str, u32)> {
    let stem = name.strip_suffix(".jpg")?;
    let (hash, size) = stem.split_once('-')?;
    let size: u32 = size.parse().ok()?;
    let ok = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (ok && SIZES.contains(&size)).then_some((hash, size))
}
