//! The top-level `key: scalar` lines of a YAML mapping (Aider's `.aider.conf.yml`). Only the
//! lines of keys we own are touched; nested structures elsewhere in the file are left alone.

use serde_json::Value;

use super::{EditError, Text};

/// Byte ranges of one line: `start..end` is the content, `start..next` includes the break.
pub(super) struct Line {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) next: usize,
}

pub(super) fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let next = text[start..]
            .find('\n')
            .map_or(text.len(), |i| start + i + 1);
        let mut end = next;
        if text[..end].ends_with('\n') {
            end -= 1;
        }
        if text[..end].ends_with('\r') {
            end -= 1;
        }
        out.push(Line { start, end, next });
        start = next;
    }
    out
}

/// A top-level `key: value` line: the key, and the byte range of the value (excluding any
/// trailing comment).
struct Entry {
    line: usize,
    key: String,
    value: (usize, usize),
}

fn syntax(at: usize, message: &str) -> EditError {
    EditError::Syntax {
        offset: at,
        message: message.to_owned(),
    }
}

fn entries(text: &str, lines: &[Line]) -> Result<Vec<Entry>, EditError> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let line = &text[l.start..l.end];
        let first = line.chars().next();
        match first {
            None | Some(' ' | '\t' | '#') => continue,
            _ if line == "---" || line == "..." || line.starts_with("--- ") => continue,
            Some('-') => {
                return Err(EditError::Shape(
                    "the file is a YAML list, not a mapping".into(),
                ));
            }
            _ => {}
        }
        let Some(colon) = key_end(line) else {
            return Err(syntax(l.start, "expected `key: value`"));
        };
        let key = line[..colon].trim().trim_matches(['"', '\'']).to_owned();
        let mut v = colon + 1;
        while line[v..].starts_with([' ', '\t']) {
            v += 1;
        }
        let value_end =
            value_end(line, v).ok_or_else(|| syntax(l.start + v, "unterminated quoted string"))?;
        out.push(Entry {
            line: i,
            key,
            value: (l.start + v, l.start + value_end),
        });
    }
    Ok(out)
}

/// Index of the `:` that ends a top-level key (followed by a space, tab or end of line).
fn key_end(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = 0;
    if let Some(q @ (b'"' | b'\'')) = b.first().copied() {
        i = 1 + line[1..].find(q as char)? + 1;
    }
    while i < b.len() {
        if b[i] == b':' && (i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// End of the value that starts at `v`: a closing quote, or a ` #` comment, or end of line
/// (trailing blanks excluded).
fn value_end(line: &str, v: usize) -> Option<usize> {
    let rest = &line[v..];
    match rest.as_bytes().first() {
        Some(b'"') => {
            let b = rest.as_bytes();
            let mut i = 1;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'"' => return Some(v + i + 1),
                    _ => i += 1,
                }
            }
            None
        }
        Some(b'\'') => {
            let b = rest.as_bytes();
            let mut i = 1;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return Some(v + i + 1);
                }
                i += 1;
            }
            None
        }
        _ => {
            let cut = rest
                .find(" #")
                .or_else(|| rest.find("\t#"))
                .unwrap_or(rest.len());
            Some(v + rest[..cut].trim_end().len())
        }
    }
}

fn decode(raw: &str) -> Option<String> {
    if raw.starts_with('"') {
        serde_json::from_str(raw).ok()
    } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(inner.replace("''", "'"))
    } else {
        Some(raw.to_owned())
    }
}

pub(super) fn check(text: &str) -> Result<(), EditError> {
    entries(text, &lines(text)).map(drop)
}

fn find(text: &str, key: &str) -> Result<(Vec<Line>, Option<Entry>), EditError> {
    let lines = lines(text);
    let found = entries(text, &lines)?
        .into_iter()
        .rev()
        .find(|e| e.key == key);
    if let Some(e) = &found {
        let raw = &text[e.value.0..e.value.1];
        let continued = lines.get(e.line + 1).is_some_and(|n| {
            text[n.start..n.end].starts_with([' ', '\t', '-'])
                && !text[n.start..n.end].trim().is_empty()
        });
        if raw.starts_with(['[', '{', '|', '>', '&', '*', '!']) || (raw.is_empty() && continued) {
            return Err(EditError::Shape(format!(
                "`{key}` is not a single-line value"
            )));
        }
    }
    Ok((lines, found))
}

pub(super) fn get(text: &str, key: &str) -> Result<Option<Value>, EditError> {
    let (_, found) = find(text, key)?;
    Ok(found
        .and_then(|e| decode(&text[e.value.0..e.value.1]))
        .map(Value::String))
}

pub(super) fn set(text: &str, key: &str, value: &str) -> Result<String, EditError> {
    let rendered = render(value);
    let (_, found) = find(text, key)?;
    let mut out = text.to_owned();
    match found {
        Some(e) => {
            let sep = if e.value.0 == e.value.1 && !text[..e.value.0].ends_with([' ', '\t']) {
                " "
            } else {
                ""
            };
            out.replace_range(e.value.0..e.value.1, &format!("{sep}{rendered}"));
        }
        None => {
            let nl = Text::newline_of(text);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(nl);
            }
            out.push_str(&format!("{key}: {rendered}{nl}"));
        }
    }
    Ok(out)
}

/// A plain scalar when YAML reads it back as the same string, else double-quoted.
fn render(value: &str) -> String {
    let keyword = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ]
    .iter()
    .any(|k| value.eq_ignore_ascii_case(k));
    let plain = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '/' || c == '.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+".contains(c))
        && !value.ends_with(':')
        && !keyword
        && value.parse::<f64>().is_err();
    if plain {
        value.to_owned()
    } else {
        Value::String(value.to_owned()).to_string()
    }
}

pub(super) fn remove(text: &str, key: &str) -> Result<String, EditError> {
    let (lines, found) = find(text, key)?;
    let mut out = text.to_owned();
    if let Some(e) = found {
        let l = &lines[e.line];
        out.replace_range(l.start..l.next, "");
    }
    Ok(out)
}
