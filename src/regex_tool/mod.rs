//! `fail2ban-regex`: run a filter over a log (file or one line) and report.
//!
//! It loads the filter the way fail2ban-regex 1.0.2 does (a regex string, a
//! filter name with options, or a filter file), feeds every line through
//! the same `filter::matcher` the daemon uses, and prints either the
//! summary report or, with `-o`, one line per failure. Output text follows
//! 1.0.2 so that admins' scripts and habits carry over.

mod args;
mod out;
mod pipeline;
mod report;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::py::py_repr;
pub use args::Args;
use out::OutFormat;
use report::{LineStats, RegexStat, lines_section, pprint_list, regex_section};

use crate::config::filter::{FilterSource, is_filter_spec, resolve_filter};
use crate::config::layered::RealFs;
use crate::config::{FilterDef, load_filter, split_name_options};
use crate::filter::date::DateDetector;
use crate::filter::failure::TupleLine;
use crate::filter::matcher::{FilterRegexes, MatchMode, Matcher, NoResolver, Resolver};
use crate::filter::tags::UseDns;

/// Resolves names with the system resolver (`usedns = yes|warn`).
struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, name: &str) -> Vec<String> {
        use std::net::ToSocketAddrs;
        (name, 0)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip().to_string()).collect())
            .unwrap_or_default()
    }
}

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Entry point of the binary; returns the exit status.
pub fn main() -> i32 {
    let args: Args = match crate::cli::parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.version {
        println!("fail2ban-regex 1.0.2");
        return 0;
    }
    if args.short_version {
        println!("1.0.2");
        return 0;
    }
    let errors = args.errors();
    if !errors.is_empty() {
        eprintln!("Usage: {}\n\n{}", args::USAGE, errors.join("\n"));
        return 255;
    }
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let code = match Run::new(&args, &mut w).and_then(|mut r| r.start(&mut w)) {
        Ok(()) => 0,
        Err(msg) => {
            if !msg.is_empty() {
                let _ = writeln!(w, "{msg}");
            }
            255
        }
    };
    let _ = w.flush();
    code
}

/// One fail2ban-regex run.
struct Run<'a> {
    args: &'a Args,
    regexes: FilterRegexes,
    /// The date detector of `-d` or the filter's `datepattern`.
    dates: Option<DateDetector>,
    maxlines_set: bool,
    fail_stats: Vec<RegexStat>,
    ignore_stats: Vec<RegexStat>,
    quiet: bool,
    /// Lines the prefregex matched.
    pref_hits: u64,
    /// Prefregex groups of the first matched lines (`-v`), as dict reprs.
    pref_groups: Vec<String>,
}

impl<'a> Run<'a> {
    fn new(args: &'a Args, w: &mut dyn Write) -> Result<Run<'a>, String> {
        let quiet = args.out.is_some();
        if !quiet {
            let _ = writeln!(w, "\nRunning tests\n=============\n");
        }
        let use_dns = match &args.usedns {
            Some(v) => {
                UseDns::parse(v).ok_or_else(|| format!("ERROR: Invalid value for usedns: {v}"))?
            }
            None => UseDns::Warn,
        };
        let mut run = Run {
            args,
            regexes: FilterRegexes {
                maxlines: 1,
                use_dns,
                ..FilterRegexes::default()
            },
            dates: None,
            maxlines_set: false,
            fail_stats: Vec::new(),
            ignore_stats: Vec::new(),
            quiet,
            pref_hits: 0,
            pref_groups: Vec::new(),
        };
        if args.maxlines > 0 {
            run.set_maxlines(args.maxlines, w);
        }
        Ok(run)
    }

    fn say(&self, w: &mut dyn Write, line: &str) {
        if !self.quiet {
            let _ = writeln!(w, "{line}");
        }
    }

    fn set_maxlines(&mut self, n: usize, w: &mut dyn Write) {
        if !self.maxlines_set {
            self.regexes.maxlines = n;
            self.maxlines_set = true;
            self.say(w, &format!("Use         maxlines : {n}"));
        }
    }

    /// Loads the filter REGEX names, if it names one (else it is a regex).
    fn read_filter(&mut self, value: &str, w: &mut dyn Write) -> Result<bool, String> {
        if !is_filter_spec(value) {
            return Ok(false);
        }
        let (name, opts) = split_name_options(value).map_err(|e| {
            format!("ERROR: Wrong filter name or options: {e}\n       while parsing: {value}")
        })?;
        let config = Path::new(&self.args.config);
        let Some(source) = resolve_filter(&RealFs, config, &name) else {
            return Ok(false);
        };
        match &source {
            FilterSource::InTree { name, basedir } => self.say(
                w,
                &format!(
                    "Use   failregex filter file : {name}, basedir: {}",
                    basedir.display()
                ),
            ),
            FilterSource::Foreign { .. } => self.say(w, &format!("Use   failregex file : {name}")),
        }
        print_options(self, w, &opts);
        let def: FilterDef = load_filter(config, value)
            .map_err(|e| format!("Wrong config file: {e}\nERROR: failed to load filter {value}"))?;
        if let Some(p) = def.prefregex.clone() {
            self.regexes.prefregex = Some(p);
        }
        if let Some(n) = def.maxlines {
            self.set_maxlines(n, w);
        }
        if let Some(d) = def.datepattern.clone() {
            self.set_datepattern(&d, true, w)?;
        }
        self.fail_stats = def.failregex.iter().map(|r| RegexStat::new(r)).collect();
        self.regexes.failregex = def.failregex;
        self.ignore_stats = def.ignoreregex.iter().map(|r| RegexStat::new(r)).collect();
        self.regexes.ignoreregex = def.ignoreregex;
        Ok(true)
    }

    /// `from_filter`: the pattern comes from a filter file (see
    /// `DateDetector::share_default_weights`), not from `-d`.
    fn set_datepattern(
        &mut self,
        pattern: &str,
        from_filter: bool,
        w: &mut dyn Write,
    ) -> Result<(), String> {
        if self.dates.is_some() {
            return Ok(());
        }
        let mut dd = DateDetector::from_patterns(pattern).map_err(|e| format!("ERROR: {e}"))?;
        if from_filter {
            dd.share_default_weights();
        }
        let names = dd.template_names();
        let name = if names.is_empty() || names.len() > 2 {
            "Default Detectors".to_string()
        } else {
            names[0].clone()
        };
        self.say(w, &format!("Use      datepattern : {pattern} : {name}"));
        self.dates = Some(dd);
        Ok(())
    }

    fn start(&mut self, w: &mut dyn Write) -> Result<(), String> {
        let args = self.args;
        if let Some(d) = &args.datepattern {
            self.set_datepattern(d, false, w)?;
        }
        let log = args.log.clone().unwrap_or_default();
        if log.starts_with("systemd-journal") {
            // The journal is read by the server's systemd backend (through
            // journalctl); this tool does not read it yet.
            return Err(
                "ERROR: reading the systemd journal is not supported by this fail2ban-regex yet; \
                 export it first, e.g. journalctl -o short-iso _COMM=sshd > sshd.log"
                    .to_string(),
            );
        }
        let regex = args.regex.clone().unwrap_or_default();
        if !self.read_filter(&regex, w)? {
            self.say(w, &format!("Use   failregex line : {}", shortstr(&regex)));
            self.fail_stats.push(RegexStat::new(&regex));
            self.regexes.failregex = vec![regex];
        }
        if let Some(ig) = &args.ignoreregex {
            self.say(w, &format!("Use ignoreregex line : {}", shortstr(ig)));
            self.ignore_stats = vec![RegexStat::new(ig)];
            self.regexes.ignoreregex = vec![ig.clone()];
        }
        let mode = MatchMode {
            check_all: !args.no_check_all && args.out.is_none(),
            ignore_pending: args.out.is_some(),
            raw_host: args.raw,
            check_find_time: false,
        };
        let mut matcher = Matcher::new(&self.regexes, mode).map_err(|e| format!("ERROR: {e}"))?;
        matcher.cutter.count_pref = args.out.is_none();
        matcher.set_want_pref_groups(args.out.is_none() && args.verbosity() > 0);
        let mut dates = self.dates.take().unwrap_or_else(DateDetector::new_default);
        if let Some(tz) = args.timezone.as_deref().filter(|tz| !tz.is_empty()) {
            dates.set_timezone(tz).map_err(|e| format!("ERROR: {e}"))?;
        }
        matcher.cutter.dates = Some(dates);

        let path = Path::new(&log);
        let lines: Box<dyn LineSource + Send> = if path.is_file() {
            let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
            self.say(w, &format!("Use         log file : {log}"));
            self.say(w, &format!("Use         encoding : {}", args.encoding));
            Box::new(LossyLines {
                r: BufReader::with_capacity(1 << 16, f),
            })
        } else if matcher.maxlines() <= 1 && !log.contains('\n') {
            self.say(
                w,
                &format!(
                    "Use      single line : {}",
                    shortstr(&log.replace('\n', "\\n"))
                ),
            );
            Box::new(vec![log.clone()].into_iter())
        } else {
            let v: Vec<String> = log.split('\n').map(str::to_string).collect();
            self.say(w, &format!("Use      multi line : {} line(s)", v.len()));
            for (i, l) in v.iter().enumerate() {
                if i >= 5 {
                    self.say(w, "| ...");
                    break;
                }
                self.say(
                    w,
                    &format!("| {:>2.2}: {}", (i + 1).to_string(), shortstr(l)),
                );
            }
            self.say(w, "`-");
            Box::new(v.into_iter())
        };
        self.say(w, "");
        let resolver: &dyn Resolver = if args.raw {
            &NoResolver
        } else {
            &SystemResolver
        };
        let started = Instant::now();
        let stats = self.process(&mut matcher, lines, resolver, w);
        let elapsed = started.elapsed().as_secs_f64();
        if args.out.is_none() {
            self.print_stats(&matcher, &stats, elapsed, w);
        }
        Ok(())
    }

    fn process(
        &mut self,
        matcher: &mut Matcher,
        lines: Box<dyn LineSource + Send>,
        resolver: &dyn Resolver,
        w: &mut dyn Write,
    ) -> LineStats {
        let mut st = LineStats::default();
        let mut out = self.args.out.as_deref().map(OutFormat::new);
        let cutter = std::mem::take(&mut matcher.cutter);
        matcher.cutter = pipeline::run(lines, cutter, |item| {
            self.one_line(matcher, item, resolver, &mut out, &mut st, w)
        });
        if let Some(o) = out.as_mut() {
            for l in o.finish() {
                let _ = writeln!(w, "{l}");
            }
        }
        if st.bounded > 0 {
            // Not in fail2ban's report (its searches have no bound): said
            // on stderr, so stdout stays comparable.
            eprintln!(
                "WARNING: {} line(s) took a regex search past its backtracking bound \
                 and were taken as not matching it",
                st.bounded
            );
        }
        st
    }

    /// Stage two for one line, and its place in the report or `-o` output.
    fn one_line(
        &mut self,
        matcher: &mut Matcher,
        item: &pipeline::Item,
        resolver: &dyn Resolver,
        out: &mut Option<OutFormat>,
        st: &mut LineStats,
        w: &mut dyn Write,
    ) {
        let a = self.args;
        let keep = 20usize;
        let line = item.line.as_str();
        let t = item.now;
        let multi = matcher.maxlines() > 1;
        let before: Vec<TupleLine> = if multi {
            matcher.buffer().to_vec()
        } else {
            Vec::new()
        };
        let full = before.len() >= matcher.maxlines();
        let res = matcher.finish(line, &item.prepared, t, resolver);
        st.bounded += u64::from(res.bound_hits > 0);
        self.pref_hits += u64::from(res.pref_matched);
        if let Some(g) = &res.pref_groups {
            // fail2ban keeps `maxlines` (default 20) of them, then "...".
            match self.pref_groups.len().cmp(&keep) {
                std::cmp::Ordering::Less => self.pref_groups.push(py_dict(g)),
                std::cmp::Ordering::Equal => self.pref_groups.push("...".into()),
                std::cmp::Ordering::Greater => {}
            }
        }
        let mut ret = Vec::new();
        let mut ignored = !res.ignored_by.is_empty();
        for i in &res.ignored_by {
            if let Some(s) = self.ignore_stats.get_mut(*i) {
                s.hits += 1;
            }
        }
        for f in res.failures {
            if out.is_none() {
                let multiple = ret.len() > 1;
                if let Some(s) = self.fail_stats.get_mut(f.regex) {
                    s.hits += 1;
                    if a.verbosity() > 0 {
                        s.found.push((f.clone(), multiple));
                    }
                }
            }
            if f.data.truthy("nofail") {
                ignored = true;
            } else {
                ret.push(f);
            }
        }
        if let Some(o) = out.as_mut() {
            if !ret.is_empty() && !ignored {
                for l in o.lines(&ret, t) {
                    let _ = writeln!(w, "{l}");
                }
            }
            return;
        }
        if multi {
            let after = matcher.buffer();
            for b in before.iter().skip(usize::from(full)) {
                if !after.contains(b) {
                    let text = b.joined();
                    if let Some(p) = st.missed_lines.iter().position(|m| *m == text) {
                        st.missed_lines.remove(p);
                    }
                    if a.print_all_matched {
                        st.matched_lines.push(text);
                    }
                    st.matched += 1;
                    st.missed = st.missed.wrapping_sub(1);
                }
            }
        }
        if ignored {
            st.ignored += 1;
            if !a.print_no_ignored && (a.print_all_ignored || st.ignored as usize <= keep + 1) {
                st.ignored_lines.push(line.to_string());
            }
        } else if !ret.is_empty() {
            st.matched += 1;
            if a.print_all_matched {
                st.matched_lines.push(line.to_string());
            }
        } else {
            st.missed = st.missed.wrapping_add(1);
            if !a.print_no_missed && (a.print_all_missed || st.missed as usize <= keep + 1) {
                st.missed_lines.push(line.to_string());
            }
        }
        st.tested += 1;
    }

    fn print_stats(&self, matcher: &Matcher, st: &LineStats, elapsed: f64, w: &mut dyn Write) {
        let a = self.args;
        let verbose = a.verbosity() > 0;
        let mut s = String::from("\nResults\n=======\n");
        if let Some(p) = matcher.prefregex() {
            let matched = self.pref_hits;
            s.push_str(&format!("\nPrefregex: {matched} total\n"));
            let mut items = vec![resolved_pref(p, self.regexes.use_dns)];
            if verbose {
                items.extend(self.pref_groups.iter().map(|g| format!("    {g}")));
            }
            s.push_str(&pprint_list(&items, None));
        }
        let fmt_time = |t: f64| crate::filter::date::format_local_ctime(t);
        s.push_str(&regex_section(
            "Failregex",
            &self.fail_stats,
            verbose,
            &fmt_time,
        ));
        s.push_str(&regex_section(
            "Ignoreregex",
            &self.ignore_stats,
            verbose,
            &fmt_time,
        ));
        if let Some(d) = matcher.cutter.dates.as_ref() {
            s.push_str("\nDate template hits:\n");
            let mut items = Vec::new();
            for t in d.templates().into_iter().filter(|t| verbose || t.hits > 0) {
                items.push(format!("[{}] {}", t.hits, t.name));
                if a.verbose_date {
                    items.push(format!(
                        "    # weight: {:.3} ({:.3}), pattern: {}",
                        t.weight, t.base_weight, t.pattern
                    ));
                    items.push(format!("    # regex:   {}", t.regex));
                }
            }
            s.push_str(&pprint_list(&items, Some("[# of hits] date format")));
        }
        s.push_str(&format!(
            "\nLines: {st}\n[processed in {elapsed:.2} sec]\n\n"
        ));
        let keep = 20;
        if a.print_all_matched {
            s.push_str(&lines_section(
                "matched",
                st.matched,
                &st.matched_lines,
                keep,
                true,
            ));
        }
        if !a.print_no_ignored {
            s.push_str(&lines_section(
                "ignored",
                st.ignored,
                &st.ignored_lines,
                keep,
                a.print_all_ignored,
            ));
        }
        if !a.print_no_missed {
            s.push_str(&lines_section(
                "missed",
                st.missed,
                &st.missed_lines,
                keep,
                a.print_all_missed,
            ));
        }
        let _ = w.write_all(s.as_bytes());
    }
}

/// The prefregex as fail2ban prints it: with its tags expanded.
fn resolved_pref(p: &str, use_dns: UseDns) -> String {
    crate::filter::tags::resolve_tags(p, use_dns)
}

fn print_options(run: &Run<'_>, w: &mut dyn Write, opts: &[(String, String)]) {
    if opts.is_empty() {
        return;
    }
    let items: Vec<String> = opts
        .iter()
        .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
        .collect();
    run.say(
        w,
        &format!("Use   filter options : {{{}}}", items.join(", ")),
    );
}

/// Python's repr of a `groupdict()`.
fn py_dict(groups: &[(String, Option<String>)]) -> String {
    let items: Vec<String> = groups
        .iter()
        .map(|(k, v)| {
            format!(
                "{}: {}",
                py_repr(k),
                v.as_deref().map_or("None".into(), py_repr)
            )
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// fail2ban's `shortstr`: at most 53 characters.
fn shortstr(s: &str) -> String {
    if s.chars().count() > 53 {
        let head: String = s.chars().take(50).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

/// Where the lines come from: a file, or the LOG argument itself.
trait LineSource {
    /// The next line into `out`, without its line ending; false at the end.
    fn next_line(&mut self, out: &mut String) -> bool;
}

/// Lines of a file, invalid UTF-8 replaced as fail2ban does on decode
/// errors. The line buffer is handed back and forth with the caller's
/// String, so a valid line is neither copied nor allocated.
struct LossyLines<R: BufRead> {
    r: R,
}

impl<R: BufRead> LineSource for LossyLines<R> {
    fn next_line(&mut self, out: &mut String) -> bool {
        let mut buf = std::mem::take(out).into_bytes();
        buf.clear();
        match self.r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        *out = match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        true
    }
}

impl LineSource for std::vec::IntoIter<String> {
    fn next_line(&mut self, out: &mut String) -> bool {
        match self.next() {
            Some(l) => {
                *out = l;
                true
            }
            None => false,
        }
    }
}
