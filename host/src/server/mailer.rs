//! The `mailer` import (the auth role's e-mail), answered by `crate::mail`:
//! SMTP when `auth-smtp-host` is set, else the mail catcher.

use super::bindings::wit_mailer::{self as wit, Message};
use super::state::State;

impl wit::Host for State {
    async fn send(&mut self, m: Message) -> Result<(), String> {
        let r = self
            .mailer
            .send(crate::mail::Message {
                to: m.to,
                subject: m.subject,
                text: m.text,
                html: m.html,
            })
            .await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "an auth e-mail was not sent");
        }
        r
    }
}
