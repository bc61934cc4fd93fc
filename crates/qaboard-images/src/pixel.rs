//! Pixel look-up of `GET /api/v1/output/image/pixel` (orig: `auto_rois.get_pixel`).

use image::DynamicImage;
use serde_json::{json, Value};

use crate::decode::{Decoded, Gray32};
use crate::error::{ImageError, Result};
use crate::wire::{PixelMeta, PixelResponse};

/// The mode name of a decoded image, as Pillow names modes where Pillow has one
/// (`L`, `LA`, `RGB`, `RGBA`, `I;16` for 16-bit gray, `F` for 32-bit float gray, `I` for
/// 32-bit signed gray). Palette images are expanded by the decoder and report `RGB`/`RGBA`
/// with colour values where Pillow would say `P` and give the index.
///
/// Layouts Pillow cannot hold keep their full depth here and get Pillow's raw-mode style
/// names: `LA;16`, `RGB;16`, `RGBA;16`, `RGB;F`, `RGBA;F` (Pillow would truncate or refuse).
pub fn mode_name(decoded: &Decoded) -> &'static str {
    match &decoded.gray32 {
        Some(Gray32::F32(_)) => return "F",
        Some(Gray32::I32(_)) => return "I",
        None => {}
    }
    match &decoded.image {
        DynamicImage::ImageLuma8(_) => "L",
        DynamicImage::ImageLumaA8(_) => "LA",
        DynamicImage::ImageRgb8(_) => "RGB",
        DynamicImage::ImageRgba8(_) => "RGBA",
        DynamicImage::ImageLuma16(_) => "I;16",
        DynamicImage::ImageLumaA16(_) => "LA;16",
        DynamicImage::ImageRgb16(_) => "RGB;16",
        DynamicImage::ImageRgba16(_) => "RGBA;16",
        DynamicImage::ImageRgb32F(_) => "RGB;F",
        DynamicImage::ImageRgba32F(_) => "RGBA;F",
        _ => "data",
    }
}

fn float(v: f32) -> Value {
    // JSON has no NaN/Infinity: those become null.
    serde_json::Number::from_f64(f64::from(v)).map_or(Value::Null, Value::Number)
}

/// The value at 1-based (`x`, `y`): `[y-1][x-1]` in row-major order, as the original.
///
/// One-channel images answer a number, others `[c0, c1, …]` in the image's channel order
/// (`[r,g,b]`, `[r,g,b,a]`, `[l,a]`), integers for integer images and floats for float ones.
///
/// Errors: x or y < 1 → [`ImageError::BadRequest`] (the original wrapped 0 to the last
/// column); beyond the width or height → [`ImageError::NotFound`] (the original: 500).
pub fn pixel_at(decoded: &Decoded, x: i64, y: i64) -> Result<PixelResponse> {
    let img = &decoded.image;
    if x < 1 {
        return Err(ImageError::bad("x", "must be at least 1"));
    }
    if y < 1 {
        return Err(ImageError::bad("y", "must be at least 1"));
    }
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    if x > w || y > h {
        return Err(ImageError::NotFound {
            what: format!("pixel ({x}, {y}) outside the {w}x{h} image"),
        });
    }
    let (px, py) = ((x - 1) as u32, (y - 1) as u32);
    let index = py as usize * img.width() as usize + px as usize;
    let value = match (&decoded.gray32, img) {
        (Some(Gray32::F32(v)), _) => float(v[index]),
        (Some(Gray32::I32(v)), _) => json!(v[index]),
        (None, img) => match img {
            DynamicImage::ImageLuma8(b) => json!(b.get_pixel(px, py).0[0]),
            DynamicImage::ImageLumaA8(b) => json!(b.get_pixel(px, py).0),
            DynamicImage::ImageRgb8(b) => json!(b.get_pixel(px, py).0),
            DynamicImage::ImageRgba8(b) => json!(b.get_pixel(px, py).0),
            DynamicImage::ImageLuma16(b) => json!(b.get_pixel(px, py).0[0]),
            DynamicImage::ImageLumaA16(b) => json!(b.get_pixel(px, py).0),
            DynamicImage::ImageRgb16(b) => json!(b.get_pixel(px, py).0),
            DynamicImage::ImageRgba16(b) => json!(b.get_pixel(px, py).0),
            DynamicImage::ImageRgb32F(b) => Value::Array(b.get_pixel(px, py).0.map(float).to_vec()),
            DynamicImage::ImageRgba32F(b) => {
                Value::Array(b.get_pixel(px, py).0.map(float).to_vec())
            }
            other => {
                return Err(ImageError::Unsupported {
                    what: format!("pixel layout {:?}", other.color()),
                })
            }
        },
    };
    Ok(PixelResponse {
        value,
        meta: PixelMeta {
            mode: mode_name(decoded).to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};

    #[test]
    fn one_based_row_major() {
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_fn(3, 2, |x, y| {
            Rgb([x as u8, y as u8, 7])
        }));
        let img = Decoded::from(img);
        let p = pixel_at(&img, 3, 2).unwrap();
        assert_eq!(p.value, json!([2, 1, 7]));
        assert_eq!(p.meta.mode, "RGB");
        assert!(matches!(
            pixel_at(&img, 0, 1),
            Err(ImageError::BadRequest { field: "x", .. })
        ));
        assert!(matches!(
            pixel_at(&img, 1, -3),
            Err(ImageError::BadRequest { field: "y", .. })
        ));
        assert!(matches!(
            pixel_at(&img, 4, 1),
            Err(ImageError::NotFound { .. })
        ));
        assert!(matches!(
            pixel_at(&img, 1, 3),
            Err(ImageError::NotFound { .. })
        ));
    }

    #[test]
    fn deep_and_float_images() {
        let g16 = DynamicImage::ImageLuma16(ImageBuffer::from_pixel(2, 2, Luma([60000u16])));
        let g16 = Decoded::from(g16);
        let p = pixel_at(&g16, 2, 2).unwrap();
        assert_eq!((p.value, p.meta.mode.as_str()), (json!(60000), "I;16"));
        let f = DynamicImage::ImageRgba32F(ImageBuffer::from_pixel(
            1,
            1,
            Rgba([0.5f32, f32::NAN, -1.0, 1.0]),
        ));
        let f = Decoded::from(f);
        let p = pixel_at(&f, 1, 1).unwrap();
        assert_eq!(p.value, json!([0.5, null, -1.0, 1.0]));
        assert_eq!(p.meta.mode, "RGBA;F");
    }
}
