//! Decoding already opened files or bytes (format sniffed from content, not from the name).

use std::io::{BufRead, BufReader, Cursor, Seek, SeekFrom};

use image::{DynamicImage, ImageBuffer, ImageFormat, ImageReader, Luma, Rgb};

use crate::error::{ImageError, Result};

/// 32-bit single-channel samples the `image` crate has no layout for (Pillow modes `F`, `I`).
#[derive(Debug, Clone, PartialEq)]
pub enum Gray32 {
    /// IEEE float samples, row-major (Pillow mode `F`).
    F32(Vec<f32>),
    /// Signed integer samples, row-major (Pillow mode `I`).
    I32(Vec<i32>),
}

/// A decoded image: a displayable [`DynamicImage`] plus, for 32-bit gray TIFFs, the exact
/// samples (for the pixel endpoint).
///
/// For `F` images `image` is RGB float with r = g = b = sample; for `I` images it is 16-bit
/// gray with samples clamped to 0..=65535.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// What IIIF rendering and the ROI finder use.
    pub image: DynamicImage,
    /// Exact samples when the file is a 32-bit gray TIFF.
    pub gray32: Option<Gray32>,
}

impl Decoded {
    /// Decoded size in bytes (the cache weight).
    pub fn byte_size(&self) -> usize {
        self.image.as_bytes().len()
            + match &self.gray32 {
                Some(Gray32::F32(v)) => v.len() * 4,
                Some(Gray32::I32(v)) => v.len() * 4,
                None => 0,
            }
    }
}

impl From<DynamicImage> for Decoded {
    fn from(image: DynamicImage) -> Self {
        Decoded {
            image,
            gray32: None,
        }
    }
}

/// Decodes an image from an already opened file: PNG, JPEG, BMP, TIFF (8/16-bit, float RGB,
/// and 32-bit float or signed-integer gray).
///
/// The format is guessed from the leading bytes, so a `.png` holding JPEG data still decodes.
/// The `image` crate's default memory limit (512 MiB per decode) applies.
///
/// Errors: [`ImageError::Io`] when reading fails, [`ImageError::Unsupported`] for formats
/// and layouts outside the enabled decoders (PDF, GIF, 64-bit TIFF, …),
/// [`ImageError::Decode`] for unknown or corrupt data.
pub fn decode_file(file: std::fs::File) -> Result<Decoded> {
    decode_reader(BufReader::new(file))
}

/// Decodes an image held in memory; same rules as [`decode_file`].
pub fn decode_bytes(bytes: &[u8]) -> Result<Decoded> {
    decode_reader(Cursor::new(bytes))
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> ImageError {
    move |source| ImageError::Io { context, source }
}

fn decode_reader<R: BufRead + Seek>(reader: R) -> Result<Decoded> {
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(io("sniffing the image format"))?;
    match reader.format() {
        None => Err(ImageError::Decode {
            reason: "unknown image format".into(),
        }),
        Some(ImageFormat::Tiff) => {
            let mut inner = reader.into_inner();
            if let Some(d) = decode_gray32_tiff(&mut inner)? {
                return Ok(d);
            }
            inner.seek(SeekFrom::Start(0)).map_err(io("rewinding"))?;
            let reader = ImageReader::with_format(inner, ImageFormat::Tiff);
            reader
                .decode()
                .map(Decoded::from)
                .map_err(ImageError::from_image)
        }
        Some(_) => reader
            .decode()
            .map(Decoded::from)
            .map_err(ImageError::from_image),
    }
}

fn tiff_err(e: tiff::TiffError) -> ImageError {
    match e {
        tiff::TiffError::IoError(source) => ImageError::Io {
            context: "reading TIFF",
            source,
        },
        other => ImageError::Decode {
            reason: other.to_string(),
        },
    }
}

/// `Some` for single-channel 32-bit TIFFs (float or signed integer), `None` otherwise.
fn decode_gray32_tiff<R: BufRead + Seek>(reader: &mut R) -> Result<Option<Decoded>> {
    reader.seek(SeekFrom::Start(0)).map_err(io("rewinding"))?;
    let mut dec = tiff::decoder::Decoder::new(&mut *reader).map_err(tiff_err)?;
    if dec.colortype().map_err(tiff_err)? != tiff::ColorType::Gray(32) {
        return Ok(None);
    }
    let (w, h) = dec.dimensions().map_err(tiff_err)?;
    let unsupported = |what: &str| ImageError::Unsupported {
        what: format!("32-bit gray TIFF with {what} samples"),
    };
    let n = (w as usize) * (h as usize);
    let short = || ImageError::Decode {
        reason: "TIFF sample count does not match its size".into(),
    };
    let (image, gray32) = match dec.read_image().map_err(tiff_err)? {
        tiff::decoder::DecodingResult::F32(v) => {
            if v.len() < n {
                return Err(short());
            }
            let buf = ImageBuffer::from_fn(w, h, |x, y| {
                let s = v[(y as usize) * (w as usize) + x as usize];
                Rgb([s, s, s])
            });
            (DynamicImage::ImageRgb32F(buf), Gray32::F32(v))
        }
        tiff::decoder::DecodingResult::I32(v) => {
            if v.len() < n {
                return Err(short());
            }
            let buf = ImageBuffer::from_fn(w, h, |x, y| {
                let s = v[(y as usize) * (w as usize) + x as usize];
                Luma([s.clamp(0, 65535) as u16])
            });
            (DynamicImage::ImageLuma16(buf), Gray32::I32(v))
        }
        tiff::decoder::DecodingResult::U32(_) => return Err(unsupported("unsigned")),
        _ => return Err(unsupported("other")),
    };
    Ok(Some(Decoded {
        image,
        gray32: Some(gray32),
    }))
}
