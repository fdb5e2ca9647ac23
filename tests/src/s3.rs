//! A real local S3 server for the S3 blob store's tests: moto's server
//! (`moto[server]` from PyPI, installed by tests/run.sh), started on a free
//! port and killed with the handle. Its S3 answers are read unsigned
//! (moto does not check signatures unless told to).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    /// Starts `python3 -m moto.server` and waits until it answers.
    pub fn start() -> Moto {
        let moto = Moto::spawn(&[], "http");
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{}/moto-api/", moto.url)).call().is_err() {
            assert!(Instant::now() < deadline, "moto did not start in 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        moto
    }

    /// moto serving HTTPS with `cert`/`key` (PEM files); ready once its
    /// port accepts connections.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Moto {
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let moto = Moto::spawn(&["-c", cert, "-k", key], "https");
        let addr = moto.url.trim_start_matches("https://").to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "moto did not start in 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        moto
    }

    fn spawn(args: &[&str], scheme: &str) -> Moto {
        let port = crate::free_port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (moto[server] from PyPI; tests/run.sh installs it)");
        Moto {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
        }
    }

    /// The settings that put supalite's blob store in `bucket` here.
    pub fn env(&self, bucket: &str) -> Vec<(String, String)> {
        [
            ("SUPALITE_STORAGE_BACKEND", "s3"),
            ("SUPALITE_STORAGE_S3_ENDPOINT", self.url.as_str()),
            ("SUPALITE_STORAGE_S3_BUCKET", bucket),
            ("SUPALITE_STORAGE_S3_ACCESS_KEY_ID", "test"),
            ("SUPALITE_STORAGE_S3_SECRET_ACCESS_KEY", "test"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn get(&self, path: &str) -> String {
        match ureq::get(&format!("{}{path}", self.url)).call() {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(_, r)) => r.into_string().unwrap(),
            Err(e) => panic!("moto: {e}"),
        }
    }

    /// The keys in `bucket` (ListObjectsV2; fewer than 1,000 in a test).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        tags(&self.get(&format!("/{bucket}?list-type=2")), "Key")
    }

    /// The multipart uploads begun and neither completed nor aborted.
    pub fn open_uploads(&self, bucket: &str) -> Vec<String> {
        tags(&self.get(&format!("/{bucket}?uploads")), "UploadId")
    }
}

fn tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .map(str::to_string)
        .collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
