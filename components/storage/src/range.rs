//! `Range: bytes=…` as Storage's `parseRangeHeader` reads it: one range,
//! `from-to`, `from-` or `-suffix`; anything else is 416 `InvalidRange`.

use crate::error::{Result, StorageError};

/// Inclusive byte positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub from: u64,
    pub to: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.to - self.from + 1
    }
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn digits(s: &str) -> Option<Option<u64>> {
    if s.is_empty() {
        return Some(None);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Past 2^53 JavaScript's safe integers end: invalid as Storage has it.
    s.parse::<u64>().ok().filter(|n| *n < 1 << 53).map(Some)
}

pub fn parse(header: &str, size: u64) -> Result<ByteRange> {
    let invalid = StorageError::invalid_range;
    let spec = header.strip_prefix("bytes=").ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (from, to) = (digits(a).ok_or_else(invalid)?, digits(b).ok_or_else(invalid)?);
    if size == 0 {
        return Err(invalid());
    }
    match (from, to) {
        (None, None) => Err(invalid()),
        (None, Some(suffix)) => {
            if suffix == 0 {
                return Err(invalid());
            }
            Ok(ByteRange {
                from: size.saturating_sub(suffix),
                to: size - 1,
            })
        }
        (Some(from), to) => {
            let to = to.unwrap_or(size - 1);
            if to < from || from >= size {
                return Err(invalid());
            }
            Ok(ByteRange {
                from,
                to: to.min(size - 1),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_storage_reads_them() {
        assert_eq!(parse("bytes=0-9", 100).unwrap(), ByteRange { from: 0, to: 9 });
        assert_eq!(parse("bytes=90-", 100).unwrap(), ByteRange { from: 90, to: 99 });
        assert_eq!(parse("bytes=-10", 100).unwrap(), ByteRange { from: 90, to: 99 });
        assert_eq!(parse("bytes=-500", 100).unwrap(), ByteRange { from: 0, to: 99 });
        assert_eq!(parse("bytes=50-5000", 100).unwrap(), ByteRange { from: 50, to: 99 });
        for bad in ["bytes=100-", "bytes=5-1", "bytes=-", "bytes=-0", "items=0-1", "bytes=0-1,3-4", "bytes=a-b", "bytes=1"] {
            let e = parse(bad, 100).unwrap_err();
            assert_eq!((e.http, e.code), (416, "InvalidRange"), "{bad}");
        }
        assert!(parse("bytes=0-0", 0).is_err());
    }
}
