//! Consult photos (a rash, a wound, a medicine box): decoded to prove they are
//! images, re-encoded as one small JPEG for a weak link, size-limited. The same
//! idea as the market's product photos, written for the clinic (no domain
//! depends on a sibling). Unlike product photos they are private: the bytes
//! stay in `clinic_photos` and are served only after the record's access check.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};

/// Largest upload accepted (bytes).
pub const MAX_BYTES: usize = 12 * 1024 * 1024;
/// Width kept: enough for a doctor to see a rash on a phone, ~60-120 KB.
pub const WIDTH: u32 = 1024;
const MAX_PIXELS: u64 = 50_000_000;
const MAX_SIDE: u32 = 12_000;
const JPEG_QUALITY: u8 = 80;
/// Photos per consult.
pub const MAX_PER_CONSULT: i64 = 8;

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("Content-Type must be image/jpeg, image/png or image/webp, got '{0}'")]
    UnsupportedType(String),
    #[error("the photo is {0} bytes; at most {MAX_BYTES} are accepted")]
    TooLarge(usize),
    #[error("the body is not a readable image: {0}")]
    NotAnImage(String),
    #[error("the photo is {0}×{1} px; at most {MAX_SIDE} px a side and 50 megapixels are accepted")]
    TooManyPixels(u32, u32),
    #[error("the photo is {0}×{1} px; at least 64 px a side is needed")]
    TooSmall(u32, u32),
    #[error("encoding the photo failed: {0}")]
    Encode(String),
}

/// A re-encoded photo.
pub struct Prepared {
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
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

/// Decode, check, shrink and re-encode (which also drops EXIF, GPS included).
/// CPU-heavy: call from a blocking thread.
pub fn prepare(body: &[u8], format: ImageFormat) -> Result<Prepared, PhotoError> {
    if body.len() > MAX_BYTES {
        return Err(PhotoError::TooLarge(body.len()));
    }
    let bad = |e: image::ImageError| PhotoError::NotAnImage(e.to_string());
    // Dimensions from the header first: a decompression bomb is refused before
    // its pixels are allocated.
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
    let tw = WIDTH.min(w);
    let th = ((u64::from(h) * u64::from(tw)) / u64::from(w)).max(1) as u32;
    let small = if tw == w {
        rgb
    } else {
        rgb.resize_exact(tw, th, FilterType::Triangle)
    };
    let mut jpeg = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY);
    small
        .write_with_encoder(enc)
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(Prepared {
        width: tw,
        height: th,
        jpeg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_and_refuses_garbage() {
        let img = image::RgbImage::from_fn(2000, 1000, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img)
            .write_to(&mut png, ImageFormat::Png)
            .unwrap();
        let p = prepare(png.get_ref(), ImageFormat::Png).unwrap();
        assert_eq!((p.width, p.height), (WIDTH, 512));
        assert!(matches!(
            prepare(b"nope", ImageFormat::Jpeg),
            Err(PhotoError::NotAnImage(_))
        ));
        assert!(matches!(format_of("text/plain"), Err(PhotoError::UnsupportedType(_))));
    }
}
