//! COPY's text and binary formats: a typed [`Value`] written either way.

use std::io::Write as _;
use uuid::Uuid;

/// A COPY text-format field: backslash, tab, newline and CR escaped.
pub fn text(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// A bytea in COPY text format: `\\x` then hex.
pub fn bytea(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\\\x");
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// A field's value, typed as its column is.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Uuid(Uuid),
    Bytea(&'a [u8]),
    Text(&'a str),
    OwnedText(String),
    Int4(i32),
    Int8(i64),
    /// `NUMERIC` with four decimals (the `molecular_weight` domain).
    Numeric4(f64),
    Float8(f64),
    Jsonb(String),
    /// An enum label.
    Label(&'static str),
}

pub(crate) const NULL: &[u8] = b"\\N";

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

impl Value<'_> {
    /// The field in COPY text format (`\N` for NULL), no separator.
    pub fn text(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(NULL),
            Value::Uuid(u) => {
                let mut buf = Uuid::encode_buffer();
                out.extend_from_slice(u.as_hyphenated().encode_lower(&mut buf).as_bytes());
            }
            Value::Bytea(b) => bytea(out, b),
            Value::Text(s) => text(out, s),
            Value::OwnedText(s) | Value::Jsonb(s) => text(out, s),
            Value::Int4(v) => int(out, *v),
            Value::Int8(v) => int(out, *v),
            Value::Numeric4(v) => {
                let _ = write!(out, "{v:.4}");
            }
            Value::Float8(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Label(s) => out.extend_from_slice(s.as_bytes()),
        }
    }

    /// The field in COPY binary format: its length (-1 for NULL), then its
    /// bytes as the type's receive function reads them.
    pub fn binary(&self, out: &mut Vec<u8>) {
        let with_len = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        match self {
            Value::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Value::Uuid(u) => with_len(out, u.as_bytes()),
            Value::Bytea(b) => with_len(out, b),
            Value::Text(s) => with_len(out, s.as_bytes()),
            Value::OwnedText(s) => with_len(out, s.as_bytes()),
            Value::Label(s) => with_len(out, s.as_bytes()),
            Value::Int4(v) => with_len(out, &v.to_be_bytes()),
            Value::Int8(v) => with_len(out, &v.to_be_bytes()),
            Value::Float8(v) => with_len(out, &v.to_bits().to_be_bytes()),
            Value::Jsonb(s) => {
                // jsonb's binary format: version 1, then the JSON text.
                out.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
                out.push(1);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Numeric4(v) => numeric4(out, *v),
        }
    }
}

/// A non-negative number below 10^8 with four decimals in NUMERIC's binary
/// format (base-10000 digits). Rounded exactly as the text format's
/// `{:.4}`, so both paths store the same value.
fn numeric4(out: &mut Vec<u8>, v: f64) {
    let mut buf = [0u8; 48];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{:.4}", v.abs());
    let len = cur.position() as usize;
    let (mut int_part, mut frac) = (0u64, 0u64);
    let mut seen_point = false;
    for &b in &buf[..len] {
        match b {
            b'.' => seen_point = true,
            b'0'..=b'9' if seen_point => frac = frac * 10 + u64::from(b - b'0'),
            b'0'..=b'9' => {
                int_part = int_part
                    .saturating_mul(10)
                    .saturating_add(u64::from(b - b'0'))
            }
            _ => {}
        }
    }
    // Base-10000 digits, most significant first, on the stack (a u64
    // integer part has at most five, then one for the four decimals).
    let mut all = [0i16; 6];
    let mut n = 0;
    let mut i = int_part;
    while i > 0 {
        all[n] = (i % 10_000) as i16;
        n += 1;
        i /= 10_000;
    }
    all[..n].reverse();
    let mut weight = n as i16 - 1;
    if frac != 0 {
        all[n] = frac as i16;
        n += 1;
    }
    // No leading or trailing zero digits: a value below 1 starts at weight -1.
    let mut start = 0;
    while start < n && all[start] == 0 {
        start += 1;
        weight -= 1;
    }
    while n > start && all[n - 1] == 0 {
        n -= 1;
    }
    let digits = &all[start..n];
    if digits.is_empty() {
        weight = 0;
    }
    let sign: u16 = if v < 0.0 && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&(8 + 2 * digits.len() as i32).to_be_bytes());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&4i16.to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(v: f64) -> Vec<i16> {
        let mut out = Vec::new();
        numeric4(&mut out, v);
        let len = i32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(len, out.len() - 4);
        out[4..]
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numeric_binary_is_base_10000_with_four_decimals() {
        // ndigits, weight, sign, dscale, digits…
        assert_eq!(numeric(123.4567), [2, 0, 0, 4, 123, 4567]);
        assert_eq!(numeric(0.5), [1, -1, 0, 4, 5000]);
        assert_eq!(numeric(12345.6789), [3, 1, 0, 4, 1, 2345, 6789]);
        assert_eq!(numeric(18.0), [1, 0, 0, 4, 18]);
        assert_eq!(numeric(0.00004), [0, 0, 0, 4]);
        assert_eq!(numeric(10000.00001), [1, 1, 0, 4, 1]);
        // Rounded as the text format rounds.
        assert_eq!(numeric(1.23456), [2, 0, 0, 4, 1, 2346]);
    }
}
