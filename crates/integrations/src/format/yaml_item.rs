//! One item of a top-level YAML block sequence (Continue's `models:` list), owned whole and
//! written on one line in flow style (YAML reads JSON), so it can be found, replaced and
//! removed without touching any other line, comment or item. The path is
//! `[sequence key, item name]`; the item is the one whose `name` is the item name.

use serde_json::Value;

use super::EditError;
use super::yaml::{Line, lines};

/// The sequence's key line and the index of the line after its last item line.
struct Seq {
    key_line: usize,
    end: usize,
}

fn is_top_level_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|r| r.strip_prefix(':'))
        .is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.is_empty() || rest.starts_with('#')
        })
}

fn find_seq(text: &str, ls: &[Line], key: &str) -> Result<Option<Seq>, EditError> {
    for (i, l) in ls.iter().enumerate() {
        let line = &text[l.start..l.end];
        if !line.starts_with(key) || !line[key.len()..].starts_with(':') {
            continue;
        }
        if !is_top_level_key(line, key) {
            return Err(EditError::Shape(format!(
                "`{key}:` holds an inline value; only a block list can be edited"
            )));
        }
        // The block runs until the next line at column 0 that is not a comment or blank
        // (items may sit at column 0 too: `- ` lines belong to the block).
        let mut end = i + 1;
        for (j, l) in ls.iter().enumerate().skip(i + 1) {
            let t = &text[l.start..l.end];
            let top = t.chars().next().is_some_and(|c| !c.is_whitespace());
            if top && !t.starts_with('#') && !t.starts_with("- ") && t != "-" {
                break;
            }
            if !t.trim().is_empty() && !t.trim_start().starts_with('#') {
                end = j + 1;
            }
        }
        return Ok(Some(Seq { key_line: i, end }));
    }
    Ok(None)
}

/// The line holding our item, and its value.
fn find_item(
    text: &str,
    ls: &[Line],
    seq: &Seq,
    name: &str,
) -> Option<(usize, serde_json::Map<String, Value>)> {
    for (i, l) in ls.iter().enumerate().take(seq.end).skip(seq.key_line + 1) {
        let t = text[l.start..l.end].trim_start();
        let Some(flow) = t.strip_prefix("- {") else {
            continue;
        };
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&format!("{{{flow}")) else {
            continue;
        };
        if m.get("name").and_then(Value::as_str) == Some(name) {
            return Some((i, m));
        }
    }
    None
}

fn parts(path: &[String]) -> Result<(&str, &str), EditError> {
    match path {
        [seq, name] => Ok((seq, name)),
        [_] => Err(EditError::Shape("the list itself is not ours".into())),
        _ => Err(EditError::Shape(
            "expected a list key and an item name".into(),
        )),
    }
}

pub(super) fn check(text: &str) -> Result<(), EditError> {
    let ls = lines(text);
    if let Some(l) = ls.iter().find(|l| text[l.start..l.end].contains('\t')) {
        return Err(EditError::Syntax {
            offset: l.start,
            message: "tabs are not allowed in YAML indentation".into(),
        });
    }
    Ok(())
}

pub(super) fn get(text: &str, path: &[String]) -> Result<Option<Value>, EditError> {
    if let [seq] = path {
        // Whether the list exists (for undo's "containers we created").
        let ls = lines(text);
        return Ok(find_seq(text, &ls, seq)?.map(|_| Value::Array(Vec::new())));
    }
    let (seq_key, name) = parts(path)?;
    let ls = lines(text);
    let Some(seq) = find_seq(text, &ls, seq_key)? else {
        return Ok(None);
    };
    Ok(find_item(text, &ls, &seq, name).map(|(_, m)| Value::Object(m)))
}

pub(super) fn set(text: &str, path: &[String], value: &Value) -> Result<String, EditError> {
    let (seq_key, name) = parts(path)?;
    let Value::Object(item) = value else {
        return Err(EditError::Shape("a list item must be an object".into()));
    };
    if item.get("name").and_then(Value::as_str) != Some(name) {
        return Err(EditError::Shape(
            "the item's name must match the path".into(),
        ));
    }
    let flow = serde_json::to_string(value).map_err(|e| EditError::Shape(e.to_string()))?;
    let nl = super::Text::newline_of(text);
    let ls = lines(text);
    let Some(seq) = find_seq(text, &ls, seq_key)? else {
        // A new file gets the header Continue's config requires (`name`, `version`, `schema`).
        let mut out = if text.trim().is_empty() {
            format!("name: Local Config{nl}version: 1.0.0{nl}schema: v1{nl}")
        } else {
            text.to_owned()
        };
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(&format!("{seq_key}:{nl}  - {flow}{nl}"));
        return Ok(out);
    };
    if let Some((i, _)) = find_item(text, &ls, &seq, name) {
        let l = &ls[i];
        let line = &text[l.start..l.end];
        let indent = &line[..line.len() - line.trim_start().len()];
        return Ok(format!(
            "{}{indent}- {flow}{}",
            &text[..l.start],
            &text[l.end..]
        ));
    }
    // Append after the last item, indented like the first one.
    let indent = ls[seq.key_line + 1..seq.end]
        .iter()
        .map(|l| &text[l.start..l.end])
        .find(|t| t.trim_start().starts_with('-'))
        .map_or("  ", |t| &t[..t.len() - t.trim_start().len()]);
    let last = &ls[seq.end - 1];
    let at = last.next;
    let mut out = text[..at].to_owned();
    if !out.ends_with('\n') {
        out.push_str(nl);
    }
    out.push_str(&format!("{indent}- {flow}{nl}"));
    out.push_str(&text[at..]);
    Ok(out)
}

pub(super) fn remove(text: &str, path: &[String]) -> Result<String, EditError> {
    if let [_] = path {
        // Never ours to remove: the list may hold the user's items.
        return Ok(text.to_owned());
    }
    let (seq_key, name) = parts(path)?;
    let ls = lines(text);
    let Some(seq) = find_seq(text, &ls, seq_key)? else {
        return Ok(text.to_owned());
    };
    match find_item(text, &ls, &seq, name) {
        Some((i, _)) => Ok(format!("{}{}", &text[..ls[i].start], &text[ls[i].next..])),
        None => Ok(text.to_owned()),
    }
}
