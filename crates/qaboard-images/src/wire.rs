//! Request and response bodies of the image endpoints, as the webapp sends and reads them
//! (OPERATIONS.md §8; webapp `viewers/images/AutoCrops.js` and `tooltip.js`).

use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};

/// Query of `GET|POST /api/v1/output/image/pixel?x=&y=&image_url=`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PixelQuery {
    /// 1-based column (the webapp sends rounded OpenSeadragon coordinates).
    pub x: i64,
    /// 1-based row.
    pub y: i64,
    /// `<output_dir_url>/<path>`, e.g. `/s/mnt/qaboard/out/a.png`, possibly percent-encoded.
    pub image_url: String,
}

impl PixelQuery {
    /// The absolute path string named by `image_url` (the caller confines it): percent-decoded
    /// once, then one leading `/s` removed (as the original's `url_to_dir`):
    /// `/s/mnt/a%20b.png` → `/mnt/a b.png`.
    ///
    /// Errors: [`ImageError::BadRequest`] (field `image_url`) when not UTF-8 after decoding.
    pub fn path_string(&self) -> Result<String> {
        let decoded = percent_encoding::percent_decode_str(&self.image_url)
            .decode_utf8()
            .map_err(|_| ImageError::bad("image_url", "not UTF-8 after percent-decoding"))?;
        let path = match decoded.strip_prefix("/s/") {
            Some(rest) => format!("/{rest}"),
            None => decoded.into_owned(),
        };
        Ok(path)
    }
}

/// Answer of the pixel endpoint: `{"value": n | [c…], "meta": {"mode": "RGB"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PixelResponse {
    /// A number for one-channel images, else an array of channel values.
    pub value: serde_json::Value,
    /// Image description; the webapp prints `meta.mode`.
    pub meta: PixelMeta,
}

/// `meta` of [`PixelResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelMeta {
    /// Pillow-style mode name, see [`crate::pixel::mode_name`].
    pub mode: String,
}

fn default_threshold() -> f64 {
    0.01
}
fn default_count() -> f64 {
    20.0
}

/// Body of `POST /api/v1/output/diff/image` (`AutoCrops.generateAutoRois`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DiffImageRequest {
    /// Id of the new output (unused by the computation).
    #[serde(default)]
    pub output_id_new: Option<i64>,
    /// Id of the reference output (unused by the computation).
    #[serde(default)]
    pub output_id_ref: Option<i64>,
    /// `/s/…` URL of the new output's folder.
    pub output_dir_url_new: String,
    /// `/s/…` URL of the reference output's folder.
    pub output_dir_url_ref: String,
    /// Image path relative to both folders.
    pub path: String,
    /// `"rgb"`; ignored, as by the original.
    #[serde(default)]
    pub diff_type: Option<String>,
    /// The UI percentage / 100 (default 0.01); blob_dog gets `threshold / 100`.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Blob diameter in pixels, 0 = automatic.
    #[serde(default)]
    pub diameter: f64,
    /// Most ROIs to answer (default 20).
    #[serde(default = "default_count")]
    pub count: f64,
}

impl DiffImageRequest {
    /// The finder parameters of this body.
    ///
    /// Errors: [`ImageError::BadRequest`] for non-finite numbers or a negative count.
    pub fn params(&self) -> Result<crate::rois::AutoRoiParams> {
        if !self.threshold.is_finite() {
            return Err(ImageError::bad("threshold", "must be a finite number"));
        }
        if !self.diameter.is_finite() || self.diameter < 0.0 {
            return Err(ImageError::bad("diameter", "must be a non-negative number"));
        }
        if !self.count.is_finite() || self.count < 0.0 {
            return Err(ImageError::bad("count", "must be a non-negative number"));
        }
        Ok(crate::rois::AutoRoiParams {
            threshold: self.threshold,
            diameter: self.diameter,
            count: self.count as usize,
        })
    }
}

/// One region of interest as the webapp holds it (`{x, y, w, h, label, …}`; extra keys ignored).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoiBox {
    /// Left column.
    pub x: f64,
    /// Top row.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// An integer rectangle in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width (> 0).
    pub w: u32,
    /// Height (> 0).
    pub h: u32,
}

impl RoiBox {
    /// The integer rectangle of this ROI (OPERATIONS.md §8: "integer ROIs").
    ///
    /// Errors: [`ImageError::BadRequest`] (field `rois`) for fractional or negative
    /// coordinates, or a zero width or height.
    pub fn to_rect(&self) -> Result<PixelRect> {
        let int = |v: f64, name: &str| -> Result<u32> {
            if v.is_finite() && v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                Ok(v as u32)
            } else {
                Err(ImageError::bad(
                    "rois",
                    format!("{name} = {v} is not a non-negative integer"),
                ))
            }
        };
        let r = PixelRect {
            x: int(self.x, "x")?,
            y: int(self.y, "y")?,
            w: int(self.w, "w")?,
            h: int(self.h, "h")?,
        };
        if r.w == 0 || r.h == 0 {
            return Err(ImageError::bad("rois", "width and height must be positive"));
        }
        Ok(r)
    }
}

/// Body of `POST /api/v1/output/diff/report` (`AutoCrops.generateReport`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DiffReportRequest {
    /// Id of the new output: its commit's sha goes on the title page.
    pub output_id_new: i64,
    /// Id of the reference output: its commit's sha goes on the title page.
    pub output_id_ref: i64,
    /// `/s/…` URL of the new output's folder; the report goes to its `reports/`.
    pub output_dir_url_new: String,
    /// `/s/…` URL of the reference output's folder.
    pub output_dir_url_ref: String,
    /// Image path relative to both folders.
    pub path: String,
    /// The regions to show, in the webapp's order.
    pub rois: Vec<RoiBox>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webapp_bodies_deserialize() {
        let d: DiffImageRequest = serde_json::from_str(
            r#"{"output_id_new":1,"output_id_ref":2,"output_dir_url_new":"/s/a","output_dir_url_ref":"/s/b",
                "path":"x.png","diff_type":"rgb","threshold":0.01,"diameter":0,"count":20}"#,
        )
        .unwrap();
        let p = d.params().unwrap();
        assert_eq!((p.threshold, p.diameter, p.count), (0.01, 0.0, 20));
        let r: DiffReportRequest = serde_json::from_str(
            r#"{"output_id_new":1,"output_id_ref":2,"output_dir_url_new":"/s/a","output_dir_url_ref":"/s/b",
                "path":"x.png","rois":[{"x":3,"y":4.0,"w":10,"h":10,"label":"rgb(3, 4)"}]}"#,
        )
        .unwrap();
        assert_eq!(
            r.rois[0].to_rect().unwrap(),
            PixelRect {
                x: 3,
                y: 4,
                w: 10,
                h: 10
            }
        );
        assert!(RoiBox {
            x: 1.5,
            y: 0.0,
            w: 1.0,
            h: 1.0
        }
        .to_rect()
        .is_err());
        assert!(RoiBox {
            x: -1.0,
            y: 0.0,
            w: 1.0,
            h: 1.0
        }
        .to_rect()
        .is_err());
        assert!(RoiBox {
            x: 1.0,
            y: 0.0,
            w: 0.0,
            h: 1.0
        }
        .to_rect()
        .is_err());
        let q = PixelQuery {
            x: 1,
            y: 1,
            image_url: "/s/mnt/q/a%20b.png".into(),
        };
        assert_eq!(q.path_string().unwrap(), "/mnt/q/a b.png");
    }
}
