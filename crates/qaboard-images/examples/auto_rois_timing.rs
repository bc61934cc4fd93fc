//! Prints how long the auto-ROI finder takes on a synthetic pair of the given size.
//! `cargo run --release -p qaboard-images --example auto_rois_timing -- 6000 4000 [diameter]`

use std::time::Instant;

use image::{DynamicImage, ImageBuffer, Rgb};
use qaboard_images::rois::{find_auto_rois, AutoRoiParams};

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (w, h) = (
        args.first().copied().unwrap_or(2000.0) as u32,
        args.get(1).copied().unwrap_or(1500.0) as u32,
    );
    let diameter = args.get(2).copied().unwrap_or(0.0);
    let reference = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut new = reference.clone();
    for (cx, cy) in [(w / 3, h / 4), (2 * w / 3, h / 2), (w / 5, 4 * h / 5)] {
        for y in cy.saturating_sub(20)..(cy + 20).min(h) {
            for x in cx.saturating_sub(20)..(cx + 20).min(w) {
                new.put_pixel(x, y, Rgb([255, 0, 0]));
            }
        }
    }
    let (new, reference) = (
        DynamicImage::ImageRgb8(new),
        DynamicImage::ImageRgb8(reference),
    );
    let params = AutoRoiParams {
        threshold: 0.01,
        diameter,
        count: 20,
    };
    let start = Instant::now();
    let rois = find_auto_rois(&new, &reference, &params).expect("finder");
    println!(
        "{w}x{h} diameter {diameter}: {} ROIs in {:.2?}: {rois:?}",
        rois.len(),
        start.elapsed()
    );
}
