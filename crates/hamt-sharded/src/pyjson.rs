//! JSON as Python's `json` module reads and writes it, for the few places
//! where py-hamt rewrites zarr metadata (`json.loads` then `json.dumps`):
//! the rewritten bytes, and so their CIDs, must be the ones py-hamt makes.
//!
//! Read: `json.loads` (objects keep their first key's place, a repeated key
//! takes the last value; `NaN`/`Infinity` accepted; integers exact). Write:
//! `json.dumps` with its defaults (`", "` and `": "` separators,
//! `ensure_ascii`, `repr` of floats) or with `indent`.

use std::fmt::Write as _;

/// A JSON value as Python holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// An integer, exact: its decimal digits with an optional `-` (never `-0`).
    Int(String),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Keys in first-seen order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The value under `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Removes `key` from an object, returning whether it was there.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        match self {
            Json::Object(entries) => {
                let before = entries.len();
                entries.retain(|(k, _)| k != key);
                entries.len() != before
            }
            _ => false,
        }
    }

    /// Sets `key` of an object (in place if present, else at the end).
    pub(crate) fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(entries) = self {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => entries.push((key.to_owned(), value)),
            }
        }
    }

    /// Python's `int(value)` for a JSON number that is a non-negative
    /// integer (or an integral float), else `None`.
    pub(crate) fn as_dim(&self) -> Option<u64> {
        match self {
            Json::Int(digits) => digits.parse().ok(),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Json::Float(f) if f.is_finite() && *f >= 0.0 && *f < 1.8e19 => Some(f.trunc() as u64),
            _ => None,
        }
    }

    /// A list of dimensions (`[10, 4]`), if this is one.
    pub(crate) fn as_dims(&self) -> Option<Vec<u64>> {
        match self {
            Json::Array(items) => items.iter().map(Json::as_dim).collect(),
            _ => None,
        }
    }
}

/// `json.loads(text)`; `None` where Python raises.
pub(crate) fn loads(text: &[u8]) -> Option<Json> {
    let text = std::str::from_utf8(text).ok()?;
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    parser.ws();
    let value = parser.value()?;
    parser.ws();
    (parser.pos == text.len()).then_some(value)
}

/// Deepest nesting read (Python's recursion limit stops it near 1,000).
const MAX_DEPTH: usize = 512;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        self.pos += rest.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Json> {
        let first = *self.rest().as_bytes().first()?;
        match first {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'"' => self.string().map(Json::Str),
            b'n' if self.eat("null") => Some(Json::Null),
            b't' if self.eat("true") => Some(Json::Bool(true)),
            b'f' if self.eat("false") => Some(Json::Bool(false)),
            b'N' if self.eat("NaN") => Some(Json::Float(f64::NAN)),
            b'I' if self.eat("Infinity") => Some(Json::Float(f64::INFINITY)),
            b'-' if self.eat("-Infinity") => Some(Json::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Option<Json>) -> Option<Json> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let value = f(self);
        self.depth -= 1;
        value
    }

    fn object(&mut self) -> Option<Json> {
        self.pos += 1;
        let mut entries: Vec<(String, Json)> = Vec::new();
        // Where each key is, so a repeated key (Python keeps its first
        // place and the last value) costs O(1), not a scan.
        let mut places: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        self.ws();
        if self.eat("}") {
            return Some(Json::Object(entries));
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            if !self.eat(":") {
                return None;
            }
            self.ws();
            let value = self.value()?;
            if let Some(&at) = places.get(&key) {
                entries[at].1 = value;
            } else {
                places.insert(key.clone(), entries.len());
                entries.push((key, value));
            }
            self.ws();
            if self.eat("}") {
                return Some(Json::Object(entries));
            }
            if !self.eat(",") {
                return None;
            }
        }
    }

    fn array(&mut self) -> Option<Json> {
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat("]") {
            return Some(Json::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            if self.eat("]") {
                return Some(Json::Array(items));
            }
            if !self.eat(",") {
                return None;
            }
        }
    }

    fn number(&mut self) -> Option<Json> {
        let rest = self.rest().as_bytes();
        let mut end = usize::from(rest.first() == Some(&b'-'));
        let int_start = end;
        match rest.get(end) {
            Some(b'0') => end += 1,
            Some(b'1'..=b'9') => {
                while rest.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
            }
            _ => return None,
        }
        let int_end = end;
        let mut float = false;
        if rest.get(end) == Some(&b'.') && rest.get(end + 1).is_some_and(u8::is_ascii_digit) {
            float = true;
            end += 1;
            while rest.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        if matches!(rest.get(end), Some(b'e' | b'E')) {
            let mut e = end + 1;
            if matches!(rest.get(e), Some(b'+' | b'-')) {
                e += 1;
            }
            if rest.get(e).is_some_and(u8::is_ascii_digit) {
                float = true;
                end = e;
                while rest.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
            }
        }
        let text = &self.text[self.pos..self.pos + end];
        self.pos += end;
        if float {
            return text.parse().ok().map(Json::Float);
        }
        let digits = &text[int_start..int_end];
        // `-0` is the integer 0.
        Some(Json::Int(if digits == "0" {
            "0".into()
        } else {
            text.to_owned()
        }))
    }

    fn string(&mut self) -> Option<String> {
        if !self.eat("\"") {
            return None;
        }
        let mut out = String::new();
        loop {
            let c = self.rest().chars().next()?;
            self.pos += c.len_utf8();
            match c {
                '"' => return Some(out),
                '\\' => {
                    let e = self.rest().chars().next()?;
                    self.pos += 1;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.unicode_escape()?),
                        _ => return None,
                    }
                }
                c if (c as u32) < 0x20 => return None,
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let hex = self.rest().get(..4)?;
        let value = u32::from_str_radix(hex, 16).ok()?;
        self.pos += 4;
        Some(value)
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) && self.rest().starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            if let Some(second) = self.hex4()
                && (0xdc00..0xe000).contains(&second)
            {
                return char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00));
            }
            self.pos = save;
        }
        // A lone surrogate: Python keeps it; it has no UTF-8 form, so refuse.
        char::from_u32(first)
    }
}

/// `json.dumps(value)` (default separators) or `json.dumps(value, indent=n)`.
pub(crate) fn dumps(value: &Json, indent: Option<usize>) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent, 0);
    out
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * level));
    }
}

fn write_value(out: &mut String, value: &Json, indent: Option<usize>, level: usize) {
    let item_sep = if indent.is_some() { "," } else { ", " };
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(digits) => out.push_str(digits),
        Json::Float(f) => out.push_str(&float_repr(*f)),
        Json::Str(s) => write_string(out, s),
        Json::Array(items) if items.is_empty() => out.push_str("[]"),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, indent, level + 1);
                write_value(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Json::Object(entries) if entries.is_empty() => out.push_str("{}"),
        Json::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, indent, level + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
    }
}

/// A string as `json.dumps` writes it with `ensure_ascii=True`.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest digits that read back to the same
/// float, in fixed notation when the decimal point falls within 16 digits
/// of them, else in exponent notation with a signed two-digit exponent.
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)] // digit counts and exponents of an f64 are tiny
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-5".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let decpt = exponent + 1;
    let sign = if f < 0.0 { "-" } else { "" };
    let len = digits.len() as i64;
    let body = if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize))
        } else if decpt >= len {
            format!("{digits}{}.0", "0".repeat((decpt - len) as usize))
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let exp = decpt - 1;
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let point = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{first}{point}e{exp_sign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_python_reprs_them() {
        for (f, repr) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.456, "123.456"),
            (-2.5e-7, "-2.5e-07"),
            (1.5e300, "1.5e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(float_repr(f), repr, "{f}");
        }
    }

    #[test]
    fn loads_then_dumps_like_python() {
        let text = br#"{"zarr_format": 3, "node_type":"group","attributes":{"t\u00e9": [1, 2.50, -0, 1e5, NaN, null, true]},"consolidated_metadata": {"kind": "inline"}, "zarr_format": 3}"#;
        let mut value = loads(text).unwrap();
        assert!(value.remove("consolidated_metadata"));
        assert_eq!(
            dumps(&value, None),
            r#"{"zarr_format": 3, "node_type": "group", "attributes": {"t\u00e9": [1, 2.5, 0, 100000.0, NaN, null, true]}}"#
        );
        assert_eq!(
            dumps(&value, Some(2)),
            "{\n  \"zarr_format\": 3,\n  \"node_type\": \"group\",\n  \"attributes\": {\n    \"t\\u00e9\": [\n      1,\n      2.5,\n      0,\n      100000.0,\n      NaN,\n      null,\n      true\n    ]\n  }\n}"
        );
        assert_eq!(
            dumps(&loads(b"{\"a\": [], \"b\": {}}").unwrap(), Some(2)),
            "{\n  \"a\": [],\n  \"b\": {}\n}"
        );
        assert_eq!(
            dumps(&Json::Str("😀\n\"".into()), None),
            r#""\ud83d\ude00\n\"""#
        );
        assert_eq!(
            loads(b"[\"\\ud83d\\ude00\"]"),
            Some(Json::Array(vec![Json::Str("😀".into())]))
        );
    }

    #[test]
    fn what_python_refuses_is_none() {
        for bad in [
            &b"{"[..],
            b"[1,]",
            b"01",
            b"{\"a\" 1}",
            b"\"\x01\"",
            b"1 2",
            b"",
            b"nul",
        ] {
            assert_eq!(loads(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(600) + &"]".repeat(600);
        assert_eq!(loads(deep.as_bytes()), None);
        assert_eq!(loads(b" [ 1 , 2 ] ").unwrap().as_dims(), Some(vec![1, 2]));
    }
}
