//! The mail side of an action: an action whose options set `mailtype`
//! (our action.d/sendmail*.conf) is one of ferroban's built-in mail
//! actions. On start, ban and stop it composes a mail from its options
//! (`name`, `dest`, `sender`, `sendername`, `mailcmd` as the sendmail
//! program's path, `whois`, `timeout`) and posts it to the jail's mail
//! thread (`mail::outbox`) instead of running a shell pipeline, so log text
//! never meets a shell and a slow sendmail never delays the ban.

use std::path::PathBuf;
use std::sync::Arc;

use super::template::{fill_static, fill_text};
use super::{Action, ActionError, BanInfo, host_name};
use crate::mail::Mailer;
use crate::mail::compose::{Ban, Kind, Letter, Letterhead, recipients};
use crate::mail::outbox::{Job, Outbox};
use crate::mail::sendmail::DEFAULT_PROGRAM;

/// The option that makes an action a built-in mail action.
pub const MAIL_OPTION: &str = "mailtype";

/// Where a mail action's mails go.
pub(super) struct MailLink {
    jail: String,
    outbox: Outbox,
    mailer: Arc<dyn Mailer>,
}

/// The ban's facts a mail gives.
pub fn ban_letter(info: &BanInfo) -> Letter {
    Letter::Banned(Ban {
        address: info.id.clone(),
        failures: info.failures,
        bantime: info.bantime,
        matches: info.matches.clone(),
    })
}

impl Action {
    /// Whether this is a built-in mail action (`mailtype` set).
    pub fn is_mail(&self) -> bool {
        self.props
            .get(MAIL_OPTION)
            .is_some_and(|t| !t.trim().is_empty())
    }

    /// The sendmail program: `mailcmd`'s first word, or /usr/sbin/sendmail.
    /// (Arguments an older `mailcmd` carried are not used: the program
    /// gets `-i -f SENDER -- DEST`.)
    pub fn mail_program(&self) -> PathBuf {
        let text = self
            .option_text("mailcmd", DEFAULT_PROGRAM)
            .unwrap_or_else(|_| DEFAULT_PROGRAM.into());
        PathBuf::from(text.split_whitespace().next().unwrap_or(DEFAULT_PROGRAM))
    }

    /// Sends this action's mails through `outbox` with `mailer`; `jail`
    /// names the jail in the log.
    pub fn attach_mail(&mut self, jail: &str, outbox: Outbox, mailer: Arc<dyn Mailer>) {
        self.mail = Some(MailLink {
            jail: jail.to_string(),
            outbox,
            mailer,
        });
    }

    /// An option's value with its tags filled (`fail2ban@<fq-hostname>`).
    fn option_text(&self, key: &str, default: &str) -> Result<String, ActionError> {
        let Some(raw) = self.props.get(key) else {
            return Ok(default.to_string());
        };
        let text = fill_static(raw, &self.props, "").map_err(|error| ActionError::Template {
            action: self.name.clone(),
            error,
        })?;
        let filled = fill_text(&text, |t| match t {
            "fq-hostname" => Some(host_name(true)),
            "sh-hostname" => Some(host_name(false)),
            _ => None,
        });
        Ok(filled.trim().to_string())
    }

    /// Posts the mail about `letter`, when this is an attached mail action.
    pub(super) fn post_mail(&self, letter: impl FnOnce() -> Letter) -> Result<(), ActionError> {
        let (Some(link), Some(kind)) = (&self.mail, self.props.get(MAIL_OPTION)) else {
            return Ok(());
        };
        let kind = Kind::parse(kind).map_err(|error| ActionError::Mail {
            action: self.name.clone(),
            error,
        })?;
        let head = Letterhead {
            name: self.option_text("name", "default")?,
            host: host_name(true),
            sender: self.option_text("sender", "fail2ban")?,
            sender_name: self.option_text("sendername", "Fail2Ban")?,
            recipients: recipients(&self.option_text("dest", "root")?),
        };
        link.outbox.post(Job {
            jail: link.jail.clone(),
            head,
            kind,
            letter: letter(),
            mailer: link.mailer.clone(),
            whois: PathBuf::from(self.option_text("whois", "whois")?),
            timeout: self.timeout,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::runner::RecordingRunner;
    use crate::config::jailspec::ActionSpec;
    use crate::config::stream::Value;
    use crate::mail::FakeMailer;
    use crate::mail::outbox::Report;
    use std::time::Duration;

    struct Quiet;
    impl Report for Quiet {
        fn warning(&self, _: &str) {}
        fn info(&self, _: &str) {}
    }

    fn action(pairs: &[(&str, &str)]) -> Action {
        Action::new(&ActionSpec {
            name: "sendmail-whois-lines".into(),
            options: pairs.iter().map(|(k, v)| (*k, Value::str(*v))).collect(),
        })
    }

    #[test]
    fn start_ban_and_stop_post_mails_and_run_no_command() {
        let mut a = action(&[
            ("mailtype", "sendmail-whois-lines"),
            ("name", "SSH"),
            ("dest", "root, admin@example.org"),
            ("sender", "fail2ban@<fq-hostname>"),
            ("sendername", "Fail2Ban"),
            ("mailcmd", "/usr/local/bin/mysendmail -t"),
            ("whois", "/opt/whois"),
            ("timeout", "7"),
            ("actionban", ""),
        ]);
        assert!(a.is_mail());
        assert_eq!(a.mail_program(), PathBuf::from("/usr/local/bin/mysendmail"));
        let (outbox, rx) = Outbox::detached(Arc::new(Quiet), 8);
        a.attach_mail("ssh-shorewall", outbox, Arc::new(FakeMailer::default()));
        let r = RecordingRunner::default();
        a.start(0.0, &r).expect("start");
        let info = BanInfo {
            id: "192.0.2.2".into(),
            failures: 5,
            bantime: 6000.0,
            matches: vec!["user $(touch /tmp/x)".into()],
            ..BanInfo::default()
        };
        a.ban(&info, &r).expect("ban");
        a.stop(0.0, &r).expect("stop");
        assert!(r.ran.lock().expect("lock").is_empty(), "no shell command");
        let jobs: Vec<Job> = rx.try_iter().collect();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].letter, Letter::Started);
        assert_eq!(jobs[1].letter, ban_letter(&info));
        assert_eq!(jobs[2].letter, Letter::Stopped);
        let j = &jobs[1];
        assert_eq!(
            (j.jail.as_str(), j.kind),
            ("ssh-shorewall", Kind::WhoisLines)
        );
        assert_eq!(j.head.name, "SSH");
        assert_eq!(j.head.recipients, ["root", "admin@example.org"]);
        assert_eq!(j.head.sender, format!("fail2ban@{}", host_name(true)));
        assert_eq!(j.whois, PathBuf::from("/opt/whois"));
        assert_eq!(j.timeout, Duration::from_secs(7));
    }

    #[test]
    fn hostile_log_text_reaches_the_mailer_as_body_text_only() {
        let marker = std::env::temp_dir().join(format!("ferroban-pwned-{}", std::process::id()));
        let m = marker.display();
        let hostile = [
            format!("Invalid user $(touch {m}) from 192.0.2.3"),
            format!("Invalid user `touch {m}` from 192.0.2.3"),
            "Invalid user x\r\nBcc: evil@example.org from 192.0.2.3".to_string(),
        ];
        let mut a = action(&[
            ("mailtype", "sendmail-whois-lines"),
            ("name", "SSH"),
            ("dest", "root"),
            ("sender", "fail2ban@localhost"),
            ("whois", "/nonexistent/whois"),
        ]);
        let fake = Arc::new(FakeMailer::default());
        let (outbox, thread) = Outbox::start(Arc::new(Quiet), "sshd").expect("thread");
        a.attach_mail("sshd", outbox, fake.clone());
        let info = BanInfo {
            id: "192.0.2.3".into(),
            failures: 3,
            bantime: 600.0,
            matches: hostile.to_vec(),
            ..BanInfo::default()
        };
        a.ban(&info, &RecordingRunner::default()).expect("ban");
        drop(a);
        thread.join().expect("mail thread ends with its action");
        let mails = fake.mails();
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!(
            mail.subject,
            format!("[Fail2Ban] SSH: banned 192.0.2.3 from {}", host_name(true))
        );
        for h in &hostile {
            assert!(mail.body.contains(h.as_str()), "{h:?} not in {}", mail.body);
        }
        assert!(mail.body.contains(crate::mail::whois::NOT_AVAILABLE));
        let text = String::from_utf8(
            crate::mail::message::message(mail)
                .expect("builds")
                .formatted(),
        )
        .expect("ascii");
        let headers = text.split_once("\r\n\r\n").expect("headers end").0;
        assert!(
            !headers.contains("Bcc") && !headers.contains("evil"),
            "{headers}"
        );
        assert!(!marker.exists(), "a log line ran as a command");
    }

    #[test]
    fn an_unknown_mailtype_fails_the_action_and_plain_actions_post_nothing() {
        let mut a = action(&[("mailtype", "mutt")]);
        let (outbox, rx) = Outbox::detached(Arc::new(Quiet), 8);
        a.attach_mail("j", outbox.clone(), Arc::new(FakeMailer::default()));
        let e = a
            .start(0.0, &RecordingRunner::default())
            .expect_err("unknown");
        assert!(
            e.to_string().contains("mailtype \"mutt\" is unknown"),
            "{e}"
        );
        let mut plain = action(&[("actionban", "echo <ip>")]);
        assert!(!plain.is_mail());
        plain.attach_mail("j", outbox, Arc::new(FakeMailer::default()));
        let r = RecordingRunner::default();
        plain.ban(&BanInfo::default(), &r).expect("ban");
        assert_eq!(r.ran.lock().expect("lock").len(), 1);
        assert!(rx.try_iter().next().is_none());
        assert_eq!(
            action(&[("mailtype", "sendmail")]).mail_program(),
            PathBuf::from(DEFAULT_PROGRAM)
        );
    }
}
