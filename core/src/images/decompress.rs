//! Layer stream decompression, chosen by the stream's magic bytes: gzip (flate2, several
//! members allowed), zstd (ruzstd, several frames and skippable frames allowed) or plain tar.

use std::io::{self, BufRead, Read};

use flate2::bufread::MultiGzDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::media::Compression;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Skippable frames have the magic 0x184D2A50..=0x184D2A5F (little-endian on disk).
const ZSTD_SKIPPABLE_LOW: u8 = 0x50;

/// Wraps `src` in the decoder its first bytes call for.
pub(crate) fn decompress<'a, R: BufRead + 'a>(
    mut src: R,
) -> io::Result<(Box<dyn Read + 'a>, Compression)> {
    let head = src.fill_buf()?;
    if head.starts_with(GZIP_MAGIC) {
        Ok((Box::new(MultiGzDecoder::new(src)), Compression::Gzip))
    } else if head.starts_with(ZSTD_MAGIC) || is_skippable(head) {
        Ok((Box::new(ZstdReader::new(src)), Compression::Zstd))
    } else {
        Ok((Box::new(src), Compression::None))
    }
}

fn is_skippable(head: &[u8]) -> bool {
    head.len() >= 4 && head[0] & 0xf0 == ZSTD_SKIPPABLE_LOW && head[1..4] == [0x2a, 0x4d, 0x18]
}

/// A zstd stream of any number of frames, as `zstd` and the `zstd:chunked` layers write them.
struct ZstdReader<R> {
    src: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdReader<R> {
    fn new(src: R) -> Self {
        ZstdReader { src, decoder: FrameDecoder::new(), in_frame: false }
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                if self.decoder.can_collect() > 0 {
                    return self.decoder.read(buf);
                }
                if self.decoder.is_finished() {
                    self.in_frame = false;
                    continue;
                }
                self.decoder
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                continue;
            }
            if self.src.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.decoder.reset(&mut self.src) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.src).take(u64::from(length)), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "zstd stream ends inside a skippable frame",
                        ));
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};

    fn roundtrip(stream: &[u8]) -> (Vec<u8>, Compression) {
        let (mut reader, compression) = decompress(stream).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        (out, compression)
    }

    #[test]
    fn zstd_frames_and_skippable_frames() {
        let mut stream = vec![0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
        stream.extend(compress_to_vec(&b"hello "[..], CompressionLevel::Fastest));
        stream.extend(compress_to_vec(&b"world"[..], CompressionLevel::Fastest));
        assert_eq!(roundtrip(&stream), (b"hello world".to_vec(), Compression::Zstd));
    }

    #[test]
    fn gzip_members_and_plain() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut stream = Vec::new();
        for part in [&b"abc"[..], b"def"] {
            let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            stream.extend(enc.finish().unwrap());
        }
        assert_eq!(roundtrip(&stream), (b"abcdef".to_vec(), Compression::Gzip));
        assert_eq!(roundtrip(b"plain"), (b"plain".to_vec(), Compression::None));
        assert_eq!(roundtrip(b""), (Vec::new(), Compression::None));
    }
}
