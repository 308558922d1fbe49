//! A `Mail` made into an Internet message by lettre: Date, Message-ID,
//! From with its display name, To, Subject, MIME-Version and a UTF-8
//! text/plain body.
//!
//! Pure (no I/O), so the exact headers can be checked in tests. lettre
//! encodes non-ASCII names and subjects (RFC 2047) and the body
//! (always quoted-printable), so nothing in a value can
//! start a header of its own; the subject and sender name are also kept
//! to one line before they get there.

use std::sync::atomic::{AtomicU64, Ordering};

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};

use super::compose::one_line;
use super::{Mail, MailError};

/// The domain a bare name (`root`) is taken in, as sendmail does for a
/// local mailbox; jail.conf's stock `destemail` is `root@localhost`.
pub const LOCAL_DOMAIN: &str = "localhost";

/// `text` as a mail address; a bare name gets `@localhost`.
pub fn address(text: &str) -> Result<lettre::Address, MailError> {
    let t = text.trim();
    let full = if t.is_empty() || t.contains('@') {
        t.to_string()
    } else {
        format!("{t}@{LOCAL_DOMAIN}")
    };
    full.parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address {
            value: text.to_string(),
            reason: e.to_string(),
        })
}

/// A Message-ID no other mail has: time, process and a counter, in the
/// sender's domain.
fn message_id(domain: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "<{}.{:09}.{}.{}.ferroban@{domain}>",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The message for `mail` (lettre adds the Date).
pub fn message(mail: &Mail) -> Result<Message, MailError> {
    let sender = address(&mail.sender)?;
    let name = one_line(mail.sender_name.trim());
    let from = Mailbox::new((!name.is_empty()).then_some(name), sender.clone());
    let mut b = Message::builder()
        .from(from)
        .subject(one_line(&mail.subject))
        .message_id(Some(message_id(sender.domain())));
    if mail.recipients.is_empty() {
        return Err(MailError::Address {
            value: String::new(),
            reason: "no recipient: dest is empty".into(),
        });
    }
    for r in &mail.recipients {
        b = b.to(Mailbox::new(None, address(r)?));
    }
    // Always quoted-printable: plain text stays readable in a mailbox
    // file, and long or non-ASCII log lines are still carried safely.
    let body = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::QuotedPrintable)
        .body(mail.body.clone());
    b.singlepart(body)
        .map_err(|e| MailError::Message(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            sender: "fail2ban@vm.example.org".into(),
            sender_name: "Fail2Ban".into(),
            recipients: vec!["root".into(), "admin@example.org".into()],
            subject: "[Fail2Ban] SSH: banned 192.0.2.2 from vm.example.org".into(),
            body: "Hello,\n\nline with $(touch /tmp/x) and `id`\r\nBcc: evil@example.org\n".into(),
        }
    }

    /// The header part (before the first blank line) and the body.
    fn split(m: &Message) -> (String, String) {
        let text = String::from_utf8(m.formatted()).expect("ascii message");
        let (h, b) = text.split_once("\r\n\r\n").expect("headers end");
        (h.to_string(), b.to_string())
    }

    /// Header names, in order, with continuation lines folded in.
    fn names(headers: &str) -> Vec<String> {
        headers
            .split("\r\n")
            .filter(|l| !l.starts_with([' ', '\t']))
            .map(|l| l.split(':').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn headers_are_proper() {
        let m = message(&mail()).expect("builds");
        let (h, body) = split(&m);
        let mut n = names(&h);
        n.sort();
        assert_eq!(
            n,
            [
                "Content-Transfer-Encoding",
                "Content-Type",
                "Date",
                "From",
                "MIME-Version",
                "Message-ID",
                "Subject",
                "To"
            ],
            "{h}"
        );
        assert!(
            h.contains("\r\nFrom: Fail2Ban <fail2ban@vm.example.org>\r\n")
                || h.starts_with("From: Fail2Ban <fail2ban@vm.example.org>\r\n"),
            "{h}"
        );
        assert!(h.contains("To: root@localhost, admin@example.org"), "{h}");
        assert!(
            h.contains("Subject: [Fail2Ban] SSH: banned 192.0.2.2 from vm.example.org"),
            "{h}"
        );
        assert!(h.contains("MIME-Version: 1.0"), "{h}");
        assert!(h.contains("Content-Type: text/plain; charset=utf-8"), "{h}");
        assert!(h.contains("ferroban@vm.example.org>"), "{h}");
        // Date: Sat, 28 Nov 2026 12:00:00 +0000
        let date = h
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Date: "))
            .expect("date");
        assert!(
            date.contains(", ")
                && date.ends_with(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']),
            "{date}"
        );
        // The hostile text is body, never a header.
        assert!(!h.contains("Bcc") && !h.contains("evil"), "{h}");
        assert!(
            h.contains("Content-Transfer-Encoding: quoted-printable"),
            "{h}"
        );
        assert!(
            body.starts_with("Hello,\r\n\r\nline with $(touch /tmp/x) and `id`\r\n"),
            "{body:?}"
        );
        let env = m.envelope();
        assert_eq!(
            env.from().map(|a| a.to_string()),
            Some("fail2ban@vm.example.org".into())
        );
        let to: Vec<String> = env.to().iter().map(|a| a.to_string()).collect();
        assert_eq!(to, ["root@localhost", "admin@example.org"]);
    }

    #[test]
    fn line_breaks_in_subject_and_name_start_no_header() {
        let m = message(&Mail {
            subject: "[Fail2Ban] SSH: banned x\r\nBcc: evil@example.org from vm".into(),
            sender_name: "Fail2Ban\r\nBcc: evil@example.org".into(),
            ..mail()
        })
        .expect("builds");
        let (h, _) = split(&m);
        assert!(
            !h.split("\r\n").any(|l| l.starts_with("Bcc")),
            "a header was injected:\n{h}"
        );
        assert!(
            m.envelope()
                .to()
                .iter()
                .all(|a| a.domain() != "example.org" || a.user() == "admin")
        );
    }

    #[test]
    fn non_ascii_names_are_encoded() {
        let m = message(&Mail {
            sender_name: "Fail2Ban für Jürgen".into(),
            subject: "[Fail2Ban] SSH: banned 192.0.2.2 from hôte".into(),
            body: "utilisateur « José »\n".into(),
            ..mail()
        })
        .expect("builds");
        let text = String::from_utf8(m.formatted()).expect("ascii");
        let (h, _) = text.split_once("\r\n\r\n").expect("headers end");
        assert!(h.is_ascii(), "{h}");
        assert!(h.contains("=?utf-8?"), "encoded words: {h}");
    }

    #[test]
    fn addresses_bare_names_and_bad_ones() {
        assert_eq!(address("root").expect("ok").to_string(), "root@localhost");
        assert_eq!(
            address(" admin@example.org ").expect("ok").to_string(),
            "admin@example.org"
        );
        let e = address("a b@example.org").expect_err("bad");
        assert!(e.to_string().contains("check dest and sender"), "{e}");
        let e = message(&Mail {
            recipients: vec![],
            ..mail()
        })
        .expect_err("no recipient");
        assert!(e.to_string().contains("dest is empty"), "{e}");
    }
}
