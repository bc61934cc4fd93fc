//! PDF report of `POST /api/v1/output/diff/report` (orig: `auto_rois.get_rois`, matplotlib).
//!
//! Page 1: "Auto Rois Report", the date, `new: <sha>`, `ref: <sha>`. Then one page per ROI
//! with the new crop (titled `new (x: …, y: …, w: …, h: …)`) and the reference crop (titled
//! `ref`) side by side, drawn without smoothing. Pages are 10 × 5 inches like the original's
//! figures. Written with `pdf-writer`; text uses the standard Helvetica font (not embedded).

use image::{DynamicImage, RgbImage};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use crate::error::{ImageError, Result};
use crate::wire::PixelRect;

/// Title-page facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHeader {
    /// Date line as the caller formats it (the original: `time.asctime`, e.g.
    /// `Sun Nov 29 23:55:12 2026`).
    pub date: String,
    /// Commit sha of the new output.
    pub new_sha: String,
    /// Commit sha of the reference output.
    pub ref_sha: String,
}

const PAGE_W: f32 = 720.0;
const PAGE_H: f32 = 360.0;

/// `img[y:y+h, x:x+w]` with numpy's clipping at the image edges; `None` when empty.
fn crop(img: &RgbImage, r: PixelRect) -> Option<RgbImage> {
    if r.x >= img.width() || r.y >= img.height() {
        return None;
    }
    let w = r.w.min(img.width() - r.x);
    let h = r.h.min(img.height() - r.y);
    Some(image::imageops::crop_imm(img, r.x, r.y, w, h).to_image())
}

/// Keeps printable ASCII (the standard fonts' WinAnsi subset we rely on); others become `?`.
fn pdf_text(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| {
            if (' '..='~').contains(&c) {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

struct Ids(i32);
impl Ids {
    fn next(&mut self) -> Ref {
        self.0 += 1;
        Ref::new(self.0)
    }
}

/// Builds the report: PDF bytes the caller writes to `<new output dir>/reports/
/// <DDMMYYYY_HHMMSS>_report.pdf`. Crops are clipped to each image; a crop wholly outside an
/// image leaves that half of its page empty but for the title.
///
/// Errors: none beyond allocation today; the `Result` leaves room for encoder failures.
pub fn render_report(
    new: &DynamicImage,
    reference: &DynamicImage,
    header: &ReportHeader,
    rois: &[PixelRect],
) -> Result<Vec<u8>> {
    let (new, reference) = (new.to_rgb8(), reference.to_rgb8());
    let mut ids = Ids(0);
    let catalog_id = ids.next();
    let tree_id = ids.next();
    let font_id = ids.next();
    let mut pdf = Pdf::new();
    pdf.type1_font(font_id).base_font(Name(b"Helvetica"));

    let mut page_ids = Vec::new();
    // Title page.
    {
        let mut c = Content::new();
        c.begin_text();
        c.set_font(Name(b"F1"), 14.0);
        let lines = [
            "Auto Rois Report".to_string(),
            header.date.clone(),
            format!("new: {}", header.new_sha),
            format!("ref:  {}", header.ref_sha),
        ];
        c.next_line(36.0, PAGE_H / 2.0 + 42.0);
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                c.next_line(0.0, -28.0);
            }
            c.show(Str(&pdf_text(line)));
        }
        c.end_text();
        page_ids.push(add_page(&mut pdf, &mut ids, tree_id, font_id, c, &[]));
    }
    for roi in rois {
        let mut c = Content::new();
        let mut images = Vec::new();
        let halves = [
            (
                crop(&new, *roi),
                format!(
                    "new (x: {}, y: {}, w: {}, h: {})",
                    roi.x, roi.y, roi.w, roi.h
                ),
            ),
            (crop(&reference, *roi), "ref".to_string()),
        ];
        for (i, (img, title)) in halves.iter().enumerate() {
            let left = 20.0 + i as f32 * PAGE_W / 2.0;
            let box_w = PAGE_W / 2.0 - 40.0;
            let box_h = PAGE_H - 80.0;
            c.begin_text();
            c.set_font(Name(b"F1"), 12.0);
            c.next_line(left, PAGE_H - 30.0);
            c.show(Str(&pdf_text(title)));
            c.end_text();
            if let Some(img) = img {
                let (w, h) = (img.width() as f32, img.height() as f32);
                let s = (box_w / w).min(box_h / h);
                let (dw, dh) = (w * s, h * s);
                let x = left + (box_w - dw) / 2.0;
                let y = 30.0 + (box_h - dh) / 2.0;
                let name = format!("Im{i}");
                c.save_state();
                c.transform([dw, 0.0, 0.0, dh, x, y]);
                c.x_object(Name(name.as_bytes()));
                c.restore_state();
                let id = ids.next();
                let compressed = miniz_oxide::deflate::compress_to_vec_zlib(img.as_raw(), 6);
                let mut xo = pdf.image_xobject(id, &compressed);
                xo.filter(Filter::FlateDecode);
                xo.width(img.width() as i32);
                xo.height(img.height() as i32);
                xo.color_space().device_rgb();
                xo.bits_per_component(8);
                xo.interpolate(false);
                xo.finish();
                images.push((name, id));
            }
        }
        page_ids.push(add_page(&mut pdf, &mut ids, tree_id, font_id, c, &images));
    }
    pdf.catalog(catalog_id).pages(tree_id);
    let count =
        i32::try_from(page_ids.len()).map_err(|_| ImageError::bad("rois", "too many regions"))?;
    pdf.pages(tree_id).kids(page_ids).count(count);
    Ok(pdf.finish())
}

fn add_page(
    pdf: &mut Pdf,
    ids: &mut Ids,
    tree_id: Ref,
    font_id: Ref,
    content: Content,
    images: &[(String, Ref)],
) -> Ref {
    let page_id = ids.next();
    let content_id = ids.next();
    pdf.stream(content_id, &content.finish());
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
    page.parent(tree_id);
    page.contents(content_id);
    let mut res = page.resources();
    res.fonts().pair(Name(b"F1"), font_id);
    if !images.is_empty() {
        let mut xo = res.x_objects();
        for (name, id) in images {
            xo.pair(Name(name.as_bytes()), *id);
        }
    }
    res.finish();
    page.finish();
    page_id
}
