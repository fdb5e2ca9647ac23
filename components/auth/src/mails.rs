//! The auth e-mails' subjects and bodies: GoTrue's default templates
//! (`internal/mailer/templatemailer`), with the one-time code as the
//! Supabase CLI's local templates add it ("Alternatively, enter the code").

/// What an e-mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Confirmation,
    Invite,
    MagicLink,
    Recovery,
    EmailChange,
    Reauthentication,
}

pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The e-mail of `kind` with its link (`url`, none for reauthentication),
/// code and, for an e-mail change, the new address.
pub fn render(kind: Kind, url: &str, code: &str, new_email: &str) -> Mail {
    let (subject, lead, action, tail) = match kind {
        Kind::Invite => (
            "You've been invited",
            "You've been invited to create an account. Follow the link below to accept.",
            "Accept invitation",
            "",
        ),
        Kind::Confirmation => (
            "Confirm your email address",
            "Follow the link below to confirm this email address and finish signing up.",
            "Confirm email address",
            "",
        ),
        Kind::Recovery => (
            "Reset your password",
            "We received a request to reset your password. Follow the link below to choose a new one.",
            "Reset password",
            "If you didn't request this, you can safely ignore this email.",
        ),
        Kind::MagicLink => (
            "Your sign-in link",
            "Follow the link below to sign in. This link expires shortly and can only be used once.",
            "Sign in",
            "",
        ),
        Kind::EmailChange => (
            "Confirm your new email address",
            "",
            "Confirm new email address",
            "If you didn't request this change, you can safely ignore this email.",
        ),
        Kind::Reauthentication => {
            let subject = format!("{code} is your verification code");
            let lead = "Use the code below to verify your identity. It expires shortly.";
            return Mail {
                text: format!("Your verification code\n\n{lead}\n\n{code}\n"),
                html: format!(
                    "<h2>Your verification code</h2>\n\n<p>{lead}</p>\n<p>{}</p>",
                    html_escape(code)
                ),
                subject,
            };
        }
    };
    let lead = if kind == Kind::EmailChange {
        format!("Follow the link below to confirm {new_email} as your new email address.")
    } else {
        lead.to_string()
    };
    let mut text = format!("{subject}\n\n{lead}\n\n{action}: {url}\n\nAlternatively, enter the code: {code}\n");
    let mut html = format!(
        "<h2>{subject}</h2>\n\n<p>{}</p>\n<p><a href=\"{}\">{action}</a></p>\n<p>Alternatively, enter the code: {}</p>",
        html_escape(&lead),
        html_escape(url),
        html_escape(code)
    );
    if !tail.is_empty() {
        text.push_str(&format!("\n{tail}\n"));
        html.push_str(&format!("\n<p>{tail}</p>"));
    }
    Mail {
        subject: subject.to_string(),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let m = render(Kind::MagicLink, "http://x/verify?token=a&type=magiclink", "123456", "");
        assert_eq!(m.subject, "Your sign-in link");
        assert!(m.text.contains("http://x/verify?token=a&type=magiclink"));
        assert!(m.text.contains("123456"));
        assert!(m.html.contains("href=\"http://x/verify?token=a&amp;type=magiclink\""));
        let m = render(Kind::EmailChange, "u", "1", "new@x.io");
        assert!(m.text.contains("confirm new@x.io as your new"));
        assert_eq!(render(Kind::Reauthentication, "", "654321", "").subject, "654321 is your verification code");
    }
}
