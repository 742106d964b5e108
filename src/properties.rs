//! Data fields as typed JSON: a value whose text is exactly a JSON number
//! of the plain decimal form `-?(0|[1-9][0-9]*)(\.[0-9]+)?` is written as
//! that number, its text kept (`1.50` stays `1.50`), so
//! `(properties->>'IC50')::numeric < 10` and
//! `properties @> '{"score": -9.1}'` work. Everything else — `007`, `1e5`,
//! `+3`, `.5`, `NaN`, text — stays a string.

/// The number text of a field value, when it is one (surrounding blanks
/// ignored).
pub fn as_number(value: &str) -> Option<&str> {
    let t = value.trim_matches([' ', '\t']);
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i - int_start;
    if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == frac_start {
            return None;
        }
    }
    // Longer numbers are identifiers (registry numbers, barcodes) more often
    // than quantities; PostgreSQL's numeric holds them either way.
    (i == b.len() && b.len() <= 64).then_some(t)
}

/// The fields as one JSON object, in file order (a repeated name appears
/// twice; PostgreSQL's jsonb keeps the last).
pub fn to_json(fields: &[(String, String)]) -> String {
    let mut out = String::with_capacity(2 + fields.len() * 24);
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, k);
        out.push(':');
        match as_number(v) {
            Some(n) => out.push_str(n),
            None => push_str(&mut out, v),
        }
    }
    out.push('}');
    out
}

fn push_str(out: &mut String, s: &str) {
    // Serializing a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_decimals_are_numbers() {
        for n in ["0", "-9.1", "1.50", "42", " 7 ", "-0.0"] {
            assert!(as_number(n).is_some(), "{n}");
        }
        for s in [
            "007", "1e5", "+3", ".5", "5.", "-", "", "NaN", "1,5", "12 mM", "0x1F",
        ] {
            assert_eq!(as_number(s), None, "{s}");
        }
        let f = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let json = to_json(&[f("IC50", "1.50"), f("id", "007"), f("n", "q\"x")]);
        assert_eq!(json, r#"{"IC50":1.50,"id":"007","n":"q\"x"}"#);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["IC50"].as_f64(), Some(1.5));
    }
}
