//! A fault-injecting HTTP upstream: answers each request (one per
//! connection) by the next step of a script, and records what it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the upstream does with one request.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// 200 with this JSON body.
    Ok(&'static str),
    /// This status with a PostgREST-style JSON body.
    Status(u16),
    /// Waits, then answers 200 with `[]`.
    Delay(Duration),
    /// Sends headers promising 1000 bytes, 10 of them, then closes.
    DropMidBody,
}

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct FaultUpstream {
    pub url: String,
    script: Arc<Mutex<Vec<Step>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FaultUpstream {
    /// Starts on a free port; when the script runs out it answers `Ok("[]")`.
    pub fn start() -> FaultUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (sc, se) = (script.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (sc, se) = (sc.clone(), se.clone());
                std::thread::spawn(move || serve(stream, &sc, &se));
            }
        });
        FaultUpstream { url, script, seen }
    }

    /// Replaces the script: the next requests get these steps in order.
    pub fn script(&self, steps: &[Step]) {
        *self.script.lock().unwrap() = steps.to_vec();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn reset(&self) {
        self.seen.lock().unwrap().clear();
    }
}

fn serve(stream: TcpStream, script: &Mutex<Vec<Step>>, seen: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    let step = {
        let mut s = script.lock().unwrap();
        if s.is_empty() {
            Step::Ok("[]")
        } else {
            s.remove(0)
        }
    };
    seen.lock().unwrap().push(Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut out = stream;
    let answer = |status: u16, body: &str| {
        format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let text = match step {
        Step::Ok(body) => answer(200, body),
        Step::Status(code) => answer(
            code,
            &format!(
                r#"{{"code":"PGRST{code}","details":null,"hint":null,"message":"injected {code}"}}"#
            ),
        ),
        Step::Delay(d) => {
            std::thread::sleep(d);
            answer(200, "[]")
        }
        Step::DropMidBody => {
            let _ = out.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[{\"id\":1,",
            );
            let _ = out.flush();
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
    };
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
