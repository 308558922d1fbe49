//! The mail thread: mails wait in a bounded queue and are sent one by one,
//! away from the ban path.
//!
//! Posting never blocks: a full queue drops the mail with a warning. Each
//! send runs on a worker thread and is waited for at most the action's
//! timeout (lettre's sendmail transport has no limit of its own); past it
//! the worker is left to finish alone and a warning is logged. While
//! `MAX_HUNG` workers still hang, further mails are not even tried, so a
//! dead sendmail cannot pile up threads. Likewise a whois that ran out of
//! time is left out of the mails of the next `WHOIS_REST`, so a dead
//! network cannot make each queued mail wait for it.
//!
//! A mail that is not sent is logged: a WARNING line with `mail not sent`,
//! the reason and the subject, then the body at INFO, so the message
//! still reaches the admin through syslog.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::compose::{Kind, Letter, Letterhead, compose, one_line};
use super::{Mail, MailError, Mailer, whois};

/// Mails that may wait for the sendmail program.
pub const QUEUE: usize = 64;

/// Sends still running past their timeout before new ones are refused.
pub const MAX_HUNG: usize = 2;

/// How long whois is left out after it ran out of time.
pub const WHOIS_REST: Duration = Duration::from_secs(600);

/// What the mail thread keeps from one mail to the next.
#[derive(Default)]
pub struct State {
    /// Sending workers not finished yet.
    running: Arc<AtomicUsize>,
    /// whois is not run before then.
    whois_rests_until: Option<Instant>,
}

/// Where the mail thread reports (the server's log).
pub trait Report: Send + Sync {
    fn warning(&self, msg: &str);
    fn info(&self, msg: &str);
}

/// One mail to make and send.
pub struct Job {
    /// The jail, for the log's `[jail]` prefix.
    pub jail: String,
    pub head: Letterhead,
    pub kind: Kind,
    pub letter: Letter,
    pub mailer: Arc<dyn Mailer>,
    /// The whois program (for the whois kinds).
    pub whois: PathBuf,
    /// How long whois and the sendmail program may take, each.
    pub timeout: Duration,
}

impl Job {
    /// The mail, with `whois` as the whois part.
    fn mail(&self, whois: Option<&str>) -> Mail {
        compose(&self.head, self.kind, &self.letter, whois)
    }
}

/// Logs that `mail` was not sent, then its body line by line.
fn not_sent(report: &dyn Report, jail: &str, reason: &str, mail: &Mail) {
    report.warning(&format!(
        "[{jail}] mail not sent ({reason}): {}",
        mail.subject
    ));
    for line in mail.body.lines().filter(|l| !l.trim().is_empty()) {
        report.info(&format!("[{jail}] {}", one_line(line)));
    }
}

/// Hands jobs to the mail thread; cloned into every mail action of a jail.
#[derive(Clone)]
pub struct Outbox {
    tx: SyncSender<Job>,
    capacity: usize,
    report: Arc<dyn Report>,
}

impl Outbox {
    /// An outbox and the receiving end, without a thread (tests).
    pub fn detached(report: Arc<dyn Report>, capacity: usize) -> (Outbox, Receiver<Job>) {
        let (tx, rx) = sync_channel(capacity);
        (
            Outbox {
                tx,
                capacity,
                report,
            },
            rx,
        )
    }

    /// Starts the mail thread of `jail`. It ends once every clone of the
    /// outbox is dropped and the queue is empty.
    pub fn start(report: Arc<dyn Report>, jail: &str) -> std::io::Result<(Outbox, JoinHandle<()>)> {
        let (outbox, rx) = Outbox::detached(report.clone(), QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("f2b/m.{jail}"))
            .spawn(move || run(rx, report.as_ref()))?;
        Ok((outbox, thread))
    }

    /// Queues `job`; never waits.
    pub fn post(&self, job: Job) {
        let (job, why) = match self.tx.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(j)) => (
                j,
                format!(
                    "the mail queue is full: {} mails wait for the sendmail program",
                    self.capacity
                ),
            ),
            Err(TrySendError::Disconnected(j)) => (j, "the mail thread has stopped".into()),
        };
        let whois = job.kind.has_whois().then_some("whois not run");
        not_sent(self.report.as_ref(), &job.jail, &why, &job.mail(whois));
    }
}

/// The mail thread's loop.
fn run(rx: Receiver<Job>, report: &dyn Report) {
    let mut state = State::default();
    for job in rx {
        deliver(&job, report, &mut state);
    }
}

/// The whois part of a ban mail, unless whois is resting.
fn whois_part(job: &Job, address: &str, state: &mut State) -> String {
    if state.whois_rests_until.is_some_and(|t| Instant::now() < t) {
        return format!(
            "whois not run: it ran out of time for an earlier mail (tried again {} minutes after that)",
            WHOIS_REST.as_secs() / 60
        );
    }
    let answer = whois::lookup(&job.whois, address, job.timeout);
    state.whois_rests_until = answer.timed_out.then(|| Instant::now() + WHOIS_REST);
    answer.text
}

/// Makes `job`'s mail (running whois if needed) and sends it.
pub fn deliver(job: &Job, report: &dyn Report, state: &mut State) {
    let whois = match (&job.letter, job.kind.has_whois()) {
        (Letter::Banned(b), true) => Some(whois_part(job, &b.address, state)),
        _ => None,
    };
    let mail = job.mail(whois.as_deref());
    if let Err(e) = send_bounded(&job.mailer, &mail, job.timeout, &state.running) {
        not_sent(report, &job.jail, &e.to_string(), &mail);
    }
}

/// `mailer.send(mail)` on a worker thread, waited for at most `timeout`.
/// `running` counts the workers not finished yet.
fn send_bounded(
    mailer: &Arc<dyn Mailer>,
    mail: &Mail,
    timeout: Duration,
    running: &Arc<AtomicUsize>,
) -> Result<(), MailError> {
    let hung = running.load(Ordering::SeqCst);
    if hung >= MAX_HUNG {
        return Err(MailError::Busy { hung });
    }
    let (tx, rx) = sync_channel(1);
    let (m, mail2, count) = (mailer.clone(), mail.clone(), running.clone());
    running.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name("f2b/sendmail".into())
        .spawn(move || {
            let r = m.send(&mail2);
            count.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        running.fetch_sub(1, Ordering::SeqCst);
        return Err(MailError::Queue(format!("no thread to send it: {e}")));
    }
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => Err(MailError::TimedOut {
            program: mailer.name(),
            after: timeout,
        }),
        Err(RecvTimeoutError::Disconnected) => {
            Err(MailError::Queue("the sending thread died".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::FakeMailer;
    use crate::mail::compose::Ban;
    use std::sync::Mutex;

    /// Keeps what would be logged, as `LEVEL text` lines.
    #[derive(Default)]
    pub struct Notes(pub Mutex<Vec<String>>);

    impl Report for Notes {
        fn warning(&self, msg: &str) {
            self.0.lock().expect("lock").push(format!("WARNING {msg}"));
        }
        fn info(&self, msg: &str) {
            self.0.lock().expect("lock").push(format!("INFO {msg}"));
        }
    }

    fn job(mailer: Arc<dyn Mailer>, letter: Letter, timeout: Duration) -> Job {
        Job {
            jail: "ssh-shorewall".into(),
            head: Letterhead {
                name: "SSH".into(),
                host: "vm".into(),
                sender: "fail2ban@localhost".into(),
                sender_name: "Fail2Ban".into(),
                recipients: vec!["root".into()],
            },
            kind: Kind::Plain,
            letter,
            mailer,
            whois: "/nonexistent/whois".into(),
            timeout,
        }
    }

    fn banned() -> Letter {
        Letter::Banned(Ban {
            address: "192.0.2.2".into(),
            failures: 5,
            bantime: 600.0,
            matches: vec![],
        })
    }

    #[test]
    fn mails_are_sent_in_order_by_the_thread() {
        let notes = Arc::new(Notes::default());
        let fake = Arc::new(FakeMailer::default());
        let (outbox, thread) = Outbox::start(notes.clone(), "ssh-shorewall").expect("thread");
        let t = Duration::from_secs(5);
        outbox.post(job(fake.clone(), Letter::Started, t));
        let mut whois = job(fake.clone(), banned(), t);
        whois.kind = Kind::Whois;
        outbox.post(whois);
        drop(outbox);
        thread.join().expect("ends when the outbox is gone");
        let subjects: Vec<String> = fake.mails().into_iter().map(|m| m.subject).collect();
        assert_eq!(
            subjects,
            [
                "[Fail2Ban] SSH: started on vm",
                "[Fail2Ban] SSH: banned 192.0.2.2 from vm"
            ]
        );
        assert!(fake.mails()[1].body.contains(whois::NOT_AVAILABLE));
        assert!(notes.0.lock().expect("lock").is_empty());
    }

    #[test]
    fn a_hung_mailer_is_given_up_and_logged() {
        let notes = Notes::default();
        let hung: Arc<dyn Mailer> = Arc::new(FakeMailer {
            delay: Duration::from_secs(3),
            ..FakeMailer::default()
        });
        let mut state = State::default();
        let t = Duration::from_millis(100);
        let start = Instant::now();
        for _ in 0..3 {
            deliver(&job(hung.clone(), banned(), t), &notes, &mut state);
        }
        // Two waits of 100 ms, then the third is refused at once.
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let log = notes.0.lock().expect("lock").clone();
        let warnings: Vec<&String> = log.iter().filter(|l| l.starts_with("WARNING")).collect();
        assert_eq!(warnings.len(), 3, "{log:?}");
        assert_eq!(
            warnings[0],
            "WARNING [ssh-shorewall] mail not sent (fake-sendmail did not finish within 0.1 s (the action's timeout)): [Fail2Ban] SSH: banned 192.0.2.2 from vm"
        );
        assert!(warnings[2].contains("2 earlier runs of the sendmail program have not finished"));
        assert!(
            log.contains(
                &"INFO [ssh-shorewall] The jail SSH on vm has banned 192.0.2.2.".to_string()
            ),
            "{log:?}"
        );
    }

    #[test]
    fn a_whois_that_runs_out_of_time_rests() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ferroban-outbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let slow = dir.join("whois");
        std::fs::write(&slow, "#!/bin/sh\nsleep 30\n").expect("script");
        std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let fake = Arc::new(FakeMailer::default());
        let mut state = State::default();
        let start = Instant::now();
        for _ in 0..2 {
            let mut j = job(fake.clone(), banned(), Duration::from_millis(200));
            j.kind = Kind::Whois;
            j.whois = slow.clone();
            deliver(&j, &Notes::default(), &mut state);
        }
        // One wait for whois, not two.
        assert!(
            start.elapsed() < Duration::from_millis(390),
            "{:?}",
            start.elapsed()
        );
        let bodies: Vec<String> = fake.mails().into_iter().map(|m| m.body).collect();
        assert!(
            bodies[0].contains("(whois did not finish within 0.2 s)"),
            "{}",
            bodies[0]
        );
        assert!(
            bodies[1].contains("whois not run: it ran out of time"),
            "{}",
            bodies[1]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_refused_or_queued_out_mail_is_logged_with_its_body() {
        let notes = Arc::new(Notes::default());
        let refusing: Arc<dyn Mailer> = Arc::new(FakeMailer {
            refuse: Some("dma: cannot open spool".into()),
            ..FakeMailer::default()
        });
        deliver(
            &job(refusing.clone(), Letter::Stopped, Duration::from_secs(5)),
            notes.as_ref(),
            &mut State::default(),
        );
        // A queue of one that nobody reads: the second post is dropped.
        let (outbox, _rx) = Outbox::detached(notes.clone(), 1);
        outbox.post(job(refusing.clone(), banned(), Duration::from_secs(1)));
        outbox.post(job(refusing, banned(), Duration::from_secs(1)));
        let log = notes.0.lock().expect("lock").clone();
        assert_eq!(
            log[0],
            "WARNING [ssh-shorewall] mail not sent (fake-sendmail failed: dma: cannot open spool): [Fail2Ban] SSH: stopped on vm"
        );
        assert!(log[1].starts_with("INFO [ssh-shorewall] Hello,"), "{log:?}");
        assert!(
            log.iter()
                .any(|l| l.contains("mail not sent (the mail queue is full")),
            "{log:?}"
        );
    }
}
