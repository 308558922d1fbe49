//! Mail alerts: what ferroban's built-in mail actions (action.d's
//! `sendmail*.conf`, which set `mailtype`) send when a jail starts, bans
//! an address and stops.
//!
//! Why a module of its own: a mail carries text from log lines (user
//! names, the failures' lines), so it must never pass through a shell. A
//! mail is composed here as plain data (`compose`), made into a proper
//! message by lettre (`message`: Date, Message-ID, MIME, encoded UTF-8,
//! header values that cannot hold a line break), and handed to the
//! sendmail program (dma on Mageia) as arguments and standard input
//! (`sendmail`). Sending runs on a thread of its own behind a bounded
//! queue (`outbox`), so a slow or hung sendmail never holds up a ban.

pub mod compose;
pub mod message;
pub mod outbox;
pub mod sendmail;
pub mod whois;

use std::sync::Mutex;
use std::time::Duration;

/// One mail, before it becomes a message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mail {
    /// The sender's address (`sender`); a bare name means `name@localhost`.
    pub sender: String,
    /// The name shown with it (`sendername`).
    pub sender_name: String,
    /// Who receives it (`dest`, split at commas and blanks).
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Why a mail was not sent; the text goes into the server's log.
#[derive(Debug, Clone, PartialEq)]
pub enum MailError {
    /// `dest` or `sender` holds something that is no mail address.
    Address { value: String, reason: String },
    /// lettre could not build the message.
    Message(String),
    /// The sendmail program could not be run (missing, not executable).
    Program { program: String, reason: String },
    /// It ran and refused the mail (what it wrote on stderr).
    Refused { program: String, stderr: String },
    /// It did not finish in time; it is left to finish on its own.
    TimedOut { program: String, after: Duration },
    /// Earlier runs of it still hang, so this one was not started.
    Busy { hung: usize },
    /// The queue to the mail thread is full, or the thread has stopped.
    Queue(String),
}

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailError::Address { value, reason } => {
                write!(
                    f,
                    "{value:?} is no mail address ({reason}): check dest and sender"
                )
            }
            MailError::Message(e) => write!(f, "the message could not be built: {e}"),
            MailError::Program { program, reason } => write!(f, "{program}: {reason}"),
            MailError::Refused { program, stderr } if stderr.trim().is_empty() => {
                write!(f, "{program} failed")
            }
            MailError::Refused { program, stderr } => {
                write!(f, "{program} failed: {}", stderr.trim())
            }
            MailError::TimedOut { program, after } => write!(
                f,
                "{program} did not finish within {} s (the action's timeout)",
                after.as_secs_f64()
            ),
            MailError::Busy { hung } => write!(
                f,
                "{hung} earlier runs of the sendmail program have not finished"
            ),
            MailError::Queue(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for MailError {}

/// Sends mails; the real one is `sendmail::SendmailMailer`.
pub trait Mailer: Send + Sync {
    fn send(&self, mail: &Mail) -> Result<(), MailError>;

    /// What the log calls it (the program's path).
    fn name(&self) -> String {
        "the mailer".into()
    }
}

/// A mailer that keeps the mails it is given (tests).
#[derive(Default)]
pub struct FakeMailer {
    pub sent: Mutex<Vec<Mail>>,
    /// Refuse every mail with this text as the program's stderr.
    pub refuse: Option<String>,
    /// Take this long over each mail (a slow or hung sendmail).
    pub delay: Duration,
}

impl FakeMailer {
    /// The mails sent so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.sent.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Mailer for FakeMailer {
    fn send(&self, mail: &Mail) -> Result<(), MailError> {
        std::thread::sleep(self.delay);
        if let Some(stderr) = &self.refuse {
            return Err(MailError::Refused {
                program: self.name(),
                stderr: stderr.clone(),
            });
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(mail.clone());
        }
        Ok(())
    }

    fn name(&self) -> String {
        "fake-sendmail".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_fix() {
        let e = MailError::Program {
            program: "/nonexistent".into(),
            reason: "No such file or directory".into(),
        };
        assert_eq!(e.to_string(), "/nonexistent: No such file or directory");
        let e = MailError::Address {
            value: "a b@".into(),
            reason: "invalid".into(),
        };
        assert!(e.to_string().contains("check dest and sender"), "{e}");
        let e = MailError::TimedOut {
            program: "/usr/sbin/sendmail".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "/usr/sbin/sendmail did not finish within 1.5 s (the action's timeout)"
        );
    }

    #[test]
    fn the_fake_keeps_or_refuses() {
        let m = FakeMailer::default();
        let mail = Mail {
            subject: "s".into(),
            ..Mail::default()
        };
        m.send(&mail).expect("kept");
        assert_eq!(m.mails(), std::slice::from_ref(&mail));
        let refusing = FakeMailer {
            refuse: Some("no route\n".into()),
            ..FakeMailer::default()
        };
        let e = refusing.send(&mail).expect_err("refused");
        assert_eq!(e.to_string(), "fake-sendmail failed: no route");
        assert!(refusing.mails().is_empty());
    }
}
