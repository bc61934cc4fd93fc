//! IIIF rendering, the decoded-image cache, pixel look-up on real files and the PDF report.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
use qaboard_images::iiif::ImageRequest;
use qaboard_images::pixel::pixel_at;
use qaboard_images::report::{render_report, ReportHeader};
use qaboard_images::wire::PixelRect;
use qaboard_images::{decode, CacheKey, ImageCache, ImageError};

fn gradient(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    }))
}

fn write(
    dir: &std::path::Path,
    name: &str,
    img: &DynamicImage,
    fmt: ImageFormat,
) -> std::path::PathBuf {
    let p = dir.join(name);
    img.save_with_format(&p, fmt).unwrap();
    p
}

#[test]
fn tiles_and_crops_render_at_the_requested_size() {
    let img = gradient(300, 200);
    let png = ImageRequest::parse("256,0,100,100/22,/0/default.png")
        .unwrap()
        .render(&img)
        .unwrap();
    let out = decode::decode_bytes(&png).unwrap().image;
    // Region clipped to 44×100, scaled to width 22 → height 50.
    assert_eq!((out.width(), out.height()), (22, 50));
    let jpg = ImageRequest::parse("full/,50/0/default.jpg")
        .unwrap()
        .render(&img)
        .unwrap();
    assert_eq!(&jpg[..3], &[0xFF, 0xD8, 0xFF]);
    let out = decode::decode_bytes(&jpg).unwrap().image;
    assert_eq!((out.width(), out.height()), (75, 50));
    // Unscaled crop is pixel exact in PNG.
    let png = ImageRequest::parse("10,20,3,2/max/0/default.png")
        .unwrap()
        .render(&img)
        .unwrap();
    let out = decode::decode_bytes(&png).unwrap().image.to_rgb8();
    assert_eq!(out.get_pixel(2, 1).0, [12, 21, 128]);
    // Rotation and gray.
    let png = ImageRequest::parse("0,0,30,10/max/90/gray.png")
        .unwrap()
        .render(&img)
        .unwrap();
    let out = decode::decode_bytes(&png).unwrap().image;
    assert_eq!((out.width(), out.height()), (10, 30));
    assert!(matches!(out, DynamicImage::ImageLuma8(_)));
    // Alpha kept in PNG, 16-bit scaled to 8.
    let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(4, 4, Rgba([1, 2, 3, 4])));
    let out = decode::decode_bytes(
        &ImageRequest::parse("full/max/0/default.png")
            .unwrap()
            .render(&rgba)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out.image.to_rgba8().get_pixel(0, 0).0, [1, 2, 3, 4]);
    let g16 = DynamicImage::ImageLuma16(ImageBuffer::from_pixel(4, 4, Luma([65535u16])));
    let out = decode::decode_bytes(
        &ImageRequest::parse("full/max/0/default.jpg")
            .unwrap()
            .render(&g16)
            .unwrap(),
    )
    .unwrap();
    assert!(out.image.to_luma8().get_pixel(0, 0).0[0] > 250);
    // Region outside → bad request; oversized output → bad request.
    let err = ImageRequest::parse("300,0,10,10/max/0/default.png")
        .unwrap()
        .render(&img)
        .unwrap_err();
    assert!(matches!(
        err,
        ImageError::BadRequest {
            field: "region",
            ..
        }
    ));
    let err = ImageRequest::parse("full/100000,100000/0/default.png")
        .unwrap()
        .render(&img)
        .unwrap_err();
    assert!(matches!(err, ImageError::BadRequest { field: "size", .. }));
}

#[test]
fn formats_decode_from_files_and_garbage_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let img = gradient(20, 10);
    for (name, fmt) in [
        ("a.png", ImageFormat::Png),
        ("a.bmp", ImageFormat::Bmp),
        ("a.tif", ImageFormat::Tiff),
        ("a.jpg", ImageFormat::Jpeg),
    ] {
        let p = write(dir.path(), name, &img, fmt);
        let d = decode::decode_file(std::fs::File::open(p).unwrap()).unwrap();
        assert_eq!((d.image.width(), d.image.height()), (20, 10), "{name}");
    }
    // Content decides, not the name.
    let p = dir.path().join("really_png.jpg");
    img.save_with_format(&p, ImageFormat::Png).unwrap();
    assert!(decode::decode_file(std::fs::File::open(&p).unwrap()).is_ok());
    let p = dir.path().join("notes.png");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(b"hello, not an image")
        .unwrap();
    let err = decode::decode_file(std::fs::File::open(&p).unwrap()).unwrap_err();
    assert!(matches!(err, ImageError::Decode { .. }), "{err:?}");
    let mut truncated = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut truncated), ImageFormat::Png)
        .unwrap();
    truncated.truncate(truncated.len() / 2);
    assert!(decode::decode_bytes(&truncated).is_err());
    // 16-bit gray PNG → "I;16".
    let g16 = DynamicImage::ImageLuma16(ImageBuffer::from_fn(3, 3, |x, y| {
        Luma([(x * 1000 + y) as u16])
    }));
    let p = write(dir.path(), "g16.png", &g16, ImageFormat::Png);
    let d = decode::decode_file(std::fs::File::open(p).unwrap()).unwrap();
    let px = pixel_at(&d, 3, 2).unwrap();
    assert_eq!(
        (px.value, px.meta.mode.as_str()),
        (serde_json::json!(2001), "I;16")
    );
}

#[test]
fn cache_decodes_once_per_file_version_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.png", &gradient(100, 100), ImageFormat::Png);
    let cache = ImageCache::new(100 * 100 * 3 * 2 + 10);
    let opens = Arc::new(AtomicUsize::new(0));
    let key = || CacheKey::from_metadata(p.to_string_lossy(), &std::fs::metadata(&p).unwrap());
    let get = |k: CacheKey| {
        let opens = opens.clone();
        let p = p.clone();
        cache.get_or_decode(k, move || {
            opens.fetch_add(1, Ordering::SeqCst);
            std::fs::File::open(&p).map_err(|source| ImageError::Io {
                context: "opening",
                source,
            })
        })
    };
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(get(key()).unwrap().image.width(), 100));
        }
    });
    assert_eq!(opens.load(Ordering::SeqCst), 1);
    // A rewritten file (other length) is a new key.
    write(dir.path(), "a.png", &gradient(120, 100), ImageFormat::Png);
    assert_eq!(get(key()).unwrap().image.width(), 120);
    assert_eq!(opens.load(Ordering::SeqCst), 2);
    // Errors are not cached.
    let bad = CacheKey {
        path: "missing".into(),
        mtime_nanos: 0,
        len: 0,
    };
    let e = cache.get_or_decode(bad.clone(), || {
        Err(ImageError::NotFound {
            what: "missing".into(),
        })
    });
    assert!(matches!(e, Err(ImageError::NotFound { .. })));
    // Bounded by decoded bytes: three 30 kB images do not fit a 60 kB budget.
    let k3 = CacheKey {
        path: "third".into(),
        mtime_nanos: 1,
        len: 1,
    };
    get(k3).unwrap();
    assert!(cache.weighted_bytes() <= 100 * 100 * 3 * 2 + 10);
}

#[test]
fn report_is_a_pdf_with_one_page_per_roi() {
    let new = gradient(64, 48);
    let reference = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(64, 48, Rgb([200, 30, 30])));
    let header = ReportHeader {
        date: "Sun Nov 29 23:55:12 2026".into(),
        new_sha: "0123456789abcdef0123456789abcdef01234567".into(),
        ref_sha: "fedcba9876543210fedcba9876543210fedcba98".into(),
    };
    let rois = [
        PixelRect {
            x: 0,
            y: 0,
            w: 16,
            h: 16,
        },
        PixelRect {
            x: 50,
            y: 40,
            w: 30,
            h: 30,
        }, // clipped to 14×8
        PixelRect {
            x: 100,
            y: 0,
            w: 5,
            h: 5,
        }, // outside: titles only
    ];
    let pdf = render_report(&new, &reference, &header, &rois).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.windows(5).any(|w| w == b"%%EOF"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("/Count 4"));
    assert!(text.contains("(Auto Rois Report)"));
    assert!(text.contains("(new \\(x: 50, y: 40, w: 30, h: 30\\))") || text.contains("new (x: 50"));
    // When poppler is installed, it must render every page.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.pdf");
    std::fs::write(&file, &pdf).unwrap();
    match std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "30"])
        .arg(&file)
        .arg(dir.path().join("page"))
        .status()
    {
        Ok(status) => {
            assert!(status.success());
            let pages = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("page")
                })
                .count();
            assert_eq!(pages, 4);
            if let Ok(keep) = std::env::var("QABOARD_IMAGES_KEEP_REPORT") {
                std::fs::copy(&file, keep).unwrap();
            }
        }
        Err(e) => eprintln!("pdftoppm not available ({e}); render check skipped"),
    }
}

#[test]
fn deep_tiffs_answer_pillow_modes() {
    // Tiny TIFFs written by tifffile; Pillow reads them as modes F, I, I;16 and cannot open
    // float RGB at all.
    let open = |name: &str| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        decode::decode_file(std::fs::File::open(p).unwrap()).unwrap()
    };
    use serde_json::json;
    let f = open("f32gray.tif");
    let p = pixel_at(&f, 2, 1).unwrap();
    assert_eq!((p.value, p.meta.mode.as_str()), (json!(-1.25), "F"));
    assert_eq!(pixel_at(&f, 1, 1).unwrap().value, json!(0.5));
    let i = open("i32gray.tif");
    let p = pixel_at(&i, 2, 1).unwrap();
    assert_eq!((p.value, p.meta.mode.as_str()), (json!(-70000), "I"));
    assert_eq!(pixel_at(&i, 2, 2).unwrap().value, json!(1 << 30));
    let u = open("u16gray.tif");
    let p = pixel_at(&u, 2, 1).unwrap();
    assert_eq!((p.value, p.meta.mode.as_str()), (json!(65535), "I;16"));
    let rgb = open("f32rgb.tif");
    let p = pixel_at(&rgb, 2, 1).unwrap();
    assert_eq!(p.meta.mode, "RGB;F");
    assert_eq!(p.value[0].as_f64().unwrap(), f64::from(3.0f32 / 7.0));
    // Deep images still render as IIIF tiles.
    for d in [&f, &i, &rgb] {
        let png = ImageRequest::parse("full/max/0/default.png")
            .unwrap()
            .render(&d.image)
            .unwrap();
        assert_eq!(decode::decode_bytes(&png).unwrap().image.width(), 2);
    }
}
