//! fail2ban's time expressions, as written in jail options.
//!
//! `bantime`, `findtime`, `bantime.maxtime`, `dbpurgeage` and friends take
//! values such as `600`, `10m`, `1d12h`, `1h 30m` or `1year-6mo`. fail2ban
//! (`MyTime.str2seconds`) rewrites the units into multiplications, joins
//! juxtaposed groups with `+` and hands the result to Python's `eval`. We do
//! the same three rewrites, then evaluate the outcome with a small parser that
//! knows only what such a value needs: Python number literals, `+ - * /`,
//! parentheses and comments. Everything else is an error, never code to run.
//! `seconds2str` is fail2ban's short rendering of a duration for log lines.

use crate::py::{is_space, is_word, py_digit};
use std::fmt;

/// A text that is not a time expression fail2ban would accept.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeError {
    /// Not a number with units and arithmetic (letters left over, empty...).
    Invalid(String),
    /// The expression divides by zero.
    DivisionByZero(String),
    /// The result is not a finite number of seconds.
    OutOfRange(String),
}

const HINT: &str =
    "expected a number with an optional unit such as 10m, 1h, 1d, 1w (or -1 for permanent)";

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, why) = match self {
            TimeError::Invalid(t) => (t, HINT),
            TimeError::DivisionByZero(t) => (t, "division by zero"),
            TimeError::OutOfRange(t) => (t, "the result is not a finite number of seconds"),
        };
        write!(f, "invalid time {text:?}: {why}")
    }
}

impl std::error::Error for TimeError {}

/// Unit spellings (every way fail2ban's alternations can match, compared
/// case-insensitively) and the text that replaces them, in fail2ban's order.
const UNITS: [(&[&str], &str); 7] = [
    (&["days", "day", "da", "dd", "d"], "86400"),
    (&["weeks", "week", "wee", "we", "ww", "w"], "604800"),
    (&["months", "month", "mon", "mo"], "2629800.0"),
    (&["years", "year", "yea", "ye", "yy", "y"], "31557600.0"),
    (&["seconds", "second", "sec", "se", "ss", "s"], "1"),
    (&["minutes", "minute", "min", "mi", "mm", "m"], "60"),
    (&["hours", "hour", "hou", "ho", "hh", "h"], "3600"),
];

/// Python's `eval` refuses more nested parentheses than this.
const MAX_PARENS: usize = 200;

/// Case folding as Python's `(?i)` regexes apply it to ASCII letters.
fn fold(c: char) -> char {
    match c {
        'ſ' => 's',
        'K' => 'k',
        'İ' | 'ı' => 'i',
        _ => c.to_ascii_lowercase(),
    }
}

/// Regex `\d` on a `str` pattern.
fn is_digit(c: char) -> bool {
    py_digit(c).is_some()
}

/// How many characters from `from` on satisfy `f`.
fn span(s: &[char], from: usize, f: impl Fn(char) -> bool) -> usize {
    s.iter().skip(from).take_while(|&&c| f(c)).count()
}

/// Seconds in a fail2ban time expression (`MyTime.str2seconds`).
pub fn str2seconds(text: &str) -> Result<f64, TimeError> {
    str2seconds_typed(text).map(|(v, _)| v)
}

/// The value as Python prints it (`fail2ban-client --str2sec`): an int
/// unless a float literal, a month or year, or a division took part.
pub fn str2seconds_text(text: &str) -> Result<String, TimeError> {
    let (v, float) = str2seconds_typed(text)?;
    Ok(if float || v.abs() >= 1e18 {
        crate::filter::failure::py_float(v)
    } else {
        format!("{}", v as i64)
    })
}

/// The seconds, and whether Python's result is a float.
fn str2seconds_typed(text: &str) -> Result<(f64, bool), TimeError> {
    // '1d12h' -> '1d 12h': a space before each digit that follows a letter.
    let mut s: Vec<char> = Vec::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_digit(c) && s.last().is_some_and(|&p| fold(p).is_ascii_lowercase()) {
            s.push(' ');
        }
        s.push(c);
    }
    // Each unit after a digit or space, ending a word, becomes '*factor'.
    for (names, factor) in UNITS {
        let (mut out, mut i) = (Vec::with_capacity(s.len() + 16), 0);
        while let Some(&c) = s.get(i) {
            let prev = i.checked_sub(1).and_then(|p| s.get(p));
            let len = span(&s, i, is_word).min(8);
            let word: String = s.iter().skip(i).take(len).map(|&c| fold(c)).collect();
            if prev.is_some_and(|&p| is_digit(p) || is_space(p)) && names.contains(&&*word) {
                out.push('*');
                out.extend(factor.chars());
                i += len;
            } else {
                out.push(c);
                i += 1;
            }
        }
        s = out;
    }
    // '1 2' -> '1+2' (a digit consumed by one match starts no other).
    let (mut out, mut i) = (Vec::with_capacity(s.len()), 0);
    while let Some(&c) = s.get(i) {
        out.push(c);
        i += 1;
        let gap = span(&s, i, is_space);
        if let Some(&d) = s
            .get(i + gap)
            .filter(|&&d| gap > 0 && is_digit(c) && is_digit(d))
        {
            out.extend(['+', d]);
            i += gap + 1;
        }
    }
    let fail = |e: Fail| e(text.to_string());
    let toks = tokens(&out).ok_or_else(|| fail(TimeError::Invalid))?;
    let float = toks
        .iter()
        .any(|t| matches!(t, Tok::Num(_, true) | Tok::Op('/')));
    let mut toks = toks.iter().peekable();
    match level(&mut toks, "+-").map_err(fail)? {
        _ if toks.next().is_some() => Err(fail(TimeError::Invalid)),
        value if value.is_finite() => Ok((value + 0.0, float)), // -0 is 0
        _ => Err(fail(TimeError::OutOfRange)),
    }
}

#[derive(Debug, Clone, Copy)]
enum Tok {
    /// A number literal; true when Python reads it as a float.
    Num(f64, bool),
    Op(char),
}

/// Python's tokenizer for `eval` on the rewritten text, reduced to number
/// literals, `+ - * / ( )`, comments, one logical line and line joining.
fn tokens(s: &[char]) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    // `eval` strips leading spaces and tabs; a later indented line fails.
    let mut i = span(s, 0, |c| c == ' ' || c == '\t');
    let (mut depth, mut line_start, mut indent, mut ended, mut operand) =
        (0, true, false, false, true);
    while let Some(&c) = s.get(i) {
        i += 1;
        match c {
            ' ' | '\t' => indent = true,
            '\x0c' => indent = false,
            '#' => {
                i += span(s, i, |c| c != '\n' && c != '\r' && c != '\0');
                indent = false; // a comment line is blank
            }
            '\n' | '\r' if depth == 0 => {
                ended |= !line_start;
                (line_start, indent) = (true, false);
            }
            '\n' | '\r' => {}
            '\\' => {
                i += match (s.get(i), s.get(i + 1)) {
                    (Some('\r'), Some('\n')) => 2,
                    (Some('\n' | '\r'), _) => 1,
                    _ => return None,
                };
                indent = false;
                s.get(i)?; // not at the end of the text
            }
            _ if depth == 0 && line_start && (indent || ended) => return None,
            // Python's grammar: an operand after '(', an operator and the start.
            '+' | '-' | '*' | '/' | '(' | ')' => {
                match c {
                    '(' if operand && depth < MAX_PARENS => depth += 1,
                    ')' if !operand => depth = usize::checked_sub(depth, 1)?,
                    '+' | '-' => operand = true,
                    '*' | '/' if !operand => operand = true,
                    _ => return None,
                }
                toks.push(Tok::Op(c));
                line_start = false;
            }
            '0'..='9' | '.' if operand => {
                let (value, end) = number(s, i - 1)?;
                let float = s[i - 1..end].iter().any(|c| matches!(c, '.' | 'e' | 'E'));
                toks.push(Tok::Num(value, float));
                (i, line_start, operand) = (end, false, false);
            }
            _ => return None,
        }
    }
    // Python also refuses a last line of only indentation (no newline).
    (depth == 0 && !operand && !(line_start && indent)).then_some(toks)
}

/// The Python decimal literal at `start` (`600`, `1_000`, `1.5`, `.5`, `5.`,
/// `1e+3`): its value and end, or `None` where Python rejects it.
fn number(s: &[char], start: usize) -> Option<(f64, usize)> {
    let mut end = start + span(s, start, |c| c.is_ascii_digit() || c == '_' || c == '.');
    let exp = matches!(s.get(end), Some('e' | 'E'));
    if exp {
        let sign = usize::from(matches!(s.get(end + 1), Some('+' | '-')));
        end += 1 + sign + span(s, end + 1 + sign, |c| c.is_ascii_digit() || c == '_');
    }
    let lit = s.get(start..end)?;
    let digit = |k: Option<usize>| k.and_then(|k| lit.get(k)).is_some_and(char::is_ascii_digit);
    let stray_underscore = (0..lit.len())
        .any(|k| lit.get(k) == Some(&'_') && !(digit(k.checked_sub(1)) && digit(Some(k + 1))));
    let text: String = lit.iter().filter(|&&c| c != '_').collect();
    // An integer may not start with 0 unless all zeros ('010' fails).
    let octal = !exp && !text.contains('.') && text.starts_with('0') && text.contains(|c| c != '0');
    let bad_end =
        s.get(end).is_some_and(|&c| is_word(c)) || exp && !digit(end.checked_sub(start + 1));
    if stray_underscore || octal || bad_end || text.matches('.').count() > 1 {
        return None;
    }
    Some((text.parse().ok()?, end))
}

type Fail = fn(String) -> TimeError;
type Toks<'a> = std::iter::Peekable<std::slice::Iter<'a, Tok>>;

/// The next token if it is one of the operators `ops`.
fn take(toks: &mut Toks, ops: &str) -> Option<char> {
    let c = match toks.peek() {
        Some(&&Tok::Op(c)) if ops.contains(c) => c,
        _ => return None,
    };
    toks.next().map(|_| c)
}

/// Python's precedence: sums (`ops` "+-") of products ("*/") of signed
/// numbers or parenthesised sums.
fn level(toks: &mut Toks, ops: &str) -> Result<f64, Fail> {
    let operand: fn(&mut Toks) -> _ = if ops == "+-" {
        |t| level(t, "*/")
    } else {
        factor
    };
    let mut value = operand(toks)?;
    while let Some(op) = take(toks, ops) {
        let rhs = operand(toks)?;
        value = match op {
            '+' => value + rhs,
            '-' => value - rhs,
            '*' => value * rhs,
            _ if rhs == 0.0 => return Err(TimeError::DivisionByZero),
            _ => value / rhs,
        };
    }
    Ok(value)
}

fn factor(toks: &mut Toks) -> Result<f64, Fail> {
    let mut sign = 1.0;
    while let Some(op) = take(toks, "+-") {
        sign = if op == '-' { -sign } else { sign };
    }
    match toks.next() {
        Some(&Tok::Num(v, _)) => Ok(sign * v),
        Some(Tok::Op('(')) => match (level(toks, "+-")?, take(toks, ")")) {
            (v, Some(_)) => Ok(sign * v),
            _ => Err(TimeError::Invalid),
        },
        _ => Err(TimeError::Invalid),
    }
}

type Scale = (f64, f64, &'static [(u32, char)]);

/// fail2ban's `MyTime.seconds2str`: at most three groups, rounded to the
/// day, hour, minute or ten seconds as the duration grows. A whole `sec`
/// prints like a Python int, a fractional one like a Python float.
pub fn seconds2str(sec: f64) -> String {
    const SCALES: [Scale; 4] = [
        (31536000.0, 86400.0, &[(365, 'y'), (7, 'w'), (1, 'd')]),
        (604800.0, 3600.0, &[(168, 'w'), (24, 'd'), (1, 'h')]),
        (86400.0, 60.0, &[(1440, 'd'), (60, 'h'), (1, 'm')]),
        (3595.0, 10.0, &[(360, 'h'), (6, 'm')]),
    ];
    if sec == f64::INFINITY {
        return "inf".into(); // Python raises OverflowError
    }
    let mut out = Vec::new();
    if let Some((_, unit, groups)) = SCALES.iter().find(|(min, ..)| sec >= *min) {
        // Python rounds to an int of any size: divide its exact digits.
        let mut digits = format!("{:.0}", (sec / unit).round_ties_even());
        for &(size, name) in *groups {
            let (quotient, rest) = div_rem(&digits, size);
            if !quotient.is_empty() {
                out.push(format!("{quotient}{name}"));
            }
            digits = rest.to_string();
        }
        return out.join(" ");
    }
    let mut s = sec;
    if s >= 60.0 {
        out.push(py_num((s - s % 60.0) / 60.0, sec) + "m");
        s %= 60.0;
    }
    if s != 0.0 {
        out.push(py_num(s, sec) + "s");
    } else if sec == 0.0 {
        out.push("0".into());
    }
    out.join(" ")
}

/// Long division of a decimal number by `d`: the quotient without leading
/// zeros (empty for 0) and the remainder.
fn div_rem(digits: &str, d: u32) -> (String, u32) {
    let (mut quotient, mut rest) = (String::new(), 0);
    for digit in digits.chars().filter_map(|c| c.to_digit(10)) {
        rest = rest * 10 + digit;
        quotient
            .extend(char::from_digit(rest / d, 10).filter(|_| !quotient.is_empty() || rest >= d));
        rest %= d;
    }
    (quotient, rest)
}

/// `str()` of `x` as Python prints it: like an int when `like` is whole,
/// else like a float's `repr` (`59.5`, `2.0`, `1e-05`, `nan`).
fn py_num(x: f64, like: f64) -> String {
    if like.fract() == 0.0 {
        return format!("{x:.0}");
    } else if !x.is_finite() {
        return format!("{x}").to_lowercase();
    }
    // As many digits as the shortest round trip, rounded half to even.
    let shortest = format!("{x:e}");
    let (mantissa, exp) = shortest.split_once('e').unwrap_or_default();
    let digits = mantissa.chars().filter(char::is_ascii_digit).count().max(1);
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let decimals = usize::try_from(i32::try_from(digits).unwrap_or(17) - 1 - exp).unwrap_or(0);
        let fixed = format!("{x:.decimals$}");
        return if decimals == 0 { fixed + ".0" } else { fixed };
    }
    let exact = format!("{x:.0$e}", digits - 1);
    let mantissa = exact.split_once('e').unwrap_or_default().0;
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str2seconds_values() {
        // mytime.py's docstring, fail2ban's own tests, then ours.
        let table = "1hour+30min=5400|0d 1h 30m=5400|1year-6mo=15778800|6 months=15778800|\
            1month=2629800|1year=31557600|1y6mo30w15d12h35m25s=66821725|\
            2yy 3mo 4ww 10dd 5hh 30mm 20ss=74307620|1 year + 1 month - 1 week + 1 day=33669000|\
            2 * 0.5 yea + 1*1 mon - 3*1/3 wee + 2/2 day - (2*12 hou 3*20 min 80 sec) =33578920|\
            2*.5y+1*1mo-3*1/3w+2/2d-(2*12h3*20m80s) =33578920|\
            1ye -2mo -3we -4da -5ho -6mi -7se=24119633|10m=600|1h=3600|1d=86400|1w=604800|\
            -1=-1|600=600|1.5=1.5|1d12h=129600|1D12H=129600|1 Hour 30 MINUTES=5400|1Mo=2629800|\
            2*1h=7200|1h*2/3=2400|1mo1=2629801|3h30=10830|1_000 # s=1000|1e+3=1000|--1=1|\
            1d s=86400| 1h 30m =5400|1h\n30m=5400|(1h\n+30m)=5400|\n1h 30m\n# c\n=5400|\
            1h \\\n+30m=5400|1\n 2=3|-0=0";
        for case in table.split('|') {
            let (text, want) = case.rsplit_once('=').unwrap_or_default();
            assert_eq!(str2seconds(text).ok(), want.parse().ok(), "{text:?}");
        }
        assert_eq!(str2seconds("1month"), Ok(30.4375 * 86400.0));
        assert_eq!(str2seconds("1year"), Ok(365.25 * 86400.0));
        assert_eq!(str2seconds(&format!("{}1", "-".repeat(100_000))), Ok(1.0));
    }

    #[test]
    fn str2seconds_errors() {
        let bad = "|  |1x|x|1mont|1 2 3|010|1_|1e3|1e+|2**3|7//2|1h-|()|(1)(2)|0xff|1j|abs(1)|.|\
            1.5.5|1 ms|1h\n+30m|1\n (2)|\n (1)|1\n |1\0|1 #\0|1\\|1 \u{a0}d|1h)|(1h";
        let error = |text: &str, kind: Fail| Err(kind(text.into()));
        for text in bad.split('|') {
            assert_eq!(
                str2seconds(text),
                error(text, TimeError::Invalid),
                "{text:?}"
            );
        }
        assert_eq!(str2seconds("1/0"), error("1/0", TimeError::DivisionByZero));
        assert_eq!(
            str2seconds("1e+400"),
            error("1e+400", TimeError::OutOfRange)
        );
        let deep = |n| str2seconds(&format!("{}1{}", "(".repeat(n), ")".repeat(n)));
        assert_eq!((deep(200), deep(201).is_err()), (Ok(1.0), true));
        let msg = "invalid time \"1x\": expected a number with an optional unit such as 10m, \
            1h, 1d, 1w (or -1 for permanent)";
        assert_eq!(TimeError::Invalid("1x".into()).to_string(), msg);
    }

    #[test]
    fn seconds2str_values() {
        // mytime.py's docstring says "1y" for 86400*365.5; the code gives "1y 1d".
        let table = "33696000=1y 3w 4d|31795200=1y 3d|31579200=1y 1d|31578336=1y|1296000=2w 1d|\
            1209590=2w|198900=2d 7h 15m|176399=2d 1h|12672=3h 31m|7195=2h|3595=1h|3590=59m 50s|\
            59=59s|0=0|-1=-1s|90.5=1.0m 30.5s|1e-7=1e-07s|NaN=nans|inf=inf|-inf=-infs|\
            -153093613357720.12=-153093613357720.12s|\
            1e50=3170979198376458869859383084857893786682241y 39w 2d";
        for case in table.split('|') {
            let (sec, want) = case.split_once('=').unwrap_or_default();
            assert_eq!(seconds2str(sec.parse().unwrap_or(0.5)), want, "{sec}");
        }
    }
}
