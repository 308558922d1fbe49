//! The texts of the mails: fail2ban's subjects, and bodies in our own
//! words that give the facts of a start, a stop or a ban.
//!
//! Pure functions from the action's options and the ban to a `Mail`, so
//! every word can be checked without sending anything. Values from log
//! lines only ever land in the body; the subject (which holds the banned
//! id) is kept to one line.

use super::Mail;

/// Which built-in mail action (the `mailtype` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `sendmail`: the facts of the ban.
    Plain,
    /// `sendmail-whois`: and what `whois` says about the address.
    Whois,
    /// `sendmail-whois-lines`: and the log lines of the failures.
    WhoisLines,
}

impl Kind {
    pub const NAMES: [&'static str; 3] = ["sendmail", "sendmail-whois", "sendmail-whois-lines"];

    /// `mailtype` as the action files write it.
    pub fn parse(text: &str) -> Result<Kind, String> {
        match text.trim() {
            "sendmail" => Ok(Kind::Plain),
            "sendmail-whois" => Ok(Kind::Whois),
            "sendmail-whois-lines" => Ok(Kind::WhoisLines),
            other => Err(format!(
                "mailtype {other:?} is unknown: use one of {}",
                Kind::NAMES.join(", ")
            )),
        }
    }

    pub fn has_whois(self) -> bool {
        self != Kind::Plain
    }

    pub fn has_lines(self) -> bool {
        self == Kind::WhoisLines
    }
}

/// Who a jail's mails come from and go to, and the names they give.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Letterhead {
    /// The `name` option: the jail as the mails call it (`SSH`).
    pub name: String,
    /// This host (`<fq-hostname>`).
    pub host: String,
    pub sender: String,
    pub sender_name: String,
    pub recipients: Vec<String>,
}

/// The facts of a ban that a mail gives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ban {
    /// The banned address (or other failure id).
    pub address: String,
    pub failures: u32,
    /// Seconds; negative for a ban without end.
    pub bantime: f64,
    /// The log lines of the failures.
    pub matches: Vec<String>,
}

/// What a mail is about.
#[derive(Clone, Debug, PartialEq)]
pub enum Letter {
    Started,
    Stopped,
    Banned(Ban),
}

/// `dest` split into addresses: at commas and blanks, as sendmail takes
/// several recipients.
pub fn recipients(dest: &str) -> Vec<String> {
    dest.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `text` on one line: control characters (CR, LF, TAB...) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// fail2ban's subjects: `[Fail2Ban] SSH: banned 192.0.2.2 from HOST`.
pub fn subject(head: &Letterhead, letter: &Letter) -> String {
    let (name, host) = (&head.name, &head.host);
    one_line(&match letter {
        Letter::Started => format!("[Fail2Ban] {name}: started on {host}"),
        Letter::Stopped => format!("[Fail2Ban] {name}: stopped on {host}"),
        Letter::Banned(b) => format!("[Fail2Ban] {name}: banned {} from {host}", b.address),
    })
}

/// How long a ban lasts, in words.
fn duration(bantime: f64) -> String {
    if bantime < 0.0 {
        "until it is lifted by hand (no end time)".into()
    } else {
        format!(
            "{} ({bantime} seconds)",
            crate::jail::time::seconds2str(bantime)
        )
    }
}

/// The whole mail. `whois` is what the whois program said (for the whois
/// kinds; `None` leaves the part out).
pub fn compose(head: &Letterhead, kind: Kind, letter: &Letter, whois: Option<&str>) -> Mail {
    let (name, host) = (&head.name, &head.host);
    let mut body = String::from("Hello,\n\n");
    match letter {
        Letter::Started => body.push_str(&format!(
            "ferroban has started the jail {name} on {host}.\n\
             Each address it bans will be reported to you by mail.\n"
        )),
        Letter::Stopped => body.push_str(&format!(
            "ferroban has stopped the jail {name} on {host}.\n\
             Its bans are lifted until it starts again.\n"
        )),
        Letter::Banned(b) => {
            body.push_str(&format!(
                "The jail {name} on {host} has banned {}.\n\n\
                 Failures counted: {}\n\
                 Ban: {}\n",
                b.address,
                b.failures,
                duration(b.bantime)
            ));
            if let (true, Some(w)) = (kind.has_whois(), whois) {
                body.push_str(&format!(
                    "\nwhois {}:\n\n{}\n",
                    b.address,
                    w.trim_end_matches('\n')
                ));
            }
            if kind.has_lines() {
                body.push_str(&format!(
                    "\nThe log lines of these failures ({}):\n\n",
                    b.matches.len()
                ));
                for line in &b.matches {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    body.push_str(&format!("\nSent by ferroban (fail2ban) on {host}.\n"));
    Mail {
        sender: head.sender.clone(),
        sender_name: head.sender_name.clone(),
        recipients: head.recipients.clone(),
        subject: subject(head, letter),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Letterhead {
        Letterhead {
            name: "SSH".into(),
            host: "vm.example.org".into(),
            sender: "fail2ban@localhost".into(),
            sender_name: "Fail2Ban".into(),
            recipients: recipients("root"),
        }
    }

    fn ban() -> Ban {
        Ban {
            address: "192.0.2.2".into(),
            failures: 5,
            bantime: 6000.0,
            matches: vec![
                "Nov 28 12:00:01 vm sshd[1]: Invalid user $(touch /tmp/x) from 192.0.2.2".into(),
                "Nov 28 12:00:02 vm sshd[2]: Invalid user `id`\r\nBcc: evil@example.org from 192.0.2.2".into(),
            ],
        }
    }

    #[test]
    fn subjects_are_fail2bans() {
        let h = head();
        assert_eq!(
            subject(&h, &Letter::Started),
            "[Fail2Ban] SSH: started on vm.example.org"
        );
        assert_eq!(
            subject(&h, &Letter::Stopped),
            "[Fail2Ban] SSH: stopped on vm.example.org"
        );
        assert_eq!(
            subject(&h, &Letter::Banned(ban())),
            "[Fail2Ban] SSH: banned 192.0.2.2 from vm.example.org"
        );
        // An id that is no address (an <F-ID> from a log line) stays on
        // the subject's line.
        let odd = Ban {
            address: "bob\r\nBcc: evil@example.org".into(),
            ..ban()
        };
        assert_eq!(
            subject(&h, &Letter::Banned(odd)),
            "[Fail2Ban] SSH: banned bob  Bcc: evil@example.org from vm.example.org"
        );
    }

    #[test]
    fn plain_ban_gives_the_facts_only() {
        let m = compose(
            &head(),
            Kind::Plain,
            &Letter::Banned(ban()),
            Some("ignored"),
        );
        assert_eq!(m.recipients, ["root"]);
        assert_eq!(
            (m.sender.as_str(), m.sender_name.as_str()),
            ("fail2ban@localhost", "Fail2Ban")
        );
        assert_eq!(
            m.body,
            "Hello,\n\nThe jail SSH on vm.example.org has banned 192.0.2.2.\n\n\
             Failures counted: 5\nBan: 1h 40m (6000 seconds)\n\nSent by ferroban (fail2ban) on vm.example.org.\n"
        );
    }

    #[test]
    fn whois_lines_carry_the_report_and_the_lines_as_text() {
        let b = ban();
        let m = compose(
            &head(),
            Kind::WhoisLines,
            &Letter::Banned(b.clone()),
            Some("NetRange: 192.0.2.0 - 192.0.2.255\n"),
        );
        assert!(
            m.body
                .contains("\nwhois 192.0.2.2:\n\nNetRange: 192.0.2.0 - 192.0.2.255\n\n"),
            "{}",
            m.body
        );
        assert!(
            m.body.contains(&format!(
                "The log lines of these failures (2):\n\n{}\n{}\n",
                b.matches[0], b.matches[1]
            )),
            "{}",
            m.body
        );
        let w = compose(&head(), Kind::Whois, &Letter::Banned(b), Some("x"));
        assert!(w.body.contains("whois 192.0.2.2:") && !w.body.contains("log lines"));
    }

    #[test]
    fn start_stop_and_endless_bans() {
        let h = head();
        let s = compose(&h, Kind::WhoisLines, &Letter::Started, None);
        assert!(s.body.contains("started the jail SSH on vm.example.org"));
        let s = compose(&h, Kind::Plain, &Letter::Stopped, None);
        assert!(s.body.contains("stopped the jail SSH"));
        let forever = Ban {
            bantime: -1.0,
            ..ban()
        };
        let m = compose(&h, Kind::Plain, &Letter::Banned(forever), None);
        assert!(
            m.body.contains("Ban: until it is lifted by hand"),
            "{}",
            m.body
        );
    }

    #[test]
    fn kinds_and_recipients() {
        assert_eq!(Kind::parse(" sendmail-whois-lines "), Ok(Kind::WhoisLines));
        assert_eq!(Kind::parse("sendmail"), Ok(Kind::Plain));
        let e = Kind::parse("mutt").expect_err("unknown");
        assert!(e.contains("sendmail-whois"), "{e}");
        assert_eq!(
            recipients(" root, admin@example.org  ops@example.org"),
            ["root", "admin@example.org", "ops@example.org"]
        );
    }
}
