//! A streaming `multipart/form-data` reader for uploads: the text fields
//! before the first file (`cacheControl`, `metadata`, `contentType`, as
//! storage-js sends them), then that file's bytes as they arrive, chunk by
//! chunk, never the whole file in memory. What comes after the first file
//! is ignored, as Storage's `request.file()` does.

/// The limits of Storage's multipart parser (`fields: 10, files: 1`), and
/// busboy's field size (1 MiB).
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD_BYTES: usize = 1 << 20;
const MAX_HEADER_BYTES: usize = 16 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text field (a part without a file name).
    Field { name: String, value: String },
    /// The file part starts: its field name, file name and declared type.
    File {
        name: String,
        filename: String,
        content_type: Option<String>,
    },
    /// Bytes of the file.
    Data(Vec<u8>),
    /// The file ended (what follows is not read).
    FileEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not multipart as declared (no boundary, broken framing, ended early).
    Malformed(&'static str),
    /// Too many fields or too large a field.
    TooLarge,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 200).then(|| v.to_string())
    })
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: `--` (the end) or CRLF and headers.
    AfterDelimiter,
    Headers,
    Field { name: String, value: Vec<u8> },
    File,
    Done,
}

pub struct Reader {
    /// `\r\n--boundary` (the stream is read as if it began with CRLF).
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    state: State,
    fields: usize,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut start = 0;
    while start + needle.len() <= haystack.len() {
        let i = start + haystack[start..].iter().position(|&b| b == first)?;
        if haystack.len() - i < needle.len() {
            return None;
        }
        if &haystack[i..i + needle.len()] == needle {
            return Some(i);
        }
        start = i + 1;
    }
    None
}

/// `name="x"` of a `Content-Disposition` value.
fn param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .replace("\\\"", "\"")
        })
    })
}

impl Reader {
    pub fn new(boundary: &str) -> Reader {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Reader {
            delimiter,
            buf: b"\r\n".to_vec(),
            state: State::Preamble,
            fields: 0,
        }
    }

    /// Whether the file has ended (nothing more is needed).
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next bytes of the body; the events they complete.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        if self.state == State::Done {
            return Ok(());
        }
        self.buf.extend_from_slice(chunk);
        self.step(out)
    }

    /// The body ended: an error unless the file was read to its end.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), Error> {
        self.step(out)?;
        if self.state == State::Done {
            Ok(())
        } else {
            Err(Error::Malformed("the multipart body ended early"))
        }
    }

    fn step(&mut self, out: &mut Vec<Event>) -> Result<(), Error> {
        loop {
            match &mut self.state {
                State::Done => return Ok(()),
                State::Preamble => match find(&self.buf, &self.delimiter) {
                    Some(i) => {
                        self.buf.drain(..i + self.delimiter.len());
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        // Keep what could be the start of a delimiter.
                        let keep = self.delimiter.len();
                        if self.buf.len() > keep {
                            let cut = self.buf.len() - keep;
                            self.buf.drain(..cut);
                        }
                        return Ok(());
                    }
                },
                State::AfterDelimiter => {
                    if self.buf.len() < 2 {
                        return Ok(());
                    }
                    if self.buf.starts_with(b"--") {
                        // The closing delimiter before any file.
                        return Err(Error::Malformed("no file in the multipart body"));
                    }
                    // Transport padding, then CRLF.
                    let Some(eol) = find(&self.buf, b"\r\n") else {
                        if self.buf.len() > 256 {
                            return Err(Error::Malformed("a multipart delimiter line is broken"));
                        }
                        return Ok(());
                    };
                    if !self.buf[..eol].iter().all(|b| *b == b' ' || *b == b'\t') {
                        return Err(Error::Malformed("a multipart delimiter line is broken"));
                    }
                    self.buf.drain(..eol + 2);
                    self.state = State::Headers;
                }
                State::Headers => {
                    let Some(end) = find(&self.buf, b"\r\n\r\n").map(|i| i + 4).or_else(|| {
                        // A part without headers starts with its CRLF.
                        self.buf.starts_with(b"\r\n").then_some(2)
                    }) else {
                        if self.buf.len() > MAX_HEADER_BYTES {
                            return Err(Error::TooLarge);
                        }
                        return Ok(());
                    };
                    let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                    self.buf.drain(..end);
                    let mut disposition = None;
                    let mut content_type = None;
                    for line in head.split("\r\n") {
                        if let Some((k, v)) = line.split_once(':') {
                            if k.trim().eq_ignore_ascii_case("content-disposition") {
                                disposition = Some(v.trim().to_string());
                            } else if k.trim().eq_ignore_ascii_case("content-type") {
                                content_type = Some(v.trim().to_string());
                            }
                        }
                    }
                    let disposition = disposition
                        .ok_or(Error::Malformed("a multipart part has no Content-Disposition"))?;
                    let name = param(&disposition, "name").unwrap_or_default();
                    match param(&disposition, "filename") {
                        Some(filename) => {
                            out.push(Event::File {
                                name,
                                filename,
                                content_type,
                            });
                            self.state = State::File;
                        }
                        None => {
                            self.fields += 1;
                            if self.fields > MAX_FIELDS {
                                return Err(Error::TooLarge);
                            }
                            self.state = State::Field {
                                name,
                                value: Vec::new(),
                            };
                        }
                    }
                }
                State::Field { name, value } => match find(&self.buf, &self.delimiter) {
                    Some(i) => {
                        value.extend_from_slice(&self.buf[..i]);
                        if value.len() > MAX_FIELD_BYTES {
                            return Err(Error::TooLarge);
                        }
                        out.push(Event::Field {
                            name: std::mem::take(name),
                            value: String::from_utf8_lossy(value).into_owned(),
                        });
                        self.buf.drain(..i + self.delimiter.len());
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        let safe = self.buf.len().saturating_sub(self.delimiter.len());
                        value.extend_from_slice(&self.buf[..safe]);
                        self.buf.drain(..safe);
                        if value.len() > MAX_FIELD_BYTES {
                            return Err(Error::TooLarge);
                        }
                        return Ok(());
                    }
                },
                State::File => match find(&self.buf, &self.delimiter) {
                    Some(i) => {
                        if i > 0 {
                            out.push(Event::Data(self.buf[..i].to_vec()));
                        }
                        out.push(Event::FileEnd);
                        self.buf = Vec::new();
                        self.state = State::Done;
                        return Ok(());
                    }
                    None => {
                        let safe = self.buf.len().saturating_sub(self.delimiter.len());
                        if safe > 0 {
                            let rest = self.buf.split_off(safe);
                            out.push(Event::Data(std::mem::replace(&mut self.buf, rest)));
                        }
                        return Ok(());
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(boundary: &str, file: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n").as_bytes());
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{{\"a\":1}}\r\n").as_bytes());
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"\"; filename=\"blob\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
        b.extend_from_slice(file);
        b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        b
    }

    fn read(input: &[u8], boundary: &str, chunk: usize) -> Result<(Vec<Event>, Vec<u8>), Error> {
        let mut r = Reader::new(boundary);
        let mut events = Vec::new();
        for c in input.chunks(chunk) {
            r.feed(c, &mut events)?;
        }
        r.finish(&mut events)?;
        let mut data = Vec::new();
        let mut rest = Vec::new();
        for e in events {
            match e {
                Event::Data(d) => data.extend(d),
                other => rest.push(other),
            }
        }
        Ok((rest, data))
    }

    #[test]
    fn fields_then_the_file_in_any_chunking() {
        let boundary = "----formdata-undici-0123456789";
        // File bytes that look like delimiters in part.
        let mut file = b"\r\n--not-it\r\n-".to_vec();
        file.extend((0..5000u32).map(|i| (i * 7 % 256) as u8));
        file.extend_from_slice(b"\r\n------formdata-undici-012345678");
        let input = body(boundary, &file);
        for chunk in [1, 2, 3, 7, 64, 4096, input.len()] {
            let (events, data) = read(&input, boundary, chunk).unwrap();
            assert_eq!(data, file, "chunk {chunk}");
            assert_eq!(
                events,
                vec![
                    Event::Field { name: "cacheControl".into(), value: "3600".into() },
                    Event::Field { name: "metadata".into(), value: "{\"a\":1}".into() },
                    Event::File { name: "".into(), filename: "blob".into(), content_type: Some("image/png".into()) },
                    Event::FileEnd,
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn broken_bodies_are_errors_not_panics() {
        let b = "xyz";
        assert!(read(b"", b, 10).is_err());
        assert!(read(b"--xyz--\r\n", b, 10).is_err());
        assert!(read(b"--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nabc", b, 10).is_err());
        let many: String = (0..11)
            .map(|i| format!("--xyz\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n"))
            .collect();
        assert_eq!(read(many.as_bytes(), b, 100).unwrap_err(), Error::TooLarge);
        assert_eq!(boundary("multipart/form-data; boundary=\"a b\"").as_deref(), Some("a b"));
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("text/plain; boundary=x"), None);
    }
}
