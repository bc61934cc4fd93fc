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

/// Correlates every column of `src` (`rows × cols`, row-major) with a symmetric kernel
/// (`half` = w₀ … w_r) into `dst`, in scipy's summation order per sample:
/// `w₀·x₀`, then `+ (x₋ⱼ + xⱼ)·wⱼ` for j = r down to 1. The work runs whole rows at a
/// time (each step adds two source rows to the output row), which vectorises; the
/// other axis is done by transposing around this, so both axes have the same cost and
/// exactly the results of a line-by-line 1-D correlation.
fn filter_axis0(
    src: &[f64],
    dst: &mut [f64],
    rows: usize,
    cols: usize,
    half: &[f64],
    mirror: bool,
) {
    let r = half.len() - 1;
    let row = |i: i64| {
        let b = boundary(i, rows, mirror);
        &src[b * cols..(b + 1) * cols]
    };
    in_parallel(dst, cols, |i, out| {
        let i = i as i64;
        for (o, v) in out.iter_mut().zip(row(i)) {
            *o = v * half[0];
        }
        // Four taps per sweep over the row: the output stays in a register
        // between them, the additions keep their order (j = r … 1).
        let mut j = r;
        while j >= 4 {
            let taps: [(&[f64], &[f64], f64); 4] = std::array::from_fn(|t| {
                let jj = (j - t) as i64;
                (row(i - jj), row(i + jj), half[j - t])
            });
            let [(u0, d0, w0), (u1, d1, w1), (u2, d2, w2), (u3, d3, w3)] = taps;
            let n = out.len();
            let (u0, d0, u1, d1) = (&u0[..n], &d0[..n], &u1[..n], &d1[..n]);
            let (u2, d2, u3, d3) = (&u2[..n], &d2[..n], &u3[..n], &d3[..n]);
            for (k, o) in out.iter_mut().enumerate() {
                let mut acc = *o;
                acc += (u0[k] + d0[k]) * w0;
                acc += (u1[k] + d1[k]) * w1;
                acc += (u2[k] + d2[k]) * w2;
                acc += (u3[k] + d3[k]) * w3;
                *o = acc;
            }
            j -= 4;
        }
        for j in (1..=j).rev() {
            let (up, down, w) = (row(i - j as i64), row(i + j as i64), half[j]);
            for ((o, a), b) in out.iter_mut().zip(up).zip(down) {
                *o += (a + b) * w;
            }
        }
    });
}

/// The transpose of a `rows × cols` row-major array (`cols × rows`), in cache-sized tiles.
fn transpose(src: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    const TILE: usize = 32;
    let mut out = vec![0.0; src.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
    out
}

/// `scipy.ndimage.gaussian_filter(plane, (sigma_rows, sigma_cols), truncate=4)`, axis 0
/// (along columns) first; mode `reflect`, or `mirror` when `mirror` is set. An axis with
/// σ ≤ 1e-15 is left alone, as scipy does.
///
/// Separable, as scipy: one 1-D pass per axis (cost ∝ pixels × (r₀ + r₁), r = int(4σ + 0.5)),
/// each sample summed in scipy's order.
pub fn gaussian_filter(plane: &Plane, sigma_rows: f64, sigma_cols: f64, mirror: bool) -> Plane {
    let (rows, cols) = (plane.rows, plane.cols);
    let mut data = plane.data.clone();
    if rows == 0 || cols == 0 {
        return Plane { rows, cols, data };
    }
    if sigma_rows > 1e-15 {
        let src = data.clone();
        filter_axis0(&src, &mut data, rows, cols, &kernel(sigma_rows), mirror);
    }
    if sigma_cols > 1e-15 {
        // Along axis 1: transposed, filtered along the new axis 0, transposed back.
        let t = transpose(&data, rows, cols);
        let mut filtered = vec![0.0; t.len()];
        filter_axis0(&t, &mut filtered, cols, rows, &kernel(sigma_cols), mirror);
        data = transpose(&filtered, cols, rows);
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

    /// The plain 1-D correlation of one line, in scipy's order (the definition the
    /// row-wise passes must reproduce bit for bit).
    fn line_reference(line: &[f64], half: &[f64], mirror: bool) -> Vec<f64> {
        let n = line.len();
        let r = half.len() - 1;
        (0..n as i64)
            .map(|i| {
                let at = |k: i64| line[boundary(k, n, mirror)];
                let mut acc = at(i) * half[0];
                for j in (1..=r).rev() {
                    acc += (at(i - j as i64) + at(i + j as i64)) * half[j];
                }
                acc
            })
            .collect()
    }

    #[test]
    fn separable_passes_equal_line_by_line_correlation_exactly() {
        let (rows, cols) = (37, 53);
        let mut x = 12345u64;
        let data: Vec<f64> = (0..rows * cols)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        let plane = Plane { rows, cols, data };
        for (sr, sc, mirror) in [
            (1.0, 2.5, false),
            (3.7, 0.0, true),
            (0.0, 9.0, false),
            (6.0, 1.3, true),
        ] {
            let got = gaussian_filter(&plane, sr, sc, mirror);
            let mut want = plane.data.clone();
            if sr > 0.0 {
                let half = kernel(sr);
                for c in 0..cols {
                    let col: Vec<f64> = (0..rows).map(|r| want[r * cols + c]).collect();
                    for (r, v) in line_reference(&col, &half, mirror).into_iter().enumerate() {
                        want[r * cols + c] = v;
                    }
                }
            }
            if sc > 0.0 {
                let half = kernel(sc);
                for r in 0..rows {
                    let filtered = line_reference(&want[r * cols..(r + 1) * cols], &half, mirror);
                    want[r * cols..(r + 1) * cols].copy_from_slice(&filtered);
                }
            }
            assert_eq!(got.data, want, "σ = ({sr}, {sc}), mirror {mirror}");
        }
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
