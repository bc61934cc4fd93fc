//! IIIF Image API 2.1 subset: request parsing, rendering and `info.json`.
//!
//! Replaces the Cantaloupe server of the original deployment (OPERATIONS.md §8). The webapp
//! asks for `<id>/info.json`, OpenSeadragon tiles `<id>/<x,y,w,h>/<w,>/0/default.<fmt>` and
//! crops `<id>/<x,y,w,h>/,50/0/default.jpg` and `<id>/full/,50/0/default.jpg`.
//! Section numbers below are those of <https://iiif.io/api/image/2.1/>.

use std::borrow::Cow;
use std::io::Cursor;

use image::{imageops::FilterType, DynamicImage, ImageFormat};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use crate::error::{ImageError, Result};

/// Tile edge advertised in `info.json` (what OpenSeadragon requests), in pixels.
pub const TILE_SIZE: u32 = 512;
/// Largest output this crate renders, in pixels (width × height); larger → 400.
pub const MAX_OUTPUT_PIXELS: u64 = 64 * 1024 * 1024;

/// The region part (§4.1), in image pixels or percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Region {
    /// `full`: the whole image.
    Full,
    /// `square`: the centred largest square.
    Square,
    /// `x,y,w,h` in pixels (w, h > 0).
    Pixels {
        /// Left edge.
        x: u32,
        /// Top edge.
        y: u32,
        /// Width.
        w: u32,
        /// Height.
        h: u32,
    },
    /// `pct:x,y,w,h` in percent of the full image (w, h > 0).
    Percent {
        /// Left edge.
        x: f64,
        /// Top edge.
        y: f64,
        /// Width.
        w: f64,
        /// Height.
        h: f64,
    },
}

/// The size part (§4.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    /// `full` (deprecated in 2.1 but what OpenSeadragon 2 sends) and `max`: region size.
    Max,
    /// `w,`: this width, height keeps the aspect ratio.
    Width(u32),
    /// `,h`: this height, width keeps the aspect ratio.
    Height(u32),
    /// `pct:n`: n percent of the region size.
    Percent(f64),
    /// `w,h`: exactly this size (may distort).
    Exact(u32, u32),
    /// `!w,h`: the largest size within w×h keeping the aspect ratio.
    BestFit(u32, u32),
}

/// The rotation part (§4.3): multiples of 90° only, optionally mirrored (`!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Mirror horizontally before rotating.
    pub mirror: bool,
    /// Clockwise degrees: 0, 90, 180 or 270.
    pub degrees: u16,
}

/// The quality part (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// `default` or `color`: the image's own colours.
    Default,
    /// `gray`: luma only.
    Gray,
    /// `bitonal`: black and white (luma ≥ 128 is white).
    Bitonal,
}

/// The format part (§4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `jpg` (image/jpeg).
    Jpg,
    /// `png` (image/png).
    Png,
}

impl Format {
    /// The Content-Type of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpg => "image/jpeg",
            Format::Png => "image/png",
        }
    }
}

/// A parsed `<region>/<size>/<rotation>/<quality>.<format>` request tail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageRequest {
    /// Region part.
    pub region: Region,
    /// Size part.
    pub size: Size,
    /// Rotation part.
    pub rotation: Rotation,
    /// Quality part.
    pub quality: Quality,
    /// Format part.
    pub format: Format,
}

/// Turns an IIIF identifier into an absolute path string (the caller confines it to the
/// storage roots).
///
/// Rule (OPERATIONS.md §8, webapp `iiif_url`): the identifier is the absolute path without
/// its leading `/`, percent-encoded with every `/` as `%2F` (`mnt%2Fqaboard%2Fa.png` →
/// `/mnt/qaboard/a.png`). The identifier is percent-decoded once (the webapp's `encodeURI`
/// already encodes spaces and non-ASCII) and one leading `/` is added; leading slashes of
/// the decoded id are merged into it.
///
/// Errors: [`ImageError::BadRequest`] for an empty id, invalid UTF-8 after decoding or a NUL.
pub fn id_to_path(id: &str) -> Result<String> {
    let decoded = percent_decode_str(id)
        .decode_utf8()
        .map_err(|_| ImageError::bad("identifier", "not UTF-8 after percent-decoding"))?;
    let trimmed = decoded.trim_start_matches('/');
    if trimmed.is_empty() {
        return Err(ImageError::bad("identifier", "empty"));
    }
    if trimmed.contains('\0') {
        return Err(ImageError::bad("identifier", "contains NUL"));
    }
    Ok(format!("/{trimmed}"))
}

/// The `info.json` document (§5) of an image of `width` × `height` pixels.
///
/// `id` is the image's full base URI as the client should use it (`@id`, e.g.
/// `https://host/iiif/2/mnt%2Fqaboard%2Fa.png`). The webapp reads `width`, `height` and
/// `profile[1].formats` (png when listed); OpenSeadragon reads `tiles` (512-pixel tiles,
/// scale factors 1, 2, 4, … until one tile covers the image) and `profile[0]`.
pub fn info_json(id: &str, width: u32, height: u32) -> Value {
    let mut factors = vec![1u32];
    let longest = width.max(height).max(1);
    while u64::from(TILE_SIZE) * u64::from(*factors.last().unwrap_or(&1)) < u64::from(longest) {
        let next = factors.last().copied().unwrap_or(1).saturating_mul(2);
        factors.push(next);
        if next == u32::MAX {
            break;
        }
    }
    json!({
        "@context": "http://iiif.io/api/image/2/context.json",
        "@id": id,
        "protocol": "http://iiif.io/api/image",
        "width": width,
        "height": height,
        "tiles": [{"width": TILE_SIZE, "scaleFactors": factors}],
        "profile": [
            "http://iiif.io/api/image/2/level2.json",
            {
                "formats": ["jpg", "png"],
                "qualities": ["default", "color", "gray", "bitonal"],
                "supports": [
                    "regionByPx", "regionByPct", "regionSquare",
                    "sizeByW", "sizeByH", "sizeByPct", "sizeByWh", "sizeByConfinedWh",
                    "sizeByDistortedWh", "sizeAboveFull",
                    "rotationBy90s", "mirroring",
                    "baseUriRedirect", "cors", "jsonldMediaType"
                ]
            }
        ]
    })
}

impl ImageRequest {
    /// Parses the tail after the identifier: `<region>/<size>/<rotation>/<quality>.<format>`.
    ///
    /// Each part gets its own [`ImageError::BadRequest`] (field `region`, `size`,
    /// `rotation`, `quality`, `format`) when malformed (§7: 400); well-formed rotations that
    /// are not multiples of 90 are [`ImageError::Unsupported`] (§7: 501).
    pub fn parse(tail: &str) -> Result<Self> {
        let parts: Vec<&str> = tail.trim_matches('/').split('/').collect();
        if parts.len() != 4 {
            return Err(ImageError::bad(
                "request",
                "expected <region>/<size>/<rotation>/<quality>.<format>",
            ));
        }
        let (quality, format) = parts[3]
            .rsplit_once('.')
            .ok_or_else(|| ImageError::bad("format", "missing .<format>"))?;
        Ok(ImageRequest {
            region: parse_region(parts[0])?,
            size: parse_size(parts[1])?,
            rotation: parse_rotation(parts[2])?,
            quality: match quality {
                "default" | "color" => Quality::Default,
                "gray" => Quality::Gray,
                "bitonal" => Quality::Bitonal,
                other => {
                    return Err(ImageError::bad(
                        "quality",
                        format!("unknown quality {other:?}"),
                    ))
                }
            },
            format: match format {
                "jpg" => Format::Jpg,
                "png" => Format::Png,
                "tif" | "gif" | "pdf" | "jp2" | "webp" => {
                    return Err(ImageError::Unsupported {
                        what: format!("output format {format:?}"),
                    })
                }
                other => {
                    return Err(ImageError::bad(
                        "format",
                        format!("unknown format {other:?}"),
                    ))
                }
            },
        })
    }

    /// The crop rectangle `(x, y, w, h)` within a `width` × `height` image, clipped to it
    /// (§4.1: a region partly outside is cropped at the edges; wholly outside → 400).
    pub fn region_rect(&self, width: u32, height: u32) -> Result<(u32, u32, u32, u32)> {
        let (x, y, w, h) = match self.region {
            Region::Full => (0u64, 0u64, u64::from(width), u64::from(height)),
            Region::Square => {
                let side = width.min(height);
                (
                    u64::from((width - side) / 2),
                    u64::from((height - side) / 2),
                    u64::from(side),
                    u64::from(side),
                )
            }
            Region::Pixels { x, y, w, h } => (x.into(), y.into(), w.into(), h.into()),
            Region::Percent { x, y, w, h } => {
                let px = |p: f64, full: u32| (p / 100.0 * f64::from(full)).round() as u64;
                (
                    px(x, width),
                    px(y, height),
                    px(w, width).max(1),
                    px(h, height).max(1),
                )
            }
        };
        if x >= u64::from(width) || y >= u64::from(height) {
            return Err(ImageError::bad("region", "outside the image"));
        }
        let w = w.min(u64::from(width) - x);
        let h = h.min(u64::from(height) - y);
        Ok((x as u32, y as u32, w as u32, h as u32))
    }

    /// The output size for a region of `rw` × `rh` pixels (§4.2), before rotation.
    /// The free dimension of `w,` / `,h` / `!w,h` is rounded, at least 1.
    pub fn output_size(&self, rw: u32, rh: u32) -> Result<(u32, u32)> {
        let (rw_f, rh_f) = (f64::from(rw), f64::from(rh));
        let scaled = |v: f64| (v.round().max(1.0)).min(f64::from(u32::MAX)) as u32;
        let (w, h) = match self.size {
            Size::Max => (rw, rh),
            Size::Width(w) => (w, scaled(rh_f * f64::from(w) / rw_f)),
            Size::Height(h) => (scaled(rw_f * f64::from(h) / rh_f), h),
            Size::Percent(p) => (scaled(rw_f * p / 100.0), scaled(rh_f * p / 100.0)),
            Size::Exact(w, h) => (w, h),
            Size::BestFit(bw, bh) => {
                let ratio = (f64::from(bw) / rw_f).min(f64::from(bh) / rh_f);
                (scaled(rw_f * ratio).min(bw), scaled(rh_f * ratio).min(bh))
            }
        };
        if u64::from(w) * u64::from(h) > MAX_OUTPUT_PIXELS {
            return Err(ImageError::bad(
                "size",
                format!("{w}x{h} exceeds {MAX_OUTPUT_PIXELS} pixels"),
            ));
        }
        Ok((w, h))
    }

    /// Renders this request from a decoded image: crop, resize (Lanczos-3, after a box
    /// average for large reductions: see [`resize`]), mirror/rotate, quality, encode.
    /// Returns the encoded bytes (see [`Format::content_type`]).
    ///
    /// JPEG output is 8-bit RGB (or gray), quality 90; PNG keeps an alpha channel. Deeper
    /// images (16-bit, float) are scaled to 8 bits.
    pub fn render(&self, img: &DynamicImage) -> Result<Vec<u8>> {
        let (x, y, w, h) = self.region_rect(img.width(), img.height())?;
        let (ow, oh) = self.output_size(w, h)?;
        // The whole image is used in place (no copy of a 24 Mpx image for an overview).
        let mut out = if (x, y, w, h) == (0, 0, img.width(), img.height()) {
            Cow::Borrowed(img)
        } else {
            Cow::Owned(img.crop_imm(x, y, w, h))
        };
        if (ow, oh) != (w, h) {
            out = Cow::Owned(resize(&out, ow, oh));
        }
        if self.rotation.mirror {
            out = Cow::Owned(out.fliph());
        }
        out = match self.rotation.degrees {
            90 => Cow::Owned(out.rotate90()),
            180 => Cow::Owned(out.rotate180()),
            270 => Cow::Owned(out.rotate270()),
            _ => out,
        };
        let has_alpha = out.color().has_alpha();
        // Conversions only where the layout differs from the output's.
        let out = match (self.quality, self.format, has_alpha) {
            (Quality::Gray, _, _) => Cow::Owned(DynamicImage::ImageLuma8(out.to_luma8())),
            (Quality::Bitonal, _, _) => {
                let mut l = out.to_luma8();
                for p in l.pixels_mut() {
                    p.0[0] = if p.0[0] >= 128 { 255 } else { 0 };
                }
                Cow::Owned(DynamicImage::ImageLuma8(l))
            }
            (Quality::Default, Format::Png, true) => {
                if matches!(*out, DynamicImage::ImageRgba8(_)) {
                    out
                } else {
                    Cow::Owned(DynamicImage::ImageRgba8(out.to_rgba8()))
                }
            }
            (Quality::Default, _, _) => {
                if matches!(
                    *out,
                    DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_)
                ) {
                    out
                } else if matches!(*out, DynamicImage::ImageLuma16(_)) {
                    Cow::Owned(DynamicImage::ImageLuma8(out.to_luma8()))
                } else {
                    Cow::Owned(DynamicImage::ImageRgb8(out.to_rgb8()))
                }
            }
        };
        encode(&out, self.format)
    }
}

/// Resizes to `ow` × `oh` with Lanczos-3. A reduction by 4× or more on both axes first
/// averages boxes of source pixels down to twice the target size (image's
/// `thumbnail_exact`, one pass, each source pixel read once), then Lanczos-3 finishes: a
/// Lanczos kernel widened to the reduction costs ~6 source pixels per source pixel per axis,
/// i.e. seconds for the overview of a 24 Mpx image, where the box pass costs one read.
fn resize(img: &DynamicImage, ow: u32, oh: u32) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    if u64::from(w) >= 4 * u64::from(ow) && u64::from(h) >= 4 * u64::from(oh) {
        img.thumbnail_exact(2 * ow, 2 * oh)
            .resize_exact(ow, oh, FilterType::Lanczos3)
    } else {
        img.resize_exact(ow, oh, FilterType::Lanczos3)
    }
}

fn encode(img: &DynamicImage, format: Format) -> Result<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    match format {
        Format::Png => img.write_to(&mut buf, ImageFormat::Png),
        Format::Jpg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90);
            img.write_with_encoder(enc)
        }
    }
    .map_err(ImageError::from_image)?;
    Ok(buf.into_inner())
}

fn parse_u32(field: &'static str, s: &str) -> Result<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ImageError::bad(
            field,
            format!("{s:?} is not a non-negative integer"),
        ));
    }
    s.parse()
        .map_err(|_| ImageError::bad(field, format!("{s:?} is too large")))
}

fn parse_pct(field: &'static str, s: &str) -> Result<f64> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match s.parse::<f64>() {
        Ok(v) if ok && v.is_finite() => Ok(v),
        _ => Err(ImageError::bad(
            field,
            format!("{s:?} is not a non-negative number"),
        )),
    }
}

fn four<'a>(field: &'static str, s: &'a str) -> Result<[&'a str; 4]> {
    let v: Vec<&str> = s.split(',').collect();
    <[&str; 4]>::try_from(v).map_err(|_| ImageError::bad(field, format!("{s:?}: expected x,y,w,h")))
}

/// §4.1: `full`, `square`, `x,y,w,h`, `pct:x,y,w,h`; width and height must be positive.
fn parse_region(s: &str) -> Result<Region> {
    match s {
        "full" => return Ok(Region::Full),
        "square" => return Ok(Region::Square),
        _ => {}
    }
    if let Some(p) = s.strip_prefix("pct:") {
        let [x, y, w, h] = four("region", p)?;
        let (x, y, w, h) = (
            parse_pct("region", x)?,
            parse_pct("region", y)?,
            parse_pct("region", w)?,
            parse_pct("region", h)?,
        );
        if w <= 0.0 || h <= 0.0 {
            return Err(ImageError::bad(
                "region",
                "width and height must be positive",
            ));
        }
        return Ok(Region::Percent { x, y, w, h });
    }
    let [x, y, w, h] = four("region", s)?;
    let (x, y, w, h) = (
        parse_u32("region", x)?,
        parse_u32("region", y)?,
        parse_u32("region", w)?,
        parse_u32("region", h)?,
    );
    if w == 0 || h == 0 {
        return Err(ImageError::bad(
            "region",
            "width and height must be positive",
        ));
    }
    Ok(Region::Pixels { x, y, w, h })
}

/// §4.2: `full`, `max`, `w,`, `,h`, `pct:n`, `w,h`, `!w,h`; sizes must be positive.
fn parse_size(s: &str) -> Result<Size> {
    let positive = |v: u32| {
        if v == 0 {
            Err(ImageError::bad("size", "must be positive"))
        } else {
            Ok(v)
        }
    };
    match s {
        "full" | "max" => return Ok(Size::Max),
        _ => {}
    }
    if let Some(p) = s.strip_prefix("pct:") {
        let v = parse_pct("size", p)?;
        if v <= 0.0 {
            return Err(ImageError::bad("size", "percent must be positive"));
        }
        return Ok(Size::Percent(v));
    }
    let (best_fit, body) = match s.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (w, h) = body
        .split_once(',')
        .ok_or_else(|| ImageError::bad("size", format!("{s:?}: expected w,h")))?;
    match (w.is_empty(), h.is_empty(), best_fit) {
        (false, true, false) => Ok(Size::Width(positive(parse_u32("size", w)?)?)),
        (true, false, false) => Ok(Size::Height(positive(parse_u32("size", h)?)?)),
        (false, false, fit) => {
            let (w, h) = (
                positive(parse_u32("size", w)?)?,
                positive(parse_u32("size", h)?)?,
            );
            Ok(if fit {
                Size::BestFit(w, h)
            } else {
                Size::Exact(w, h)
            })
        }
        _ => Err(ImageError::bad("size", format!("{s:?}: expected w,h"))),
    }
}

/// §4.3: a number of degrees, optionally prefixed by `!` (mirror).
fn parse_rotation(s: &str) -> Result<Rotation> {
    let (mirror, body) = match s.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let deg = parse_pct("rotation", body)?;
    if deg > 360.0 {
        return Err(ImageError::bad("rotation", "must be within 0..=360"));
    }
    let degrees = if deg == 0.0 || deg == 360.0 {
        0
    } else if deg == 90.0 {
        90
    } else if deg == 180.0 {
        180
    } else if deg == 270.0 {
        270
    } else {
        return Err(ImageError::Unsupported {
            what: format!("rotation {s:?} (multiples of 90 only)"),
        });
    };
    Ok(Rotation { mirror, degrees })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_webapp_and_openseadragon_send() {
        let r = ImageRequest::parse("0,0,512,512/256,/0/default.png").unwrap();
        assert_eq!(
            r.region,
            Region::Pixels {
                x: 0,
                y: 0,
                w: 512,
                h: 512
            }
        );
        assert_eq!(r.size, Size::Width(256));
        assert_eq!(
            r.rotation,
            Rotation {
                mirror: false,
                degrees: 0
            }
        );
        assert_eq!((r.quality, r.format), (Quality::Default, Format::Png));
        let r = ImageRequest::parse("full/,50/0/default.jpg").unwrap();
        assert_eq!(
            (r.region, r.size, r.format),
            (Region::Full, Size::Height(50), Format::Jpg)
        );
        let r = ImageRequest::parse("square/!10,20/!90/gray.jpg").unwrap();
        assert_eq!(r.size, Size::BestFit(10, 20));
        assert_eq!(
            r.rotation,
            Rotation {
                mirror: true,
                degrees: 90
            }
        );
        assert_eq!(
            ImageRequest::parse("pct:10,10,50,50/pct:50/0/color.png")
                .unwrap()
                .size,
            Size::Percent(50.0)
        );
        assert_eq!(
            ImageRequest::parse("full/max/0/default.png").unwrap().size,
            Size::Max
        );
        assert_eq!(
            ImageRequest::parse("full/3,4/0/default.png").unwrap().size,
            Size::Exact(3, 4)
        );
    }

    fn field(tail: &str) -> &'static str {
        match ImageRequest::parse(tail) {
            Err(ImageError::BadRequest { field, .. }) => field,
            other => panic!("{tail}: {other:?}"),
        }
    }

    #[test]
    fn each_malformed_part_names_itself() {
        assert_eq!(field("0,0,10/full/0/default.png"), "region");
        assert_eq!(field("0,0,0,10/full/0/default.png"), "region");
        assert_eq!(field("-1,0,10,10/full/0/default.png"), "region");
        assert_eq!(field("full/0,/0/default.png"), "size");
        assert_eq!(field("full/,/0/default.png"), "size");
        assert_eq!(field("full/!10,/0/default.png"), "size");
        assert_eq!(field("full/abc/0/default.png"), "size");
        assert_eq!(field("full/full/x/default.png"), "rotation");
        assert_eq!(field("full/full/0/best.png"), "quality");
        assert_eq!(field("full/full/0/default.bmp"), "format");
        assert_eq!(field("full/full/0/default"), "format");
        assert_eq!(field("full/full/0"), "request");
        assert!(matches!(
            ImageRequest::parse("full/full/45/default.png"),
            Err(ImageError::Unsupported { .. })
        ));
    }

    #[test]
    fn regions_clip_and_sizes_keep_ratio() {
        let r = ImageRequest::parse("90,10,50,50/max/0/default.png").unwrap();
        assert_eq!(r.region_rect(100, 40).unwrap(), (90, 10, 10, 30));
        let r = ImageRequest::parse("100,0,5,5/max/0/default.png").unwrap();
        assert!(r.region_rect(100, 40).is_err());
        let r = ImageRequest::parse("full/,50/0/default.jpg").unwrap();
        assert_eq!(r.output_size(300, 100).unwrap(), (150, 50));
        let r = ImageRequest::parse("full/!100,100/0/default.jpg").unwrap();
        assert_eq!(r.output_size(300, 100).unwrap(), (100, 33));
        let r = ImageRequest::parse("square/max/0/default.jpg").unwrap();
        assert_eq!(r.region_rect(300, 100).unwrap(), (100, 0, 100, 100));
    }

    #[test]
    fn ids_are_absolute_paths_with_encoded_slashes() {
        assert_eq!(
            id_to_path("mnt%2Fqaboard%2Fa%20b.png").unwrap(),
            "/mnt/qaboard/a b.png"
        );
        assert_eq!(id_to_path("%2Fmnt%2Fx.png").unwrap(), "/mnt/x.png");
        assert!(id_to_path("").is_err());
        assert!(id_to_path("a%00b").is_err());
        assert!(id_to_path("%FF").is_err());
    }

    #[test]
    fn info_json_has_what_clients_read() {
        let v = info_json("http://h/iiif/2/a.png", 6000, 4000);
        assert_eq!(v["width"], 6000);
        assert_eq!(v["profile"][1]["formats"][1], "png");
        assert_eq!(v["tiles"][0]["scaleFactors"], json!([1, 2, 4, 8, 16]));
        assert_eq!(
            info_json("x", 10, 10)["tiles"][0]["scaleFactors"],
            json!([1])
        );
    }
}
