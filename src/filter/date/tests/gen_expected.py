#!/usr/bin/env python3
# Regenerates expected.rs: runs fail2ban 1.0.2's own DateDetector (Debian's
# python3-fail2ban) on the cases below and writes what it found, so the
# Rust tests need no Python. Each case runs in a fresh interpreter because
# fail2ban caches templates (and their hit counters) process-wide.
#
#   python3 src/filter/date/tests/gen_expected.py > src/filter/date/tests/expected.rs
# (expected.rs is exempt from rustfmt: it stays exactly as generated)
#
# fail2ban builds %ExY from the current year at import; the `now` values
# below are in 2026 so both sides agree (20[012]\d) until 2029.

import json
import subprocess
import sys

N_NOV = 1795851127.25  # 2026-11-28 07:32:07.25 UTC
N_JAN = 1767227400.0  # 2026-01-01 00:30:00 UTC
N_JUL = 1784116800.0  # 2026-07-15 12:00:00 UTC

SYSLOG = [
    "Jan 23 21:59:59 host sshd[123]: Failed password for root from 1.2.3.4",
    "Jan  3 01:02:03 host x",
    "Sun Jan 23 21:59:59.011 2005 host",
    "Jan 23 21:59:59 2005 host",
    "jan 23 21:59:59 host",
    "Feb 29 12:00:00 host",
    "Dec 31 23:59:59 host",
    "Nov 28 23:00:00 host",
    "Nov 30 10:00:00 host",
    "Jan 23 21:59:59.1234567 host",
    "Jan 23 21:59:59.123abc host",
    "Jan 23 21:59:60 host",
    "Jan 23 24:59:59 host",
    "Jan 23 21:59:59 20251 host",
    "Jan 23 21:59:59 2031 host",
    "[Jan 23 21:59:59] host",
    "«Jan 23 21:59:59» x",
    "Jan 23 21:59:59 hôst ü",
    "Mar 29 02:30:00 host dst gap",
    "Oct 25 02:30:00 host dst overlap",
]

ISO = [
    "2005-01-23T21:59:59.981746Z x",
    "2005-01-23 21:59:59,123 +0100 x",
    "2005-01-23 21:59:59 +01:00 x",
    "2005-01-23 21:59:59 -0530 x",
    "2005-01-23 21:59:59 UTC x",
    "2005-01-23 21:59:59 GMT+1 x",
    "2005/01/23 21:59:59 x",
    "2005.01.23  8:59:59 x",
    "2005-1-3 21:59:59 x",
    "[2005-01-23 21:59:59] x",
    "2005-01-23 21:59:59Zulu x",
    "2005-01-23 21:59:59\t+0200 x",
    "2005-01-23 24:00:00 x",
    "2005-02-30 10:00:00 x",
    "1999-01-23 21:59:59 x",
    "2026-03-29 02:30:00 gap",
    "2026-10-25 02:30:00 overlap",
    "2026-12-01 00:00:00 future",
    "é [2005-01-23 21:59:59] ü",
]

OTHER = [
    '1.2.3.4 - - [31/Oct/2006:09:22:55 -0000] "GET / HTTP/1.1" 200',
    "26-Jul-2007 15:20:52.252 x",
    "26-Jul-2007 15:20:52 +0200 x",
    "23/01/2005 21:59:59 x",
    "23/01/05 21:59:59 x",
    "05/20/2008:01:57:39 x",
    "01-27-2012 16:22:44.252 x",
    "1106517599 x",
    "[1106517599.123] x",
    "type=AVC msg=audit(1106517599.123:456): x",
    "@4000000041f4a3ca00000000 x",
    "130322 11:46:11 x",
    "Jan 23, 2005 9:59:59 PM x",
    "Jan 23, 2005 12:59:59 AM x",
    "<09/16/08@05:03:30> x",
    "Apr-27-13 02:33:06 x",
    "20050123T215959 x",
    "20050123 215959Z x",
    "PDT Apr 16 21:05:29 x",
    "error Apr 16 21:05:29 x",
    "+02:00 Jan 23 21:59:59.011 2005 x",
    "21:59:59 x",
    "no date here",
    "x 1.2.3.4",
    "",
]

MOVING = [
    "host x 2005-01-23 21:59:59 y",
    "host x 2005-01-23 21:59:59 y",
    "hostlonger x 2005-01-23 21:59:59 y",
    "Jan 23 21:59:59 host 2005-01-23 21:59:59",
    "host x 2005-01-23 21:59:59 y",
    "a 2005-01-23 21:59:59 b 2005-01-24 21:59:59",
    "ab 2005-01-23 21:59:59 b 2005-01-24 21:59:59",
    "a [23/Jan/2005:21:59:59 +0000] x",
    "ü 2005-01-23 21:59:59 y",
    "üü 2005-01-23 21:59:59 y",
    "ü 2005-01-23 21:59:59 y",
]

LINE_CASES = []
for tz in ("UTC", "Europe/Paris"):
    LINE_CASES += [
        dict(tz=tz, dp=None, ltz=None, now=N_NOV, lines=SYSLOG),
        dict(tz=tz, dp=None, ltz=None, now=N_JAN, lines=SYSLOG[:8]),
        dict(tz=tz, dp=None, ltz=None, now=N_NOV, lines=ISO),
        dict(tz=tz, dp=None, ltz=None, now=N_JUL, lines=OTHER),
        dict(tz=tz, dp=None, ltz=None, now=N_NOV, lines=MOVING),
        dict(tz=tz, dp="{^LN-BEG}", ltz=None, now=N_NOV, lines=SYSLOG[:6] + ISO[:6] + OTHER[:10]),
    ]
LINE_CASES += [
    dict(tz="UTC", dp=None, ltz="UTC+0200", now=N_NOV, lines=SYSLOG[:9] + ISO[:8]),
    dict(tz="Europe/Paris", dp=None, ltz="-05:30", now=N_JAN, lines=SYSLOG[:9] + ISO[:8]),
    dict(tz="Europe/Paris", dp=None, ltz="CET", now=N_NOV, lines=ISO + OTHER[:8]),
    dict(tz="Europe/Paris", dp=None, ltz="Z", now=N_JUL, lines=SYSLOG[:5]),
]
CUSTOM = [
    (r"^%Y-%m-%d %H:%M:%S", ["2005-01-23 21:59:59 x", "x 2005-01-23 21:59:59", "2005-1-3 1:2:3 x"]),
    (r"%d/%b/%Y:%H:%M:%S %z", ['1.2.3.4 - - [31/Oct/2006:09:22:55 -0700] "GET"', "31/OCT/2006:09:22:55 +0100"]),
    (r"^[^\[]*\[({DATE})", ['1.2.3.4 - - [31/Oct/2006:09:22:55 -0700] "GET"', "x [2005-01-23 21:59:59] y", "x [1106517599] y", "x [Epoch] y"]),
    (r"^<co ts=\"{DATE}\"\s+", ['<co ts="2005-01-23T21:59:59Z" x', '<co ts="Epoch" x']),
    ("^{DATE}", ["1106517599 x", "@4000000041f4a3ca00000000 x", "Jan 23 21:59:59 x"]),
    ("{^LN-BEG}Epoch", ["1106517599.5 x", "[1106517599] x", "x 1106517599"]),
    ("EPOCH", ["1106517599.5 x", "x audit(1106517599.123:1): y", "12345678901 x"]),
    ("LEPOCH", ["1106517599123 x", "1106517599123456 x", "1106517599123.456 x", "1106517599 x"]),
    (r"^\[{EPOCH}\]", ["[1106517599] x", "[1106517599.25] x"]),
    (r"^\[{LEPOCH}\]", ["[1106517599123] x"]),
    ("TAI64N", ["x @4000000041f4a3ca00000000 y"]),
    ("{NONE}", ["Jan 23 21:59:59 host", "anything"]),
    (r"%j %Y %H:%M", ["033 2005 10:11 x", "366 2005 10:11 x"]),
    (r"%I:%M:%S %p", ["12:00:00 AM x", "12:00:00 pm x", "01:02:03 PM x"]),
    (r"%I:%M:%S", ["12:05:00 x", "07:00:00 x"]),
    (r"%H:%M:%S", ["23:59:59 x", "00:00:01 x", "07:32:07 x", "07:32:08 x"]),
    (r"%y%m%d %H%M%S", ["050123 215959 x", "000123 215959 x"]),
    (r"%ExY%Exm%Exd", ["20050123 x", "19990123 x"]),
    (r"{UNB}%H:%M:%S", ["x21:59:59x"]),
    ("%Y-%m-%d\n%H:%M:%S", ["2005-01-23 x", "x 21:59:59 y"]),
    (r"%Y-%m-%d %H:%M:%S %Z", ["2005-01-23 21:59:59 PDT x", "2005-01-23 21:59:59 CEST x", "2005-01-23 21:59:59 ABC x"]),
    (r"%Y-%m-%d %H:%M:%S %Exz", ["2005-01-23 21:59:59 CET+0100 x", "2005-01-23 21:59:59 EST x"]),
    (r"%U %a %Y", ["03 Sun 2005 x", "00 Mon 2005 x"]),
    (r"%W %A %Y", ["03 Sunday 2005 x"]),
    (r"%B %d %Y", ["January 23 2005 x", "MAY 5 2005 x"]),
    (r"%d %H:%M", ["23 10:00 x"]),
    (r"%m-%d %H:%M", ["01-23 10:00 x"]),
    (r"^%Y", ["\u0662\u0660\u0660\u0665 x"]),
    (r"(?i)^%Y-%m-%d", ["2005-01-23 x"]),
    (r"^(?:=[^=]+={3,} )?(%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\s*%z)?)", ["=INFO REPORT==== 2005-01-23 21:59:59 x"]),
    (r"^(?:%Y-)?%m-%d[ T]%H:%M:%S(?:\.%f)?", ["01-23 21:59:59 x", "2005-01-23T21:59:59.5 x"]),
    (r"^L %d/%m/%Y - %H:%M:%S", ["L 23/01/2005 - 21:59:59: x"]),
    (r"%(Y)s-%m-%d", ["2005-01-23 x"]),
    (r"**%Y-%m-%d**", ["x2005-01-23x"]),
    (r"%Y-%m-%d (?P<H>\d+)h", ["2005-01-23 7h x", "2005-01-23 77h x"]),
    ("ISO8601", ["ISO8601 x", "2005-01-23 x"]),
]
for dp, lines in CUSTOM:
    LINE_CASES.append(dict(tz="Europe/Paris", dp=dp, ltz=None, now=N_NOV, lines=lines))
LINE_CASES.append(dict(tz="UTC", dp=r"%H:%M:%S", ltz=None, now=N_JAN, lines=["23:59:59 x", "00:10:00 x", "00:40:00 x"]))

TEMPLATE_PATTERNS = [None, "{^LN-BEG}", "{DEFAULT}", "{^LN-BEG}\n{^LN-BEG}", "%Y\n{^LN-BEG}"] + [
    dp for dp, _ in CUSTOM
] + [
    r"{^LN-BEG}%b %d %H:%M:%S", r"{^LN-BEG}^%Y", r"{UNB}{^LN-BEG}%Y", r"%k:%M",
    r"%Y %c", r"%x %X", r"%G %V %u %w", r"%Exd.%Exm.%ExY %ExH:%ExM:%ExS",
    r"(?:%Exz )?%ExZ %Y", r"%Y %l:%M %p", r"%%Y %Y", r"x\$", r"x$", r"^(x)", r"(?:^|x)%Y",
    r"{^LN-BEG}TAI64N", r"^TAI64N", r"^EPOCH", r"^LEPOCH", r"epoch", r"%Y{epoch}",
    r"[(]%Y", r"%Y\s", r"%Y\b", r"%Y**)", r"(**%Y", r"%Y|%m", "^%Y-%m-%d %H:%M:%S\n{DATE} x",
    r"^[^-]+ -- [^-]+ -- - ({DATE})", r"^<\d+>\d+\s+{DATE}",
]

ERROR_PATTERNS = [r"%q", r"%", r"x %s", r"%Exk:%M", r"(unclosed %Y", r"%Y %Y", "%Y\n%Y", r"%(foo)s", r"%E"]

CHILD = r'''
import json, os, sys, time
sys.path.insert(0, '/usr/lib/python3/dist-packages')
case = json.loads(sys.argv[1])
os.environ['TZ'] = case.get('tz', 'UTC'); time.tzset()
from fail2ban.server.mytime import MyTime
from fail2ban.server.datedetector import DateDetector
import re
def split(dp):
    return list(filter(bool, list(map(str.strip, re.split('\n+', dp)))))
def build(dp):
    dd = DateDetector()
    if dp is None:
        dd.addDefaultTemplate()
    else:
        for p in split(dp):
            dd.appendTemplate(p)
    return dd
kind = case['kind']
if kind == 'templates':
    dd = build(case['dp'])
    print(json.dumps([(t.name, t.regex, t.flags, t.template.weight) for t in dd.templates]))
elif kind == 'error':
    try:
        dd = build(case['dp'])
        for t in dd.templates:
            t.template._compileRegex()
        print(json.dumps(False))
    except Exception as e:
        print(json.dumps(True))
else:
    MyTime.setTime(case['now'])
    dd = DateDetector()
    if case['ltz'] is not None:
        dd.default_tz = case['ltz']
    if case['dp'] is not None:
        for p in split(case['dp']):
            dd.appendTemplate(p)
    out = []
    for line in case['lines']:
        m, tpl = dd.matchTime(line)
        if not m:
            out.append(None)
            continue
        s, e = m.start(1), m.end(1)
        t = None
        if s == -1:
            s = e = len(line)
        elif s < e:
            try:
                r = dd.getTime(line[s:e], (m, tpl))
                t = None if r is None else float(r[0])
            except Exception:
                t = None
        b = lambda i: len(line[:i].encode())
        out.append((b(s), b(e), t, dd._DateDetector__lastTemplIdx))
    print(json.dumps(dict(out=out, names=[t.name for t in dd.templates], hits=[t.hits for t in dd.templates])))
'''


def run(case):
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(case)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout)


def lit(s):
    out = []
    for c in s:
        if c in '\\"':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def opt(s):
    return "None" if s is None else "Some(%s)" % lit(s)


def num(x):
    return repr(float(x))


def main():
    w = sys.stdout.write
    w("//! What fail2ban 1.0.2's DateDetector returned for the test cases\n//! (@generated by gen_expected.py; do not edit).\n\n")
    w("use super::{ErrorCase, LineCase, TemplateCase};\n\n")
    w("pub(super) const TEMPLATE_CASES: &[TemplateCase] = &[\n")
    for dp in TEMPLATE_PATTERNS:
        res = run(dict(kind="templates", dp=dp))
        w("    TemplateCase {\n        datepattern: %s,\n        templates: &[\n" % opt(dp))
        for name, regex, flags, weight in res:
            w("            (%s, %s, %d, %s),\n" % (lit(name), lit(regex), flags, num(weight)))
        w("        ],\n    },\n")
    w("];\n\n")
    w("pub(super) const ERROR_CASES: &[ErrorCase] = &[\n")
    for dp in ERROR_PATTERNS:
        res = run(dict(kind="error", dp=dp))
        w("    ErrorCase { datepattern: %s, fails: %s },\n" % (lit(dp), "true" if res else "false"))
    w("];\n\n")
    w("pub(super) const LINE_CASES: &[LineCase] = &[\n")
    for case in LINE_CASES:
        res = run(dict(kind="lines", **case))
        w("    LineCase {\n        tz: %s,\n        datepattern: %s,\n        logtimezone: %s,\n        now: %s,\n        lines: &[\n"
          % (lit(case["tz"]), opt(case["dp"]), opt(case["ltz"]), num(case["now"])))
        for line, r in zip(case["lines"], res["out"]):
            if r is None:
                w("            (%s, None),\n" % lit(line))
            else:
                s, e, t, i = r
                w("            (%s, Some((%d, %d, %s, %d))),\n" % (lit(line), s, e, "None" if t is None else "Some(%s)" % num(t), i))
        w("        ],\n        names: &[%s],\n        hits: &[%s],\n    },\n"
          % (", ".join(lit(n) for n in res["names"]), ", ".join(str(h) for h in res["hits"])))
    w("];\n")


main()
