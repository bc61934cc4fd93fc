//! Decoding already opened files or bytes (format sniffed from content, not from the name).

use std::io::{BufReader, Cursor, Seek};

use image::{DynamicImage, ImageReader};

use crate::error::{ImageError, Result};

/// Decodes an image from an already opened file (PNG, JPEG, BMP, TIFF, 8/16-bit and float).
///
/// The format is guessed from the leading bytes, so a `.png` holding JPEG data still decodes.
/// The `image` crate's default memory limit (512 MiB per decode) applies.
///
/// Errors: [`ImageError::Io`] when reading fails, [`ImageError::Unsupported`] for formats
/// outside the enabled decoders (PDF, GIF, …), [`ImageError::Decode`] for corrupt data.
pub fn decode_file(file: std::fs::File) -> Result<DynamicImage> {
    decode_reader(BufReader::new(file))
}

/// Decodes an image held in memory; same rules as [`decode_file`].
pub fn decode_bytes(bytes: &[u8]) -> Result<DynamicImage> {
    decode_reader(Cursor::new(bytes))
}

fn decode_reader<R: std::io::BufRead + Seek>(reader: R) -> Result<DynamicImage> {
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|source| ImageError::Io {
            context: "sniffing the image format",
            source,
        })?;
    if reader.format().is_none() {
        return Err(ImageError::Decode {
            reason: "unknown image format".into(),
        });
    }
    reader.decode().map_err(ImageError::from_image)
}
