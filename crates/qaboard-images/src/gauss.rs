//! Gaussian filtering and anti-aliased resizing of 2-D float planes, matching
//! `scipy.ndimage.gaussian_filter` and scikit-image 0.18.3 `transform.resize(order=1)`.

/// A row-major 2-D array of `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Number of rows (image height).
    pub rows: usize,
    /// Number of columns (image width).
    pub cols: usize,
    /// `rows × cols` values, row after row.
    pub data: Vec<f64>,
}

/// Index of `i` (any integer) in a line of `n` samples extended by symmetric reflection.
/// `mirror = false`: scipy `reflect` (`d c b a | a b c d | d c b a`);
/// `mirror = true`: scipy `mirror` (`d c b | a b c d | c b a`), scikit-image `reflect`.
fn boundary(i: i64, n: usize, mirror: bool) -> usize {
    let n = n as i64;
    if n == 1 {
        return 0;
    }
    if mirror {
        let period = 2 * n - 2;
        let m = i.rem_euclid(period);
        (if m < n { m } else { period - m }) as usize
    } else {
        let period = 2 * n;
        let m = i.rem_euclid(period);
        (if m < n { m } else { period - 1 - m }) as usize
    }
}

/// `scipy.ndimage._gaussian_kernel1d(σ, 0, radius)` with radius = int(4σ + 0.5): the
/// normalised weights w₀ … w_radius of one half (the kernel is symmetric).
fn kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as usize;
    let full: Vec<f64> = (-(radius as i64)..=radius as i64)
        .map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp())
        .collect();
    let sum: f64 = full.iter().sum();
    full[radius..].iter().map(|w| w / sum).collect()
}

/// Correlates one line with a symmetric kernel, in scipy's summation order.
fn filter_line(line: &[f64], half: &[f64], mirror: bool, out: &mut [f64]) {
    let n = line.len();
    let r = half.len() - 1;
    let ext: Vec<f64> = (-(r as i64)..(n + r) as i64)
        .map(|i| line[boundary(i, n, mirror)])
        .collect();
    for (i, o) in out.iter_mut().enumerate() {
        let centre = i + r;
        let mut acc = ext[centre] * half[0];
        for j in (1..=r).rev() {
            acc += (ext[centre - j] + ext[centre + j]) * half[j];
        }
        *o = acc;
    }
}

/// `scipy.ndimage.gaussian_filter(plane, (sigma_rows, sigma_cols), truncate=4)`, axis 0
/// (along columns) first; mode `reflect`, or `mirror` when `mirror` is set. An axis with
/// σ ≤ 1e-15 is left alone, as scipy does.
pub fn gaussian_filter(plane: &Plane, sigma_rows: f64, sigma_cols: f64, mirror: bool) -> Plane {
    let (rows, cols) = (plane.rows, plane.cols);
    let mut data = plane.data.clone();
    if rows == 0 || cols == 0 {
        return Plane { rows, cols, data };
    }
    if sigma_rows > 1e-15 {
        // Along axis 0, whole rows at a time (cache friendly); per sample the same
        // summation order as `filter_line`.
        let half = kernel(sigma_rows);
        let r = half.len() - 1;
        let src = data.clone();
        let row = |i: i64| {
            let b = boundary(i, rows, mirror);
            &src[b * cols..(b + 1) * cols]
        };
        in_parallel(&mut data, cols, |i, out| {
            for (o, v) in out.iter_mut().zip(row(i as i64)) {
                *o = v * half[0];
            }
            for j in (1..=r).rev() {
                let (up, down, w) = (row(i as i64 - j as i64), row(i as i64 + j as i64), half[j]);
                for ((o, a), b) in out.iter_mut().zip(up).zip(down) {
                    *o += (a + b) * w;
                }
            }
        });
    }
    if sigma_cols > 1e-15 {
        let half = kernel(sigma_cols);
        let src = data.clone();
        in_parallel(&mut data, cols, |i, out| {
            filter_line(&src[i * cols..(i + 1) * cols], &half, mirror, out);
        });
    }
    Plane { rows, cols, data }
}

/// Runs `f(row index, row)` over every row of `data`, split into contiguous bands over the
/// available cores. Each output row is computed the same way whatever the split.
fn in_parallel<F>(data: &mut [f64], cols: usize, f: F)
where
    F: Fn(usize, &mut [f64]) + Sync,
{
    let rows = data.len() / cols;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows.div_ceil(64))
        .max(1);
    let band = rows.div_ceil(threads);
    std::thread::scope(|s| {
        for (b, chunk) in data.chunks_mut(band * cols).enumerate() {
            let f = &f;
            s.spawn(move || {
                for (k, out) in chunk.chunks_mut(cols).enumerate() {
                    f(b * band + k, out);
                }
            });
        }
    });
}

/// scikit-image 0.18.3 `transform.resize(order=1, mode="reflect", anti_aliasing=True)` of a
/// 2-D plane: Gaussian blur with σ = max(0, (factor − 1)/2) per axis (scipy mode `mirror`),
/// then bilinear sampling at input coordinate factor·(out + 0.5) − 0.5, reflecting outside.
pub fn resize_bilinear_antialiased(plane: &Plane, out_rows: usize, out_cols: usize) -> Plane {
    let fr = plane.rows as f64 / out_rows as f64;
    let fc = plane.cols as f64 / out_cols as f64;
    let blurred = gaussian_filter(
        plane,
        ((fr - 1.0) / 2.0).max(0.0),
        ((fc - 1.0) / 2.0).max(0.0),
        true,
    );
    let (rows, cols) = (plane.rows, plane.cols);
    let at =
        |r: i64, c: i64| blurred.data[boundary(r, rows, true) * cols + boundary(c, cols, true)];
    let mut data = Vec::with_capacity(out_rows * out_cols);
    for orow in 0..out_rows {
        let y = fr * (orow as f64 + 0.5) - 0.5;
        let (y0, dy) = (y.floor(), y - y.floor());
        for ocol in 0..out_cols {
            let x = fc * (ocol as f64 + 0.5) - 0.5;
            let (x0, dx) = (x.floor(), x - x.floor());
            let (r0, c0) = (y0 as i64, x0 as i64);
            let (r1, c1) = (y.ceil() as i64, x.ceil() as i64);
            let top = (1.0 - dx) * at(r0, c0) + dx * at(r0, c1);
            let bottom = (1.0 - dx) * at(r1, c0) + dx * at(r1, c1);
            data.push((1.0 - dy) * top + dy * bottom);
        }
    }
    Plane {
        rows: out_rows,
        cols: out_cols,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_follow_scipy() {
        // reflect: d c b a | a b c d | d c b a
        let got: Vec<usize> = (-4..8).map(|i| boundary(i, 4, false)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0]);
        // mirror: d c b | a b c d | c b a
        let got: Vec<usize> = (-3..7).map(|i| boundary(i, 4, true)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
    }

    #[test]
    fn blur_keeps_the_sum_of_a_constant() {
        let p = Plane {
            rows: 5,
            cols: 7,
            data: vec![2.0; 35],
        };
        let g = gaussian_filter(&p, 3.0, 3.0, false);
        assert!(g.data.iter().all(|v| (v - 2.0).abs() < 1e-12));
    }
}
