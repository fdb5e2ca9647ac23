//! The S3 blob store (`storage-backend = "s3"`): every object of every
//! container in one S3 bucket (`storage-s3-bucket`), at the key
//! `<container>/<key>`, reached over HTTP with SigV4-signed requests
//! (`rusty-s3` signs, hyper sends; TLS for `https://` endpoints, see
//! `connect`). Nothing is kept locally, so two
//! supalite processes on the same database and bucket serve the same
//! objects.
//!
//! A write is buffered up to one part (8 MiB): an object that fits is one
//! `PutObject`; a larger one becomes a multipart upload, a part sent each
//! time the buffer fills, published by `CompleteMultipartUpload` on
//! `finish` only. A write abandoned (past its limit, the client gone) or
//! dropped unfinished aborts its upload, so no half object is ever visible
//! and memory stays at one part per upload. Downloads stream S3's response
//! body (with `Range` for partial reads).

use super::{check_key, Error, ObjectInfo};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use super::connect::Connector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rusty_s3::actions::ObjectIdentifier;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi::p2::pipe::AsyncReadStream;

/// One multipart part (S3's smallest is 5 MiB, except the last).
pub const PART: usize = 8 << 20;
/// How long a signed request stays valid (it is sent at once).
const SIGNED_FOR: Duration = Duration::from_secs(300);
/// The longest S3 may take to answer one request's headers.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an answer's body read whole (XML answers, errors).
const SMALL_BODY: usize = 1 << 20;
/// Keys one `DeleteObjects` request may carry.
const DELETE_BATCH: usize = 1000;

/// Where the store is (the `storage-s3-*` settings).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http://host:port` (an S3-compatible service) or empty for AWS's
    /// regional endpoint.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// Path-style URLs (`endpoint/bucket/key`), as S3-compatible services
    /// and IP-address endpoints need; else virtual-host style.
    pub path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// PEM certificates trusted for an `https://` endpoint besides the
    /// Mozilla roots (`storage-s3-ca-file`, read at start).
    pub ca_pem: Option<Vec<u8>>,
}

/// The S3 store; cheap to clone (writers hold one).
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

struct Inner {
    bucket: Bucket,
    credentials: Option<Credentials>,
    client: Client<Connector, Full<Bytes>>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("url", &self.inner.bucket.base_url().as_str())
            .finish()
    }
}

/// S3's answer, read whole (a small body).
struct Answer {
    headers: HeaderMap,
    body: Bytes,
}

fn other(what: impl std::fmt::Display) -> Error {
    Error::Other(what.to_string())
}

/// `<Tag>text</Tag>` in an S3 XML answer.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let from = xml.find(&open)? + open.len();
    let to = xml[from..].find(&format!("</{tag}>"))? + from;
    Some(&xml[from..to])
}

/// An error answer as the interface's error: a missing key is `not-found`;
/// anything else (a missing bucket too) names S3's code and message.
fn refusal(status: StatusCode, body: &[u8]) -> Error {
    let xml = String::from_utf8_lossy(body);
    let code = xml_text(&xml, "Code").unwrap_or("");
    if status == StatusCode::NOT_FOUND && code != "NoSuchBucket" && code != "NoSuchUpload" {
        return Error::NotFound;
    }
    let message = xml_text(&xml, "Message").unwrap_or("");
    other(format!("S3 answered {status} {code} {message}").trim_end())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Percent-encodes an object key for `x-amz-copy-source` (its `/`s kept).
fn encode_key(key: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    utf8_percent_encode(key, KEY).to_string()
}

impl S3Store {
    pub fn new(s: &Settings) -> Result<S3Store, String> {
        if s.bucket.is_empty() {
            return Err("storage-backend = \"s3\" needs storage-s3-bucket".into());
        }
        let endpoint = if s.endpoint.is_empty() {
            format!("https://s3.{}.amazonaws.com", s.region)
        } else {
            s.endpoint.clone()
        };
        let url: url::Url = endpoint
            .parse()
            .map_err(|e| format!("storage-s3-endpoint {endpoint:?}: {e}"))?;
        let ip_host = matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
            || url.host_str() == Some("localhost");
        let style = if s.path_style || ip_host {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(url, style, s.bucket.clone(), s.region.clone())
            .map_err(|e| format!("storage-s3-bucket {:?}: {e}", s.bucket))?;
        let credentials = match (&s.access_key_id, &s.secret_access_key) {
            (Some(k), Some(secret)) => Some(Credentials::new(k.clone(), secret.clone())),
            (None, None) => None,
            _ => {
                return Err(
                    "storage-s3-access-key-id and storage-s3-secret-access-key go together".into(),
                )
            }
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(Connector::new(s.ca_pem.as_deref())?);
        Ok(S3Store {
            inner: Arc::new(Inner {
                bucket,
                credentials,
                client,
            }),
        })
    }

    fn object(container: &str, key: &str) -> Result<String, Error> {
        check_key(container, key)?;
        Ok(format!("{container}/{key}"))
    }

    fn bucket(&self) -> &Bucket {
        &self.inner.bucket
    }

    fn credentials(&self) -> Option<&Credentials> {
        self.inner.credentials.as_ref()
    }

    /// Sends one request; S3's answer with its body unread.
    async fn send(
        &self,
        method: Method,
        url: url::Url,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<http::Response<hyper::body::Incoming>, Error> {
        let method_sends_body = method == Method::PUT || method == Method::POST;
        let mut req = http::Request::builder().method(method).uri(url.as_str());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if method_sends_body {
            // Even when empty: S3 refuses a PUT/POST without a length (411).
            req = req.header("content-length", body.len());
        }
        let req = req.body(Full::new(body)).map_err(other)?;
        match tokio::time::timeout(ANSWER_TIMEOUT, self.inner.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                // hyper's error names the stage; its sources say why.
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why = format!("{why}: {s}");
                    source = s.source();
                }
                Err(other(format!("S3 request failed: {why}")))
            }
            Err(_) => Err(other(format!(
                "S3 did not answer in {} s",
                ANSWER_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Sends one request and reads its (small) answer; an error status is
    /// the interface's error.
    async fn call(
        &self,
        method: Method,
        url: url::Url,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, Error> {
        let resp = self.send(method, url, headers, body).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = Limited::new(resp.into_body(), SMALL_BODY)
            .collect()
            .await
            .map_err(|e| other(format!("reading S3's answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        // Copies and completions may answer 200 with an error inside.
        if body.starts_with(b"<?xml") && xml_text(&String::from_utf8_lossy(&body), "Code").is_some() {
            return Err(refusal(status, &body));
        }
        Ok(Answer { headers, body })
    }

    /// Creates the bucket when it does not exist yet (a local S3 server
    /// starts empty); a bucket that exists is left as it is.
    pub async fn ensure_bucket(&self) -> Result<(), Error> {
        let head = self.bucket().head_bucket(self.credentials()).sign(SIGNED_FOR);
        match self.call(Method::HEAD, head, &[], Bytes::new()).await {
            Ok(_) => Ok(()),
            Err(Error::NotFound) | Err(Error::Other(_)) => {
                let creds = self.credentials().ok_or_else(|| {
                    other("the S3 bucket cannot be created without credentials")
                })?;
                let create = self.bucket().create_bucket(creds);
                let url = create.sign(SIGNED_FOR);
                let body = create.body();
                match self.call(Method::PUT, url, &[], Bytes::from(body)).await {
                    Ok(_) => Ok(()),
                    Err(Error::Other(m)) if m.contains("BucketAlreadyOwnedByYou") => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    pub fn create(&self, container: &str, key: &str, limit: u64) -> Result<Writer, Error> {
        Ok(Writer {
            store: self.clone(),
            object: S3Store::object(container, key)?,
            buf: Vec::new(),
            upload: None,
            etags: Vec::new(),
            written: 0,
            limit,
            state: WriteState::Open,
        })
    }

    /// The object's bytes `start..end` as a stream of S3's response body.
    pub async fn get(
        &self,
        container: &str,
        key: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<AsyncReadStream, Error> {
        let object = S3Store::object(container, key)?;
        let url = self
            .bucket()
            .get_object(self.credentials(), &object)
            .sign(SIGNED_FOR);
        let range = match end {
            Some(end) if end <= start => {
                // Nothing to read; the object must still exist.
                self.info(container, key).await?;
                return Ok(AsyncReadStream::new(tokio::io::empty()));
            }
            Some(end) => Some(format!("bytes={start}-{}", end - 1)),
            None if start > 0 => Some(format!("bytes={start}-")),
            None => None,
        };
        let headers: Vec<(&str, &str)> = range.iter().map(|r| ("range", r.as_str())).collect();
        let resp = self.send(Method::GET, url, &headers, Bytes::new()).await?;
        let status = resp.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(AsyncReadStream::new(tokio::io::empty()));
        }
        if !status.is_success() {
            let body = Limited::new(resp.into_body(), SMALL_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(refusal(status, &body));
        }
        let stream = resp
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        Ok(AsyncReadStream::new(tokio_util::io::StreamReader::new(stream)))
    }

    pub async fn info(&self, container: &str, key: &str) -> Result<ObjectInfo, Error> {
        let object = S3Store::object(container, key)?;
        self.head(&object).await
    }

    async fn head(&self, object: &str) -> Result<ObjectInfo, Error> {
        let url = self
            .bucket()
            .head_object(self.credentials(), object)
            .sign(SIGNED_FOR);
        let answer = self.call(Method::HEAD, url, &[], Bytes::new()).await?;
        let h = &answer.headers;
        Ok(ObjectInfo {
            size: header(h, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            etag: header(h, "etag").unwrap_or("\"\"").to_string(),
            modified_ms: header(h, "last-modified")
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64),
        })
    }

    /// A server-side copy (`PutObject` with `x-amz-copy-source`).
    pub async fn copy(&self, from: (&str, &str), to: (&str, &str)) -> Result<ObjectInfo, Error> {
        let src = S3Store::object(from.0, from.1)?;
        let dst = S3Store::object(to.0, to.1)?;
        let source = format!("{}/{}", self.bucket().name(), encode_key(&src));
        let mut action = self.bucket().put_object(self.credentials(), &dst);
        action
            .headers_mut()
            .insert("x-amz-copy-source", source.as_str());
        let url = action.sign(SIGNED_FOR);
        self.call(
            Method::PUT,
            url,
            &[("x-amz-copy-source", source.as_str())],
            Bytes::new(),
        )
        .await?;
        self.head(&dst).await
    }

    /// Deletes objects (`DeleteObjects`, up to 1,000 keys a request);
    /// keys without an object are no error.
    pub async fn delete(&self, container: &str, keys: &[String]) -> Result<(), Error> {
        let objects = keys
            .iter()
            .map(|k| S3Store::object(container, k))
            .collect::<Result<Vec<_>, _>>()?;
        for batch in objects.chunks(DELETE_BATCH) {
            let ids: Vec<ObjectIdentifier> =
                batch.iter().map(|o| ObjectIdentifier::new(o.clone())).collect();
            let mut action = self.bucket().delete_objects(self.credentials(), ids.iter());
            action.set_quiet(true);
            let url = action.sign(SIGNED_FOR);
            let (body, md5) = action.body_with_md5();
            let answer = self
                .call(Method::POST, url, &[("content-md5", md5.as_str())], Bytes::from(body))
                .await?;
            let xml = String::from_utf8_lossy(&answer.body);
            if let Some(code) = xml_text(&xml, "Code") {
                return Err(other(format!("S3 refused a delete: {code}")));
            }
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq)]
enum WriteState {
    Open,
    Failed,
    Done,
}

/// An object being written: one part buffered, the parts before it sent.
pub struct Writer {
    store: S3Store,
    object: String,
    buf: Vec<u8>,
    /// The multipart upload, once the object outgrew one part.
    upload: Option<String>,
    etags: Vec<String>,
    written: u64,
    limit: u64,
    state: WriteState,
}

impl Writer {
    fn usable(&self) -> Result<(), Error> {
        match self.state {
            WriteState::Open => Ok(()),
            WriteState::Failed => Err(other("the write was abandoned")),
            WriteState::Done => Err(other("the writer is finished")),
        }
    }

    pub async fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.usable()?;
        if self.written + bytes.len() as u64 > self.limit {
            self.abandon();
            return Err(Error::TooLarge);
        }
        self.buf.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        while self.buf.len() >= PART {
            let rest = self.buf.split_off(PART);
            let part = std::mem::replace(&mut self.buf, rest);
            if let Err(e) = self.send_part(part).await {
                self.abandon();
                return Err(e);
            }
        }
        Ok(())
    }

    async fn send_part(&mut self, part: Vec<u8>) -> Result<(), Error> {
        let store = self.store.clone();
        let (bucket, creds) = (store.bucket(), store.credentials());
        if self.upload.is_none() {
            let url = bucket
                .create_multipart_upload(creds, &self.object)
                .sign(SIGNED_FOR);
            let answer = store.call(Method::POST, url, &[], Bytes::new()).await?;
            let xml = String::from_utf8_lossy(&answer.body);
            let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&xml)
                .map_err(|e| other(format!("S3's CreateMultipartUpload answer: {e}")))?;
            self.upload = Some(parsed.upload_id().to_string());
        }
        let upload = self.upload.as_deref().unwrap_or_default();
        let number = u16::try_from(self.etags.len() + 1)
            .map_err(|_| other("an object of more than 65,535 parts"))?;
        let url = bucket
            .upload_part(creds, &self.object, number, upload)
            .sign(SIGNED_FOR);
        let answer = store.call(Method::PUT, url, &[], Bytes::from(part)).await?;
        let etag = header(&answer.headers, "etag")
            .ok_or_else(|| other("S3 answered a part without an ETag"))?;
        self.etags.push(etag.to_string());
        Ok(())
    }

    /// Gives the write up; a multipart upload begun is aborted.
    pub fn abandon(&mut self) {
        self.state = WriteState::Failed;
        self.buf = Vec::new();
        self.abort();
    }

    fn abort(&mut self) {
        let Some(upload) = self.upload.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let object = self.object.clone();
        rt.spawn(async move {
            let url = store
                .bucket()
                .abort_multipart_upload(store.credentials(), &object, &upload)
                .sign(SIGNED_FOR);
            if let Err(e) = store.call(Method::DELETE, url, &[], Bytes::new()).await {
                tracing::warn!(object, error = ?e, "aborting an unfinished S3 upload failed");
            }
        });
    }

    pub async fn finish(&mut self) -> Result<ObjectInfo, Error> {
        self.usable()?;
        let result = self.publish().await;
        match &result {
            Ok(_) => self.state = WriteState::Done,
            Err(_) => self.abandon(),
        }
        result
    }

    async fn publish(&mut self) -> Result<ObjectInfo, Error> {
        let store = self.store.clone();
        let (bucket, creds) = (store.bucket(), store.credentials());
        let body = Bytes::from(std::mem::take(&mut self.buf));
        if self.upload.is_none() {
            let url = bucket.put_object(creds, &self.object).sign(SIGNED_FOR);
            store.call(Method::PUT, url, &[], body).await?;
        } else {
            if !body.is_empty() {
                self.send_part(body.to_vec()).await?;
            }
            let upload = self.upload.clone().unwrap_or_default();
            let action = bucket.complete_multipart_upload(
                creds,
                &self.object,
                &upload,
                self.etags.iter().map(String::as_str),
            );
            let url = action.sign(SIGNED_FOR);
            let xml = action.body();
            store.call(Method::POST, url, &[], Bytes::from(xml)).await?;
            // Completed: nothing to abort any more.
            self.upload = None;
        }
        let info = store.head(&self.object).await?;
        if info.size != self.written {
            return Err(other(format!(
                "S3 holds {} bytes where {} were written",
                info.size, self.written
            )));
        }
        Ok(info)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.state == WriteState::Open {
            self.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_answers_become_interface_errors() {
        let missing = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
        assert!(matches!(refusal(StatusCode::NOT_FOUND, missing), Error::NotFound));
        let bucket = b"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        match refusal(StatusCode::NOT_FOUND, bucket) {
            Error::Other(m) => assert!(m.contains("NoSuchBucket"), "{m}"),
            e => panic!("{e:?}"),
        }
        match refusal(StatusCode::FORBIDDEN, b"") {
            Error::Other(m) => assert_eq!(m, "S3 answered 403 Forbidden"),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn copy_sources_are_percent_encoded_but_keep_slashes() {
        assert_eq!(encode_key("b/a b/ü.png/v1"), "b/a%20b/%C3%BC.png/v1");
    }

    #[test]
    fn settings_are_checked() {
        let mut s = Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "supalite".into(),
            region: "us-east-1".into(),
            path_style: false,
            access_key_id: Some("k".into()),
            secret_access_key: None,
            ca_pem: None,
        };
        assert!(S3Store::new(&s).unwrap_err().contains("go together"));
        s.secret_access_key = Some("s".into());
        let store = S3Store::new(&s).unwrap();
        // An IP address endpoint is path style.
        assert_eq!(store.bucket().base_url().as_str(), "http://127.0.0.1:9000/supalite/");
        s.bucket = String::new();
        assert!(S3Store::new(&s).is_err());
        s.bucket = "b".into();
        s.endpoint = "ftp://s3.example.com".into();
        assert!(S3Store::new(&s).is_err());
        s.endpoint = "https://s3.example.com".into();
        s.ca_pem = Some(b"not a certificate".to_vec());
        assert!(S3Store::new(&s).unwrap_err().contains("storage-s3-ca-file"));
        assert!(S3Store::create(&store, "b", "../x", 10).is_err());
    }
}
