//! A test edge function. What it does depends on the path it sees (the
//! path from `/NAME`, as Supabase's edge runtime hands it over):
//! `/NAME/binary` echoes the body's bytes, `/NAME/env` shows its
//! environment, `/NAME/rest` calls `/rest/v1/notes` with the caller's
//! token, `/NAME/outside?url=` calls another origin, `/NAME/loop` never
//! returns, `/NAME/bomb` allocates without end, `/NAME/trap` panics,
//! `/NAME/big?n=` answers n bytes, `/NAME/stream` answers an event stream;
//! any other path echoes the request as JSON. OPTIONS answers the CORS
//! preflight as Supabase's `_shared/cors.ts` example does.

use std::io::{Read as _, Write as _};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(Kit);

const VERSION: &str = if cfg!(feature = "v2") { "v2" } else { "v1" };

const CORS: [(&str, &str); 2] = [
    ("access-control-allow-origin", "*"),
    (
        "access-control-allow-headers",
        "authorization, x-client-info, apikey, content-type",
    ),
];

struct Kit;

fn method_name(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(o) => o.clone(),
    }
}

fn read_body(body: IncomingBody) -> Vec<u8> {
    let mut out = Vec::new();
    let stream = body.stream().unwrap();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    drop(stream);
    let _ = IncomingBody::finish(body);
    out
}

fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let fields = Fields::new();
    for (k, v) in CORS.iter().chain(headers) {
        let _ = fields.append(&k.to_string(), &v.as_bytes().to_vec());
    }
    let resp = OutgoingResponse::new(fields);
    let _ = resp.set_status_code(status);
    let ob = resp.body().unwrap();
    ResponseOutparam::set(out, Ok(resp));
    {
        let mut w = ob.write().unwrap();
        for chunk in body.chunks(4096) {
            w.write_all(chunk).unwrap();
        }
        w.flush().unwrap();
    }
    OutgoingBody::finish(ob, None).unwrap();
}

fn json_string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn opt(v: Option<String>) -> String {
    v.map_or("null".into(), |v| json_string(&v))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
}

/// An outgoing GET; `Ok((status, body))` or the wasi:http error code.
fn get(url: &str, headers: &[(String, String)]) -> Result<(u16, String), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("bad url {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    for (k, v) in headers {
        let _ = fields.append(k, &v.as_bytes().to_vec());
    }
    let req = OutgoingRequest::new(fields);
    req.set_scheme(Some(&if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    }))
    .unwrap();
    req.set_authority(Some(authority)).unwrap();
    req.set_path_with_query(Some(path)).unwrap();
    let body = req.body().unwrap();
    OutgoingBody::finish(body, None).unwrap();
    let future = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    let resp = loop {
        match future.get() {
            Some(r) => break r,
            None => future.subscribe().block(),
        }
    };
    let resp = resp
        .map_err(|()| "taken".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status();
    let body = resp.consume().unwrap();
    let mut text = Vec::new();
    let _ = body.stream().unwrap().read_to_end(&mut text);
    Ok((status, String::from_utf8_lossy(&text).into_owned()))
}

impl wasip2::exports::http::incoming_handler::Guest for Kit {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = method_name(&request.method());
        let pq = request.path_with_query().unwrap_or_default();
        let (path, query) = pq.split_once('?').unwrap_or((&pq, ""));
        let (path, query) = (path.to_string(), query.to_string());
        let headers: Vec<(String, String)> = request
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if method == "OPTIONS" {
            return respond(out, 200, &[], b"ok");
        }
        // The route inside the function: what follows `/NAME`.
        let inner = path
            .trim_start_matches('/')
            .split_once('/')
            .map_or("", |(_, rest)| rest)
            .to_string();
        let body = read_body(request.consume().unwrap());
        match inner.as_str() {
            "binary" => respond(
                out,
                200,
                &[("content-type", "application/octet-stream")],
                &body,
            ),
            "env" => {
                let env = |k: &str| std::env::var(k).ok();
                let names: Vec<String> = std::env::vars().map(|(k, _)| json_string(&k)).collect();
                let json = format!(
                    "{{\"url\":{},\"anon\":{},\"service\":{},\"db\":{},\"greeting\":{},\"only_here\":{},\"names\":[{}],\"preopens\":{}}}",
                    opt(env("SUPABASE_URL")),
                    opt(env("SUPABASE_ANON_KEY")),
                    opt(env("SUPABASE_SERVICE_ROLE_KEY")),
                    opt(env("SUPABASE_DB_URL")),
                    opt(env("GREETING")),
                    opt(env("ONLY_HERE")),
                    names.join(","),
                    wasip2::filesystem::preopens::get_directories().len(),
                );
                respond(out, 200, &[("content-type", "application/json")], json.as_bytes())
            }
            "rest" => {
                let base = std::env::var("SUPABASE_URL").unwrap_or_default();
                let mut hs = vec![(
                    "apikey".to_string(),
                    std::env::var("SUPABASE_ANON_KEY").unwrap_or_default(),
                )];
                if let Some(a) = header("authorization") {
                    hs.push(("authorization".into(), a));
                }
                match get(&format!("{base}/rest/v1/notes?select=body&order=id"), &hs) {
                    Ok((status, text)) => {
                        let json = format!("{{\"status\":{status},\"body\":{text}}}");
                        respond(out, 200, &[("content-type", "application/json")], json.as_bytes())
                    }
                    Err(e) => respond(out, 502, &[], e.as_bytes()),
                }
            }
            "outside" => {
                let url = query_param(&query, "url").unwrap_or_default();
                let json = match get(&url, &[]) {
                    Ok((status, _)) => format!("{{\"status\":{status}}}"),
                    Err(e) => format!("{{\"error\":{}}}", json_string(&e)),
                };
                respond(out, 200, &[("content-type", "application/json")], json.as_bytes())
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("the function failed on purpose"),
            "big" => {
                let n: usize = query_param(&query, "n").and_then(|n| n.parse().ok()).unwrap_or(0);
                let fields = Fields::new();
                let resp = OutgoingResponse::new(fields);
                let ob = resp.body().unwrap();
                ResponseOutparam::set(out, Ok(resp));
                let mut w = ob.write().unwrap();
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if w.write_all(&chunk[..k]).is_err() {
                        return;
                    }
                    left -= k;
                }
                let _ = w.flush();
                drop(w);
                let _ = OutgoingBody::finish(ob, None);
            }
            "stream" => {
                let fields = Fields::new();
                let _ = fields.append(&"content-type".to_string(), &b"text/event-stream".to_vec());
                let resp = OutgoingResponse::new(fields);
                let ob = resp.body().unwrap();
                ResponseOutparam::set(out, Ok(resp));
                let mut w = ob.write().unwrap();
                for i in 0..3 {
                    let _ = w.write_all(format!("data: tick {i}\n\n").as_bytes());
                    let _ = w.flush();
                }
                drop(w);
                let _ = OutgoingBody::finish(ob, None);
            }
            _ => {
                let json = format!(
                    "{{\"version\":\"{VERSION}\",\"method\":{},\"path\":{},\"query\":{},\"body\":{},\"len\":{},\"content_type\":{}}}",
                    json_string(&method),
                    json_string(&path),
                    json_string(&query),
                    json_string(&String::from_utf8_lossy(&body)),
                    body.len(),
                    opt(header("content-type")),
                );
                respond(out, 200, &[("content-type", "application/json")], json.as_bytes())
            }
        }
    }
}
