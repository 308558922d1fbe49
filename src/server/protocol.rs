//! The control socket's wire format, between our client and our server.
//!
//! fail2ban pickles Python objects over its socket; ferroban's client and
//! server are one program, so they share a small typed encoding of the
//! same values instead (`stream::Value`): a request is a list of words,
//! a reply is a status code with a value. Every frame is a 4-byte
//! big-endian length and the encoded value; lengths and nesting are
//! bounded, so a broken or hostile peer cannot make either side allocate
//! without limit.

use std::io::{self, Read, Write};

use crate::config::stream::Value;

/// Largest frame either side accepts (a status of thousands of bans fits).
pub const MAX_FRAME: usize = 16 << 20;
const MAX_DEPTH: usize = 32;

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_be_bytes());
}

fn encode_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::None => out.push(b'n'),
        Value::Bool(b) => out.extend_from_slice(&[b'b', u8::from(*b)]),
        Value::Int(i) => {
            out.push(b'i');
            out.extend_from_slice(&i.to_be_bytes());
        }
        Value::Str(s) => {
            out.push(b's');
            put_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::List(items) | Value::Tuple(items) => {
            out.push(if matches!(v, Value::List(_)) {
                b'l'
            } else {
                b't'
            });
            put_len(out, items.len());
            for i in items {
                encode_into(i, out);
            }
        }
        Value::Dict(pairs) => {
            out.push(b'd');
            put_len(out, pairs.len());
            for (k, v) in pairs {
                encode_into(k, out);
                encode_into(v, out);
            }
        }
    }
}

pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

struct Decoder<'a> {
    b: &'a [u8],
    at: usize,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {what}"))
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| bad("truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn len(&mut self) -> io::Result<usize> {
        let b = self.take(4)?;
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        // Every item takes at least one byte: a count beyond what is left
        // is a lie.
        if n > self.b.len() - self.at {
            return Err(bad("count beyond the message"));
        }
        Ok(n)
    }

    fn value(&mut self, depth: usize) -> io::Result<Value> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deep"));
        }
        let tag = self.take(1)?[0];
        Ok(match tag {
            b'n' => Value::None,
            b'b' => Value::Bool(self.take(1)?[0] != 0),
            b'i' => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Int(i64::from_be_bytes(a))
            }
            b's' => {
                let n = self.len()?;
                let s = self.take(n)?;
                Value::Str(String::from_utf8(s.to_vec()).map_err(|_| bad("text is not UTF-8"))?)
            }
            b'l' | b't' => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                if tag == b'l' {
                    Value::List(items)
                } else {
                    Value::Tuple(items)
                }
            }
            b'd' => {
                let n = self.len()?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    pairs.push((k, self.value(depth + 1)?));
                }
                Value::Dict(pairs)
            }
            _ => return Err(bad("unknown type")),
        })
    }
}

pub fn decode(b: &[u8]) -> io::Result<Value> {
    let mut d = Decoder { b, at: 0 };
    let v = d.value(0)?;
    if d.at != b.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(v)
}

pub fn write_frame(w: &mut impl Write, v: &Value) -> io::Result<()> {
    let body = encode(v);
    if body.len() > MAX_FRAME {
        return Err(bad("reply too large"));
    }
    w.write_all(&(body.len() as u32).to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

pub fn read_frame(r: &mut impl Read) -> io::Result<Value> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(bad("frame too large"));
    }
    let mut body = vec![0u8; n];
    r.read_exact(&mut body)?;
    decode(&body)
}

/// A reply: success with a value, or an error message.
pub fn reply(result: Result<Value, String>) -> Value {
    match result {
        Ok(v) => Value::List(vec![Value::Int(0), v]),
        Err(e) => Value::List(vec![Value::Int(1), Value::Str(e)]),
    }
}

/// Splits a reply back into its result.
pub fn parse_reply(v: Value) -> Result<Value, String> {
    match v {
        Value::List(mut items) if items.len() == 2 => {
            let payload = items.pop().unwrap_or(Value::None);
            match items.pop() {
                Some(Value::Int(0)) => Ok(payload),
                _ => Err(payload.text()),
            }
        }
        other => Err(format!("unexpected reply {}", other.repr())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let v = Value::List(vec![
            Value::Tuple(vec![Value::str("Number of jail"), Value::Int(1)]),
            Value::Dict(vec![(
                Value::str("sshd"),
                Value::List(vec![Value::str("192.0.2.1")]),
            )]),
            Value::None,
            Value::Bool(true),
            Value::Int(-5),
        ]);
        let mut buf = Vec::new();
        write_frame(&mut buf, &v).expect("write");
        assert_eq!(read_frame(&mut buf.as_slice()).expect("read"), v);
    }

    #[test]
    fn hostile_frames_are_refused() {
        // A list that claims four billion items.
        assert!(decode(&[b'l', 0xff, 0xff, 0xff, 0xff]).is_err());
        // Deep nesting.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[b'l', 0, 0, 0, 1]);
        }
        deep.push(b'n');
        assert!(decode(&deep).is_err());
        // A frame larger than allowed.
        let big = [0xffu8, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut big.as_slice()).is_err());
        assert!(decode(&[b's', 0, 0, 0, 2, 0xff, 0xfe]).is_err());
    }
}
