//! `--features alone`: a whole `wasi:http` component whose only import
//! beyond WASI is `wasi:config/store`, the standard interface the role
//! components read their settings through. Served by itself with
//! `wasmtime serve -S config -S config-var=db_max_rows=5`, it answers
//! every request with what the store gave it, as JSON:
//! `{"db_max_rows": "5", "all": [["db_max_rows", "5"]]}` (`null` when the
//! key is unset; `"error …"` when the store failed).

wit_bindgen::generate!({
    path: "../../wit",
    inline: "package probe:alone;
             world alone {
                 import wasi:config/store@0.2.0-rc.1;
                 export wasi:http/incoming-handler@0.2.12;
             }",
    world: "probe:alone/alone",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::config::store;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Alone;

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Guest for Alone {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let one = match store::get("db_max_rows") {
            Ok(Some(v)) => json_string(&v),
            Ok(None) => "null".into(),
            Err(e) => json_string(&format!("error {e:?}")),
        };
        let all = match store::get_all() {
            Ok(pairs) => format!(
                "[{}]",
                pairs
                    .iter()
                    .map(|(k, v)| format!("[{},{}]", json_string(k), json_string(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Err(e) => json_string(&format!("error {e:?}")),
        };
        let body = format!("{{\"db_max_rows\":{one},\"all\":{all}}}");
        let headers = Fields::new();
        let _ = headers.append("content-type", b"application/json");
        let response = OutgoingResponse::new(headers);
        let outgoing = response.body().expect("the body, once");
        ResponseOutparam::set(out, Ok(response));
        let stream = outgoing.write().expect("the stream, once");
        let _ = stream.blocking_write_and_flush(body.as_bytes());
        drop(stream);
        let _ = OutgoingBody::finish(outgoing, None);
    }
}

export!(Alone);
