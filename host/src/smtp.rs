//! The auth e-mails by SMTP, through `lettre`: one `multipart/alternative`
//! message (text and HTML) per send, on its own connection (as GoTrue's
//! gomail dials for each), every command under a timeout.
//!
//! TLS as GoTrue's mailer (gomail) does it by default — implicit TLS on port
//! 465, otherwise STARTTLS when the server offers it — or as `auth-smtp-tls`
//! asks: `starttls` (required: a server without it is refused), `tls`
//! (implicit, any port), `off`. Certificates are checked against the
//! Mozilla roots plus `auth-smtp-ca-file`. Credentials (`AUTH PLAIN`/`LOGIN`)
//! go only after TLS, or on a plain connection to a loopback server.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// Each SMTP command's timeout, and the whole send's.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection is secured (`auth-smtp-tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Implicit TLS on port 465, else STARTTLS when offered (GoTrue's).
    Auto,
    /// STARTTLS, required.
    StartTls,
    /// Implicit TLS (SMTPS) on any port.
    Implicit,
    /// Plain SMTP.
    Off,
}

impl TlsMode {
    pub fn parse(s: &str) -> Option<TlsMode> {
        Some(match s {
            "auto" => TlsMode::Auto,
            "starttls" => TlsMode::StartTls,
            "tls" => TlsMode::Implicit,
            "off" => TlsMode::Off,
            _ => return None,
        })
    }
}

/// An SMTP server.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    pub tls: TlsMode,
    /// PEM certificates trusted besides the Mozilla roots.
    pub ca_pem: Option<Vec<u8>>,
}

/// One e-mail.
#[derive(Debug, Clone)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The message as lettre builds it (headers checked, bodies encoded).
pub fn build(from: &str, from_name: Option<&str>, m: &Message) -> Result<lettre::Message, String> {
    let from: Address = from
        .parse()
        .map_err(|e| format!("auth-smtp-admin-email is not an address ({from}): {e}"))?;
    let to: Address = m.to.parse().map_err(|e| format!("not an address ({}): {e}", m.to))?;
    lettre::Message::builder()
        .from(Mailbox::new(from_name.map(|n| n.replace('"', "")), from))
        .to(Mailbox::new(None, to))
        .subject(m.subject.as_str())
        .multipart(MultiPart::alternative_plain_html(m.text.clone(), m.html.clone()))
        .map_err(|e| format!("building the message: {e}"))
}

/// Whether credentials may go over an unencrypted connection: only to a
/// server on this machine (as Go's `smtp.PlainAuth`, which gomail uses).
fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn transport(smtp: &Smtp) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let params = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(smtp.host.clone());
        if let Some(pem) = &smtp.ca_pem {
            b = b.add_root_certificate(
                Certificate::from_pem(pem).map_err(|e| format!("auth-smtp-ca-file: {e}"))?,
            );
        }
        b.build_rustls().map_err(|e| format!("TLS: {e}"))
    };
    let tls = match (smtp.tls, smtp.port) {
        (TlsMode::Off, _) => Tls::None,
        (TlsMode::Implicit, _) | (TlsMode::Auto, 465) => Tls::Wrapper(params()?),
        (TlsMode::StartTls, _) => Tls::Required(params()?),
        (TlsMode::Auto, _) => Tls::Opportunistic(params()?),
    };
    if smtp.credentials.is_some() && matches!(tls, Tls::None) && !loopback(&smtp.host) {
        return Err("refusing to send the SMTP password unencrypted (auth-smtp-tls = off to a remote server)".into());
    }
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(COMMAND_TIMEOUT))
        .hello_name(ClientId::Domain("supalite".into()));
    if let Some((user, pass)) = &smtp.credentials {
        b = b.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(b.build())
}

/// Sends `m` through `smtp`.
pub async fn send(smtp: &Smtp, from: &str, from_name: Option<&str>, m: &Message) -> Result<(), String> {
    let message = build(from, from_name, m)?;
    let addr = format!("{}:{}", smtp.host, smtp.port);
    let t = transport(smtp).map_err(|e| format!("SMTP {addr}: {e}"))?;
    match tokio::time::timeout(SEND_TIMEOUT, t.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("SMTP {addr}: {e}")),
        Err(_) => Err(format!("SMTP {addr}: no answer in {}s", SEND_TIMEOUT.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_modes() {
        let m = Message { to: "a@b.co".into(), subject: "Hé".into(), text: "t".into(), html: "<b>h</b>".into() };
        let raw = String::from_utf8(build("admin@x.io", Some("App"), &m).unwrap().formatted()).unwrap();
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        assert!(raw.contains("From: App <admin@x.io>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("Date: "), "{raw}");
        // A header injection in an address is refused, not sent.
        let bad = Message { to: "a@b.co>\r\nRCPT TO:<x@y".into(), ..m.clone() };
        assert!(build("admin@x.io", None, &bad).is_err());
        assert!(build("not an address", None, &m).is_err());
        assert_eq!(TlsMode::parse("tls"), Some(TlsMode::Implicit));
        assert_eq!(TlsMode::parse("ssl"), None);
        assert!(loopback("127.0.0.1") && loopback("[::1]") && loopback("localhost"));
        assert!(!loopback("smtp.example.com"));
        let remote = Smtp {
            host: "smtp.example.com".into(),
            port: 25,
            credentials: Some(("u".into(), "p".into())),
            tls: TlsMode::Off,
            ca_pem: None,
        };
        assert!(transport(&remote).is_err());
        assert!(transport(&Smtp { tls: TlsMode::Auto, ..remote.clone() }).is_ok());
        assert!(transport(&Smtp { ca_pem: Some(b"junk".to_vec()), ..remote }).is_err());
    }
}
