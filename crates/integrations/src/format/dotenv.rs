//! `KEY=value` files (`.env`). Only the lines of variables we own are touched.

use serde_json::Value;

use super::yaml::{Line, lines};
use super::{EditError, Text};

struct Entry {
    line: usize,
    value: (usize, usize),
}

fn find(text: &str, key: &str) -> (Vec<Line>, Option<Entry>) {
    let lines = lines(text);
    let found = lines.iter().enumerate().rev().find_map(|(i, l)| {
        let line = &text[l.start..l.end];
        let body = line.trim_start();
        let body = body.strip_prefix("export ").map_or(body, str::trim_start);
        let rest = body.strip_prefix(key)?.trim_start();
        let rest = rest.strip_prefix('=')?;
        let v = l.end - rest.len();
        let v = v + (rest.len() - rest.trim_start().len());
        Some(Entry {
            line: i,
            value: (v, v + value_len(&text[v..l.end])),
        })
    });
    (lines, found)
}

fn value_len(rest: &str) -> usize {
    let b = rest.as_bytes();
    match b.first() {
        Some(q @ (b'"' | b'\'')) => {
            let mut i = 1;
            while i < b.len() {
                if b[i] == b'\\' && *q == b'"' {
                    i += 2;
                    continue;
                }
                if b[i] == *q {
                    return i + 1;
                }
                i += 1;
            }
            rest.len()
        }
        _ => {
            let cut = rest.find(" #").unwrap_or(rest.len());
            rest[..cut].trim_end().len()
        }
    }
}

fn decode(raw: &str) -> String {
    if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        inner
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        inner.to_owned()
    } else {
        raw.to_owned()
    }
}

fn encode(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+=,".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!(
            "\"{}\"",
            value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    }
}

pub(super) fn check(_text: &str) -> Result<(), EditError> {
    // dotenv loaders skip lines they do not understand; so do we.
    Ok(())
}

pub(super) fn get(text: &str, key: &str) -> Result<Option<Value>, EditError> {
    let (_, found) = find(text, key);
    Ok(found.map(|e| Value::String(decode(&text[e.value.0..e.value.1]))))
}

pub(super) fn set(text: &str, key: &str, value: &str) -> Result<String, EditError> {
    let (_, found) = find(text, key);
    let mut out = text.to_owned();
    match found {
        Some(e) => out.replace_range(e.value.0..e.value.1, &encode(value)),
        None => {
            let nl = Text::newline_of(text);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(nl);
            }
            out.push_str(&format!("{key}={}{nl}", encode(value)));
        }
    }
    Ok(out)
}

pub(super) fn remove(text: &str, key: &str) -> Result<String, EditError> {
    let (lines, found) = find(text, key);
    let mut out = text.to_owned();
    if let Some(e) = found {
        let l = &lines[e.line];
        out.replace_range(l.start..l.next, "");
    }
    Ok(out)
}
