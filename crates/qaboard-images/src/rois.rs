//! Automatic regions of interest between two images (`POST /api/v1/output/diff/image`).
//!
//! Follows the original's `auto_rois.createAutoRois` / `pixelmatch` / `get_images` with
//! scikit-image 0.18.3 semantics (OPERATIONS.md §8):
//! 1. both images as RGB in [0, 1] (`img_as_float`: integers × 1/max), converted to YIQ
//!    (`skimage.color.rgb2yiq` matrix);
//! 2. delta = Σ w·(Δyiq)², w = (0.5053, 0.299, 0.1957);
//! 3. scale = 1 if rows·cols < 10⁶ else 0.5; delta rescaled as `skimage.transform.rescale`
//!    (Gaussian anti-aliasing σ = (factor − 1)/2, bilinear, mode `reflect`);
//! 4. diameter 0 → (rows + cols)/2 · 0.1; max_sigma = int(int(diameter) · scale);
//!    min_sigma = 5, or 1 when 5 ≥ int(diameter) · scale;
//! 5. [`blob_dog`] with σ ratio 1.6, threshold/100, overlap 0.5;
//! 6. coordinates ÷ scale, radius = ceil(σ·√2); while more than `count`, the first blob with
//!    the smallest radius is dropped.

use image::DynamicImage;

use crate::error::{ImageError, Result};
use crate::gauss::{gaussian_filter, resize_bilinear_antialiased, Plane};

/// Knobs of the finder (body of `diff/image`, see [`crate::wire::DiffImageRequest`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoRoiParams {
    /// The UI percentage / 100; [`blob_dog`] gets `threshold / 100`.
    pub threshold: f64,
    /// Blob diameter in pixels; values whose integer part is 0 mean "automatic".
    pub diameter: f64,
    /// Most ROIs to answer.
    pub count: usize,
}

/// Weights of the squared Y, I, Q differences (the original's `pixelmatch`).
pub const YIQ_WEIGHTS: [f64; 3] = [0.5053, 0.299, 0.1957];

/// `skimage.color.colorconv.yiq_from_rgb` (0.18.3).
const YIQ_FROM_RGB: [[f64; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [0.59590059, -0.27455667, -0.32134392],
    [0.21153661, -0.52273617, 0.31119955],
];

/// One blob: centre row and column and the σ of the Gaussian that found it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blob {
    /// Row (y) of the centre.
    pub row: f64,
    /// Column (x) of the centre.
    pub col: f64,
    /// Standard deviation of the detecting Gaussian.
    pub sigma: f64,
}

/// RGB samples in [0, 1] (float images as stored), alpha dropped, gray replicated.
/// scikit-image's `rgb2yiq` accepts RGB only; other layouts are an extension here.
fn rgb_unit(img: &DynamicImage) -> Vec<[f64; 3]> {
    match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => {
            let k = 1.0 / 255.0;
            img.to_rgb8()
                .pixels()
                .map(|p| p.0.map(|v| f64::from(v) * k))
                .collect()
        }
        DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => {
            let k = 1.0 / 65535.0;
            img.to_rgb16()
                .pixels()
                .map(|p| p.0.map(|v| f64::from(v) * k))
                .collect()
        }
        _ => img
            .to_rgb32f()
            .pixels()
            .map(|p| p.0.map(f64::from))
            .collect(),
    }
}

fn yiq(p: [f64; 3]) -> [f64; 3] {
    YIQ_FROM_RGB.map(|m| p[0] * m[0] + p[1] * m[1] + p[2] * m[2])
}

/// The weighted squared YIQ difference of two same-size images (the original's `pixelmatch`).
///
/// Errors: [`ImageError::BadRequest`] (field `images`) when the sizes differ.
pub fn yiq_delta(new: &DynamicImage, reference: &DynamicImage) -> Result<Plane> {
    if new.dimensions_eq(reference) {
        let (a, b) = (rgb_unit(new), rgb_unit(reference));
        let data = a
            .iter()
            .zip(&b)
            .map(|(&p, &q)| {
                let (p, q) = (yiq(p), yiq(q));
                let d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]].map(|v| v * v);
                d[0] * YIQ_WEIGHTS[0] + d[1] * YIQ_WEIGHTS[1] + d[2] * YIQ_WEIGHTS[2]
            })
            .collect();
        Ok(Plane {
            rows: new.height() as usize,
            cols: new.width() as usize,
            data,
        })
    } else {
        Err(ImageError::bad(
            "images",
            format!(
                "new is {}x{} but ref is {}x{}",
                new.width(),
                new.height(),
                reference.width(),
                reference.height()
            ),
        ))
    }
}

trait SameSize {
    fn dimensions_eq(&self, other: &Self) -> bool;
}
impl SameSize for DynamicImage {
    fn dimensions_eq(&self, other: &Self) -> bool {
        self.width() == other.width() && self.height() == other.height()
    }
}

/// Difference-of-Gaussian blob detection as scikit-image 0.18.3 `feature.blob_dog` on a 2-D
/// image (scalar σ, `exclude_border=False`).
///
/// σᵢ = min_sigma·ratioⁱ for i = 0..=k, k = int(ln(max/min)/ln(ratio) + 1); Gaussian blurs
/// as `scipy.ndimage.gaussian_filter` (mode `reflect`, truncate 4); DoG layer i =
/// (blurᵢ − blurᵢ₊₁)·σᵢ (0.18; releases from 0.19 scale by 1/(ratio − 1) instead); peaks as
/// `peak_local_max(threshold_abs = threshold, threshold_rel = 0, footprint 3×3×3)`: cells
/// equal to their 3×3×3 maximum (outside = 0) and > threshold, none when the cube is flat,
/// ordered by decreasing value (ties in row-major order); then `_prune_blobs`: of two blobs
/// whose disks (radius σ√2) overlap by more than `overlap` of the smaller, the smaller
/// (or, at equal σ, the first) is dropped. Pairs are visited in index order (scikit-image
/// visits a `set`, whose order is unspecified; results differ only for chains of three or
/// more overlapping blobs).
///
/// Errors: [`ImageError::BadRequest`] (field `diameter`) when `min_sigma` or `max_sigma` is
/// not positive or k < 1.
pub fn blob_dog(
    image: &Plane,
    min_sigma: f64,
    max_sigma: f64,
    sigma_ratio: f64,
    threshold: f64,
    overlap: f64,
) -> Result<Vec<Blob>> {
    if !(min_sigma > 0.0 && max_sigma > 0.0) {
        return Err(ImageError::bad(
            "diameter",
            "too small: the largest blob σ must be ≥ 1",
        ));
    }
    let k = ((max_sigma / min_sigma).ln() / sigma_ratio.ln() + 1.0).trunc();
    if k.is_nan() || k < 1.0 {
        return Err(ImageError::bad(
            "diameter",
            "too small for the smallest blob σ",
        ));
    }
    let k = k as usize;
    let sigmas: Vec<f64> = (0..=k)
        .map(|i| min_sigma * sigma_ratio.powf(i as f64))
        .collect();
    let n = image.data.len();
    let (rows, cols) = (image.rows, image.cols);
    if n == 0 {
        return Ok(Vec::new());
    }
    // DoG layers are made one at a time; peaks of layer l are searched once layer l + 1
    // exists, so at most three layers are held (the 3×3×3 neighbourhood).
    let mut peaks: Vec<(f64, usize, usize, usize)> = Vec::new();
    let mut window: Vec<Vec<f64>> = Vec::with_capacity(3);
    let mut flat_value: Option<f64> = None;
    let mut flat = true;
    let mut previous = gaussian_filter(image, sigmas[0], sigmas[0], false);
    for i in 0..=k {
        if i < k {
            let current = gaussian_filter(image, sigmas[i + 1], sigmas[i + 1], false);
            let layer: Vec<f64> = previous
                .data
                .iter()
                .zip(&current.data)
                .map(|(a, b)| (a - b) * sigmas[i])
                .collect();
            if flat {
                let v0 = *flat_value.get_or_insert(layer[0]);
                flat = layer.iter().all(|&v| v == v0);
            }
            previous = current;
            if window.len() == 3 {
                window.remove(0);
            }
            window.push(layer);
        }
        // Search layer i - 1: its neighbours are layers i - 2 and i (when they exist).
        if i == 0 {
            continue;
        }
        let l = i - 1;
        let (below, mid, above) = match (l, i < k) {
            (0, true) => (None, &window[0], Some(&window[1])),
            (0, false) => (None, &window[0], None),
            (_, true) => (Some(&window[0]), &window[1], Some(&window[2])),
            (_, false) => (
                Some(&window[window.len() - 2]),
                &window[window.len() - 1],
                None,
            ),
        };
        for r in 0..rows {
            for c in 0..cols {
                let v = mid[r * cols + c];
                if v > threshold && is_local_max([below, Some(mid), above], (rows, cols), (r, c), v)
                {
                    peaks.push((v, r, c, l));
                }
            }
        }
    }
    if flat && flat_value.is_some_and(|v| v >= 0.0) {
        // peak_local_max: a cube equal to its own maximum filter has no peaks.
        return Ok(Vec::new());
    }
    // np.nonzero order (row, col, layer), then decreasing value (stable).
    peaks.sort_by_key(|p| (p.1, p.2, p.3));
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut blobs: Vec<Blob> = peaks
        .iter()
        .map(|&(_, r, c, l)| Blob {
            row: r as f64,
            col: c as f64,
            sigma: sigmas[l],
        })
        .collect();
    prune_blobs(&mut blobs, overlap);
    Ok(blobs.into_iter().filter(|b| b.sigma > 0.0).collect())
}

/// `v` equals the maximum of its 3×3×3 neighbourhood in the layers below, at and above it,
/// cells outside (or missing layers) counting as 0 (`scipy.ndimage.maximum_filter(mode="constant")`).
fn is_local_max(
    layers: [Option<&Vec<f64>>; 3],
    (rows, cols): (usize, usize),
    (r, c): (usize, usize),
    v: f64,
) -> bool {
    for layer in layers {
        for dr in -1i64..=1 {
            for dc in -1i64..=1 {
                let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                let inside = (0..rows as i64).contains(&rr) && (0..cols as i64).contains(&cc);
                let w = match layer {
                    Some(data) if inside => data[rr as usize * cols + cc as usize],
                    _ => 0.0,
                };
                if w > v {
                    return false;
                }
            }
        }
    }
    true
}

/// Area fraction of the smaller disk covered by the other (scikit-image 0.18.3
/// `_compute_disk_overlap`, distances normalised by the larger σ·√2).
fn blob_overlap(a: &Blob, b: &Blob) -> f64 {
    if a.sigma == 0.0 && b.sigma == 0.0 {
        return 0.0;
    }
    let (max_sigma, r1, r2) = if a.sigma > b.sigma {
        (a.sigma, 1.0, b.sigma / a.sigma)
    } else {
        (b.sigma, a.sigma / b.sigma, 1.0)
    };
    let norm = max_sigma * std::f64::consts::SQRT_2;
    let d = ((b.row / norm - a.row / norm).powi(2) + (b.col / norm - a.col / norm).powi(2)).sqrt();
    if d > r1 + r2 {
        return 0.0;
    }
    if d <= (r1 - r2).abs() {
        return 1.0;
    }
    let ratio1 = ((d * d + r1 * r1 - r2 * r2) / (2.0 * d * r1)).clamp(-1.0, 1.0);
    let ratio2 = ((d * d + r2 * r2 - r1 * r1) / (2.0 * d * r2)).clamp(-1.0, 1.0);
    let (acos1, acos2) = (ratio1.acos(), ratio2.acos());
    let (pa, pb, pc, pd) = (-d + r2 + r1, d - r2 + r1, d + r2 - r1, d + r2 + r1);
    let area = r1 * r1 * acos1 + r2 * r2 * acos2 - 0.5 * (pa * pb * pc * pd).abs().sqrt();
    area / (std::f64::consts::PI * r1.min(r2).powi(2))
}

/// scikit-image 0.18.3 `_prune_blobs`: zeroes the σ of the smaller of each overlapping pair.
fn prune_blobs(blobs: &mut [Blob], overlap: f64) {
    for i in 0..blobs.len() {
        for j in i + 1..blobs.len() {
            let (a, b) = (blobs[i], blobs[j]);
            if blob_overlap(&a, &b) > overlap {
                if a.sigma > b.sigma {
                    blobs[j].sigma = 0.0;
                } else {
                    blobs[i].sigma = 0.0;
                }
            }
        }
    }
}

/// The auto-ROI finder: `[[y, x, r], …]` in pixels of the full-size image, at most
/// `params.count` entries (see the module documentation for each step and its source).
///
/// Cost grows with pixels × blob scales × σ: run it on a blocking thread.
///
/// Errors: [`ImageError::BadRequest`] when the sizes differ (field `images`), or the diameter
/// leaves no blob scale or makes the largest σ exceed 4 × the longest (rescaled) side
/// (field `diameter`; the original would exhaust memory).
pub fn find_auto_rois(
    new: &DynamicImage,
    reference: &DynamicImage,
    params: &AutoRoiParams,
) -> Result<Vec<[f64; 3]>> {
    let delta = yiq_delta(new, reference)?;
    let (rows, cols) = (delta.rows, delta.cols);
    let scale = if (rows as f64) * (cols as f64) < 1_000_000.0 {
        1.0
    } else {
        0.5
    };
    let delta = if scale == 1.0 {
        delta
    } else {
        let out_rows = (rows as f64 * scale).round_ties_even().max(1.0) as usize;
        let out_cols = (cols as f64 * scale).round_ties_even().max(1.0) as usize;
        resize_bilinear_antialiased(&delta, out_rows, out_cols)
    };
    let mut diameter = params.diameter;
    if diameter.trunc() == 0.0 {
        diameter = (rows + cols) as f64 / 2.0 * 0.1;
    }
    let max_sigma_f = diameter.trunc() * scale;
    let min_sigma = if 5.0 >= max_sigma_f { 1.0 } else { 5.0 };
    let max_sigma = max_sigma_f.trunc();
    let longest = delta.rows.max(delta.cols) as f64;
    if max_sigma > 4.0 * longest {
        // Not in the original (which runs out of memory or time): Gaussian kernels of
        // radius 4σ far wider than the image only smear it flat.
        return Err(ImageError::bad(
            "diameter",
            format!("{} is too large for a {cols}x{rows} image", params.diameter),
        ));
    }
    let blobs = blob_dog(
        &delta,
        min_sigma,
        max_sigma,
        1.6,
        params.threshold / 100.0,
        0.5,
    )?;
    let mut out: Vec<[f64; 3]> = blobs
        .iter()
        .map(|b| {
            [
                b.row * 1.0 / scale,
                b.col * 1.0 / scale,
                (b.sigma * std::f64::consts::SQRT_2).ceil(),
            ]
        })
        .collect();
    while out.len() > params.count {
        let mut smallest = 0;
        for (i, b) in out.iter().enumerate() {
            if b[2] < out[smallest][2] {
                smallest = i;
            }
        }
        out.remove(smallest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    fn pair(w: u32, h: u32) -> (DynamicImage, DynamicImage) {
        let a = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(w, h, Rgb([10, 10, 10])));
        let mut b = a.to_rgb8();
        b.put_pixel(w / 2, h / 2, Rgb([250, 0, 0]));
        (a, DynamicImage::ImageRgb8(b))
    }

    #[test]
    fn bad_knobs_are_bad_requests() {
        let (a, b) = pair(20, 10);
        let p = |diameter| AutoRoiParams {
            threshold: 0.01,
            diameter,
            count: 20,
        };
        let err = find_auto_rois(&a, &b, &p(1e12)).unwrap_err();
        assert!(matches!(
            err,
            ImageError::BadRequest {
                field: "diameter",
                ..
            }
        ));
        let (c, _) = pair(21, 10);
        let err = find_auto_rois(&a, &c, &p(0.0)).unwrap_err();
        assert!(matches!(
            err,
            ImageError::BadRequest {
                field: "images",
                ..
            }
        ));
        // A one-pixel change is found where it is.
        let got = find_auto_rois(&a, &b, &p(4.0)).unwrap();
        assert_eq!(got.first().map(|b| (b[0], b[1])), Some((5.0, 10.0)));
        // count 0 answers nothing.
        let none = AutoRoiParams { count: 0, ..p(4.0) };
        assert!(find_auto_rois(&a, &b, &none).unwrap().is_empty());
    }

    #[test]
    fn overlap_keeps_the_larger_blob() {
        let big = Blob {
            row: 10.0,
            col: 10.0,
            sigma: 8.0,
        };
        let small = Blob {
            row: 11.0,
            col: 10.0,
            sigma: 2.0,
        };
        let far = Blob {
            row: 100.0,
            col: 10.0,
            sigma: 2.0,
        };
        let mut blobs = [small, big, far];
        prune_blobs(&mut blobs, 0.5);
        assert_eq!(blobs.map(|b| b.sigma), [0.0, 8.0, 2.0]);
        assert_eq!(blob_overlap(&big, &far), 0.0);
    }
}
