//! The client's address, and `X-Forwarded-For`.
//!
//! The client is the connection's peer, unless the peer is one of
//! `server-trusted-proxies`: then it is the rightmost hop of the configured
//! forwarded header (`server-forwarded-header`) that is not itself a
//! trusted proxy. The header of any other peer is never believed. The
//! address goes into the request's extensions ([`ClientAddr`]: per-client
//! budgets, PGlite's scheduler), and `X-Forwarded-For` ends with it, as the
//! components read the last hop (auth's rate limits): the peer appended, as
//! a proxy does, or, behind trusted proxies, the hops they added after the
//! client dropped.

use super::super::edge::Request;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The connection's peer address, put in each request's extensions by the
/// accept loop.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

/// The request's client address (see the module's comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// `server-trusted-proxies` and `server-forwarded-header`.
#[derive(Debug, Clone)]
pub struct Proxies {
    nets: Vec<(IpAddr, u8)>,
    header: http::HeaderName,
}

impl Default for Proxies {
    fn default() -> Proxies {
        Proxies {
            nets: Vec::new(),
            header: http::HeaderName::from_static("x-forwarded-for"),
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4 (a dual-stack socket's peers).
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn parse_net(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a.trim(), Some(b.trim().parse::<u8>().ok()?)),
        None => (text.trim(), None),
    };
    let ip = canonical(addr.parse::<IpAddr>().ok()?);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

fn in_net(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - bits as u32).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Proxies {
    /// From the settings' text; an entry that is no address or CIDR is an
    /// error (the server does not start with it).
    pub fn new(list: &[String], header: &str) -> anyhow::Result<Proxies> {
        let nets = list
            .iter()
            .map(|t| {
                parse_net(t).ok_or_else(|| {
                    anyhow::anyhow!("server-trusted-proxies: `{t}` is not an IP address or CIDR range")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let header = http::HeaderName::from_bytes(header.trim().as_bytes())
            .map_err(|_| anyhow::anyhow!("server-forwarded-header: `{header}` is not a header name"))?;
        Ok(Proxies { nets, header })
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| in_net(ip, *n))
    }

    /// The client of a request from `peer` with `headers`, and (behind a
    /// trusted proxy) how many of the forwarded header's hops end at it.
    fn client(&self, peer: IpAddr, headers: &http::HeaderMap) -> (IpAddr, Option<usize>) {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return (peer, None);
        }
        let hops: Vec<IpAddr> = headers
            .get_all(&self.header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|h| hop_addr(h.trim()))
            .collect();
        match hops.iter().rposition(|h| !self.trusts(*h)) {
            Some(i) => (hops[i], Some(i + 1)),
            // Only trusted hops: the farthest one is the client.
            None => hops.first().map_or((peer, None), |h| (*h, Some(1))),
        }
    }
}

/// One hop as a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`.
fn hop_addr(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    hop.trim_start_matches('[')
        .split(']')
        .next()
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(canonical)
}

#[derive(Clone, Default)]
pub struct ForwardedForLayer {
    proxies: Arc<Proxies>,
}

impl ForwardedForLayer {
    pub fn new(proxies: Arc<Proxies>) -> ForwardedForLayer {
        ForwardedForLayer { proxies }
    }
}

impl<S> tower::Layer<S> for ForwardedForLayer {
    type Service = ForwardedFor<S>;
    fn layer(&self, inner: S) -> ForwardedFor<S> {
        ForwardedFor {
            inner,
            proxies: self.proxies.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ForwardedFor<S> {
    inner: S,
    proxies: Arc<Proxies>,
}

/// Appends `peer` to the request's `X-Forwarded-For`.
fn append(headers: &mut http::HeaderMap, peer: IpAddr) {
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {peer}"),
        None => peer.to_string(),
    };
    if let Ok(v) = http::HeaderValue::from_str(&forwarded) {
        headers.insert("x-forwarded-for", v);
    }
}

/// Resolves the client of `headers` from `peer`, leaves it last in
/// `X-Forwarded-For`, and answers it.
pub fn resolve(proxies: &Proxies, peer: IpAddr, headers: &mut http::HeaderMap) -> IpAddr {
    let (client, hops) = proxies.client(peer, headers);
    match hops {
        Some(n) if proxies.header == "x-forwarded-for" => {
            // The trusted proxies' own hops after the client dropped.
            let kept: Vec<String> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|h| h.trim().to_string())
                .filter(|h| hop_addr(h).is_some())
                .take(n)
                .collect();
            if let Ok(v) = http::HeaderValue::from_str(&kept.join(", ")) {
                headers.insert("x-forwarded-for", v);
            }
        }
        _ => append(headers, client),
    }
    client
}

impl<S: tower::Service<Request>> tower::Service<Request> for ForwardedFor<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> S::Future {
        if let Some(Peer(peer)) = req.extensions().get::<Peer>().copied() {
            let client = resolve(&self.proxies, peer.ip(), req.headers_mut());
            req.extensions_mut().insert(ClientAddr(client));
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_appended() {
        let mut h = http::HeaderMap::new();
        super::append(&mut h, [10, 0, 0, 1].into());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        super::append(&mut h, [127, 0, 0, 1].into());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let none = Proxies::default();
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        assert_eq!(resolve(&none, [10, 0, 0, 1].into(), &mut h), IpAddr::from([10, 0, 0, 1]));
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 10.0.0.1");

        let p = Proxies::new(&["10.0.0.0/8".into(), "::1".into()], "x-forwarded-for").unwrap();
        assert!(p.trusts([10, 1, 2, 3].into()) && !p.trusts([11, 0, 0, 1].into()));
        assert!(p.trusts("::ffff:10.0.0.9".parse().unwrap()));
        // Forged hops left of the client stay; trusted ones right of it go.
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2".parse().unwrap());
        assert_eq!(resolve(&p, [10, 0, 0, 1].into(), &mut h), IpAddr::from([203, 0, 113, 7]));
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 203.0.113.7");
        // From an untrusted peer the header is not believed.
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert_eq!(resolve(&p, [192, 0, 2, 1].into(), &mut h), IpAddr::from([192, 0, 2, 1]));
        // Another header: its last untrusted hop, appended to X-Forwarded-For.
        let real = Proxies::new(&["127.0.0.1".into()], "X-Real-IP").unwrap();
        let mut h = http::HeaderMap::new();
        h.insert("x-real-ip", "198.51.100.4".parse().unwrap());
        assert_eq!(resolve(&real, [127, 0, 0, 1].into(), &mut h), IpAddr::from([198, 51, 100, 4]));
        assert_eq!(h["x-forwarded-for"], "198.51.100.4");
        assert!(Proxies::new(&["nope".into()], "x-forwarded-for").is_err());
        assert!(Proxies::new(&["10.0.0.0/33".into()], "x-forwarded-for").is_err());
    }
}
