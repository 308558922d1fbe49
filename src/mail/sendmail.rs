//! The real `Mailer`: lettre's sendmail transport, which runs the sendmail
//! program (dma on Mageia) with `-i -f SENDER -- RECIPIENTS` as arguments
//! and writes the message to its standard input. No shell is involved.
//!
//! lettre's transport waits for the program without a time limit; the
//! outbox bounds it (`outbox`).

use std::path::PathBuf;

use lettre::Transport;
use lettre::transport::sendmail::SendmailTransport;

use super::{Mail, MailError, Mailer, message};

/// Where Mageia (and Debian) have the sendmail program.
pub const DEFAULT_PROGRAM: &str = "/usr/sbin/sendmail";

/// Sends through the sendmail program at `program`.
pub struct SendmailMailer {
    program: PathBuf,
}

impl SendmailMailer {
    pub fn new(program: impl Into<PathBuf>) -> SendmailMailer {
        SendmailMailer {
            program: program.into(),
        }
    }
}

impl Default for SendmailMailer {
    fn default() -> SendmailMailer {
        SendmailMailer::new(DEFAULT_PROGRAM)
    }
}

/// `No such file or directory (os error 2)` without the number.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Mailer for SendmailMailer {
    fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let msg = message::message(mail)?;
        let transport = SendmailTransport::new_with_command(&self.program);
        transport.send(&msg).map_err(|e| {
            let program = self.name();
            let source = std::error::Error::source(&e);
            match source.and_then(|s| s.downcast_ref::<std::io::Error>()) {
                // Could not start it, or it closed its input early.
                Some(io) => MailError::Program {
                    program,
                    reason: io_reason(io),
                },
                // It ran and failed: lettre gives what it wrote on stderr.
                None => MailError::Refused {
                    program,
                    stderr: source
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| e.to_string()),
                },
            }
        })
    }

    fn name(&self) -> String {
        self.program.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mail() -> Mail {
        Mail {
            sender: "fail2ban@localhost".into(),
            sender_name: "Fail2Ban".into(),
            recipients: vec!["root".into()],
            subject: "[Fail2Ban] t: banned 192.0.2.9 from h".into(),
            body: "Hello,\n$(touch /tmp/x)\n".into(),
        }
    }

    fn script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[test]
    fn arguments_and_input_reach_the_program() {
        let dir = std::env::temp_dir().join(format!("ferroban-sendmail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let out = dir.join("got");
        let ok = script(
            &dir,
            "ok",
            &format!("printf '%s\\n' \"$@\" > {0}; cat >> {0}", out.display()),
        );
        SendmailMailer::new(&ok).send(&mail()).expect("sent");
        let got = std::fs::read_to_string(&out).expect("written");
        assert!(
            got.starts_with("-i\n-f\nfail2ban@localhost\n--\nroot@localhost\n"),
            "{got}"
        );
        assert!(
            got.contains("Subject: [Fail2Ban] t: banned 192.0.2.9 from h"),
            "{got}"
        );

        let refusing = script(
            &dir,
            "no",
            "cat >/dev/null; echo 'no such user' >&2; exit 67",
        );
        let e = SendmailMailer::new(&refusing)
            .send(&mail())
            .expect_err("refused");
        assert_eq!(
            e,
            MailError::Refused {
                program: refusing.display().to_string(),
                stderr: "no such user\n".into()
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_program_is_named() {
        let e = SendmailMailer::new("/nonexistent/sendmail")
            .send(&mail())
            .expect_err("missing");
        assert_eq!(
            e.to_string(),
            "/nonexistent/sendmail: No such file or directory"
        );
    }
}
