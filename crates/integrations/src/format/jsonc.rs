//! A span-based JSONC editor: parses JSON with `//` and `/* */` comments and trailing commas
//! into a tree of byte spans, then splices text for the members we own. Everything outside
//! those members — comments, order, indentation, line endings — stays byte for byte.

use serde_json::{Map, Value};

use super::{EditError, Text};

const MAX_DEPTH: usize = 256;

struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

enum Kind {
    Object(Object),
    Array(Vec<Node>),
    Scalar(Value),
}

struct Object {
    open: usize,
    close: usize,
    members: Vec<Member>,
}

struct Member {
    key: String,
    key_start: usize,
    value: Node,
    /// Byte index of the comma that follows the value, if any.
    comma: Option<usize>,
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, message: &'static str) -> Result<T, EditError> {
        Err(EditError::Syntax {
            offset: self.pos,
            message: message.to_owned(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_trivia(&mut self) -> Result<(), EditError> {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'/' => match self.s.get(self.pos + 1) {
                    Some(b'/') => {
                        while self.peek().is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                    Some(b'*') => {
                        let from = self.pos + 2;
                        match find(&self.s[from..], b"*/") {
                            Some(i) => self.pos = from + i + 2,
                            None => return self.err("unterminated comment"),
                        }
                    }
                    _ => return self.err("unexpected `/`"),
                },
                _ => break,
            }
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Node, EditError> {
        if depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => Kind::Object(self.object(depth)?),
            Some(b'[') => Kind::Array(self.array(depth)?),
            Some(b'"') => Kind::Scalar(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => Kind::Scalar(self.number()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(_) => return self.err("expected a value"),
            None => return self.err("unexpected end of file"),
        };
        Ok(Node {
            start,
            end: self.pos,
            kind,
        })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Kind, EditError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(Kind::Scalar(value))
        } else {
            self.err("expected a value")
        }
    }

    fn string(&mut self) -> Result<String, EditError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return self.err("unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => self.pos += 2,
                Some(_) => self.pos += 1,
            }
        }
        self.pos += 1;
        let raw = std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| EditError::Syntax {
            offset: start,
            message: "invalid UTF-8 in string".to_owned(),
        })?;
        serde_json::from_str(raw).map_err(|_| EditError::Syntax {
            offset: start,
            message: "invalid string".to_owned(),
        })
    }

    fn number(&mut self) -> Result<Value, EditError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
            .filter(Value::is_number)
            .ok_or(EditError::Syntax {
                offset: start,
                message: "invalid number".to_owned(),
            })
    }

    fn object(&mut self, depth: usize) -> Result<Object, EditError> {
        let open = self.pos;
        self.pos += 1;
        let mut members = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some(b'}') => break,
                Some(b'"') => {}
                _ => return self.err("expected a member name or `}`"),
            }
            let key_start = self.pos;
            let key = self.string()?;
            self.skip_trivia()?;
            if self.peek() != Some(b':') {
                return self.err("expected `:`");
            }
            self.pos += 1;
            self.skip_trivia()?;
            let value = self.value(depth + 1)?;
            self.skip_trivia()?;
            let comma = match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    Some(self.pos - 1)
                }
                Some(b'}') => None,
                _ => return self.err("expected `,` or `}`"),
            };
            members.push(Member {
                key,
                key_start,
                value,
                comma,
            });
            if comma.is_none() {
                self.skip_trivia()?;
                break;
            }
        }
        let close = self.pos;
        self.pos += 1;
        Ok(Object {
            open,
            close,
            members,
        })
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Node>, EditError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_trivia()?;
            if self.peek() == Some(b']') {
                break;
            }
            items.push(self.value(depth + 1)?);
            self.skip_trivia()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => break,
                _ => return self.err("expected `,` or `]`"),
            }
        }
        self.pos += 1;
        Ok(items)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses the whole document; `None` when it holds nothing but whitespace and comments.
fn parse(text: &str) -> Result<Option<Node>, EditError> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
    };
    p.skip_trivia()?;
    if p.peek().is_none() {
        return Ok(None);
    }
    let root = p.value(0)?;
    p.skip_trivia()?;
    if p.peek().is_some() {
        return p.err("unexpected content after the top-level value");
    }
    Ok(Some(root))
}

fn to_value(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar(v) => v.clone(),
        Kind::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Kind::Object(o) => {
            let mut map = Map::new();
            for m in &o.members {
                map.insert(m.key.clone(), to_value(&m.value));
            }
            Value::Object(map)
        }
    }
}

/// The last member named `key` (JSON.parse keeps the last duplicate).
fn member<'o>(obj: &'o Object, key: &str) -> Option<(usize, &'o Member)> {
    obj.members
        .iter()
        .enumerate()
        .rev()
        .find(|(_, m)| m.key == key)
}

fn root_object(root: &Node) -> Result<&Object, EditError> {
    match &root.kind {
        Kind::Object(o) => Ok(o),
        _ => Err(EditError::Shape("the top level is not an object".into())),
    }
}

/// Walks to the object that holds `path`'s last segment. `Ok(None)` when a parent is missing.
fn parent_of<'n>(root: &'n Node, path: &[String]) -> Result<Option<&'n Object>, EditError> {
    let mut obj = root_object(root)?;
    for (i, seg) in path[..path.len().saturating_sub(1)].iter().enumerate() {
        match member(obj, seg) {
            None => return Ok(None),
            Some((_, m)) => match &m.value.kind {
                Kind::Object(o) => obj = o,
                _ => return Err(not_object(&path[..=i])),
            },
        }
    }
    Ok(Some(obj))
}

fn not_object(path: &[String]) -> EditError {
    EditError::Shape(format!("`{}` is not an object", path.join(".")))
}

pub(super) fn check(text: &str) -> Result<(), EditError> {
    if let Some(root) = parse(text)? {
        root_object(&root)?;
    }
    Ok(())
}

pub(super) fn get(text: &str, path: &[String]) -> Result<Option<Value>, EditError> {
    let Some(root) = parse(text)? else {
        return Ok(None);
    };
    let Some(obj) = parent_of(&root, path)? else {
        return Ok(None);
    };
    Ok(path
        .last()
        .and_then(|last| member(obj, last))
        .map(|(_, m)| to_value(&m.value)))
}

struct Style<'t> {
    text: &'t str,
    nl: &'static str,
    unit: String,
}

impl<'t> Style<'t> {
    fn of(text: &'t str, root: Option<&Node>) -> Self {
        let nl = Text::newline_of(text);
        let unit = root
            .and_then(|r| match &r.kind {
                Kind::Object(o) => o.members.first(),
                _ => None,
            })
            .and_then(|m| own_line_indent(text, m.key_start))
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| "  ".to_owned());
        Style { text, nl, unit }
    }

    fn render(&self, value: &Value, indent: &str, out: &mut String) {
        let inner = format!("{indent}{}", self.unit);
        match value {
            Value::Object(map) if !map.is_empty() => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(self.nl);
                    out.push_str(&inner);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    self.render(v, &inner, out);
                }
                out.push_str(self.nl);
                out.push_str(indent);
                out.push('}');
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(self.nl);
                    out.push_str(&inner);
                    self.render(v, &inner, out);
                }
                out.push_str(self.nl);
                out.push_str(indent);
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    fn member_text(&self, key: &str, value: &Value, indent: &str) -> String {
        let mut out = format!("{}: ", Value::String(key.to_owned()));
        self.render(value, indent, &mut out);
        out
    }
}

/// The whitespace before `at` on its line, when nothing else precedes it there.
fn own_line_indent(text: &str, at: usize) -> Option<&str> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start..at];
    prefix
        .chars()
        .all(|c| c == ' ' || c == '\t' || c == '\u{feff}')
        .then_some(prefix.trim_start_matches('\u{feff}'))
}

/// The indentation of the line holding `at`.
fn line_indent(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    let len = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..len]
}

/// From `at`, skips blanks and comments on the same line. Returns the position reached and
/// whether it is a line break (`\r\n` or `\n`).
fn end_of_line(text: &str, mut at: usize) -> (usize, bool) {
    let b = text.as_bytes();
    loop {
        while at < b.len() && (b[at] == b' ' || b[at] == b'\t') {
            at += 1;
        }
        if b[at..].starts_with(b"//") {
            while at < b.len() && b[at] != b'\n' {
                at += 1;
            }
            if at > 0 && b[at - 1] == b'\r' {
                at -= 1;
            }
            return (at, true);
        }
        if b[at..].starts_with(b"/*") {
            match find(&b[at + 2..], b"*/") {
                Some(i) if !b[at..at + 2 + i].contains(&b'\n') => {
                    at += i + 4;
                    continue;
                }
                _ => return (at, false),
            }
        }
        let nl = b[at..].starts_with(b"\r\n") || b[at..].starts_with(b"\n");
        return (at, nl || at == b.len());
    }
}

fn line_break_len(text: &str, at: usize) -> usize {
    let rest = &text.as_bytes()[at..];
    if rest.starts_with(b"\r\n") {
        2
    } else if rest.starts_with(b"\n") {
        1
    } else {
        0
    }
}

struct Splice {
    start: usize,
    end: usize,
    text: String,
}

fn apply_splices(text: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by(|a, b| b.start.cmp(&a.start).then(b.end.cmp(&a.end)));
    let mut out = text.to_owned();
    for s in splices {
        out.replace_range(s.start..s.end, &s.text);
    }
    out
}

/// Nests `value` under `path` (`["a", "b"]`, v → `{"b": v}` for the member `a`).
fn nest(path: &[String], value: &Value) -> Value {
    path.iter().rev().fold(value.clone(), |acc, seg| {
        let mut map = Map::new();
        map.insert(seg.clone(), acc);
        Value::Object(map)
    })
}

pub(super) fn set(text: &str, path: &[String], value: &Value) -> Result<String, EditError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(EditError::Shape("empty key path".into()));
    };
    let root = parse(text)?;
    let style = Style::of(text, root.as_ref());
    let Some(root) = root else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(style.nl);
        }
        style.render(&nest(path, value), "", &mut out);
        out.push_str(style.nl);
        return Ok(out);
    };
    let mut obj = root_object(&root)?;
    for (i, seg) in parents.iter().enumerate() {
        match member(obj, seg) {
            Some((_, m)) => match &m.value.kind {
                Kind::Object(o) => obj = o,
                _ => return Err(not_object(&path[..=i])),
            },
            None => {
                let nested = nest(&path[i + 1..], value);
                return Ok(apply_splices(text, insert(&style, obj, seg, &nested)));
            }
        }
    }
    let splices = match member(obj, last) {
        Some((_, m)) => {
            let indent = line_indent(text, m.key_start);
            let mut rendered = String::new();
            style.render(value, indent, &mut rendered);
            vec![Splice {
                start: m.value.start,
                end: m.value.end,
                text: rendered,
            }]
        }
        None => insert(&style, obj, last, value),
    };
    Ok(apply_splices(text, splices))
}

fn insert(style: &Style<'_>, obj: &Object, key: &str, value: &Value) -> Vec<Splice> {
    let text = style.text;
    let nl = style.nl;
    let obj_indent = line_indent(text, obj.open);
    let child_indent = format!("{obj_indent}{}", style.unit);
    let multiline = text[obj.open..obj.close].contains('\n');
    let Some(last) = obj.members.last() else {
        let inner = &text[obj.open + 1..obj.close];
        let member = style.member_text(key, value, &child_indent);
        return if inner.trim().is_empty() {
            vec![Splice {
                start: obj.open + 1,
                end: obj.close,
                text: format!("{nl}{child_indent}{member}{nl}{obj_indent}"),
            }]
        } else {
            vec![Splice {
                start: obj.open + 1,
                end: obj.open + 1,
                text: format!("{nl}{child_indent}{member}"),
            }]
        };
    };
    if !multiline {
        let member = format!("{}: {value}", Value::String(key.to_owned()));
        return match last.comma {
            Some(c) => vec![Splice {
                start: c + 1,
                end: c + 1,
                text: format!(" {member},"),
            }],
            None => vec![Splice {
                start: last.value.end,
                end: last.value.end,
                text: format!(", {member}"),
            }],
        };
    }
    let indent = own_line_indent(text, last.key_start)
        .map(str::to_owned)
        .unwrap_or(child_indent);
    let member = format!("{indent}{}", style.member_text(key, value, &indent));
    match last.comma {
        Some(c) => {
            let (at, at_break) = end_of_line(text, c + 1);
            let at = if at_break { at } else { c + 1 };
            vec![Splice {
                start: at,
                end: at,
                text: format!("{nl}{member},"),
            }]
        }
        None => {
            let (at, at_break) = end_of_line(text, last.value.end);
            let at = if at_break { at } else { last.value.end };
            if at == last.value.end {
                return vec![Splice {
                    start: at,
                    end: at,
                    text: format!(",{nl}{member}"),
                }];
            }
            vec![
                Splice {
                    start: last.value.end,
                    end: last.value.end,
                    text: ",".to_owned(),
                },
                Splice {
                    start: at,
                    end: at,
                    text: format!("{nl}{member}"),
                },
            ]
        }
    }
}

pub(super) fn remove(text: &str, path: &[String]) -> Result<String, EditError> {
    let Some(root) = parse(text)? else {
        return Ok(text.to_owned());
    };
    let Some(obj) = parent_of(&root, path)? else {
        return Ok(text.to_owned());
    };
    let Some((index, m)) = path.last().and_then(|last| member(obj, last)) else {
        return Ok(text.to_owned());
    };
    let prev = index.checked_sub(1).map(|i| &obj.members[i]);
    let mut splices = Vec::new();
    let own_line = own_line_indent(text, m.key_start).is_some();
    match m.comma {
        Some(c) => {
            let (at, at_break) = end_of_line(text, c + 1);
            if own_line && at_break {
                let start = text[..m.key_start].rfind('\n').map_or(0, |i| i + 1);
                splices.push(Splice {
                    start,
                    end: at + line_break_len(text, at),
                    text: String::new(),
                });
            } else {
                let mut end = c + 1;
                while text
                    .as_bytes()
                    .get(end)
                    .is_some_and(|b| *b == b' ' || *b == b'\t')
                {
                    end += 1;
                }
                splices.push(Splice {
                    start: m.key_start,
                    end,
                    text: String::new(),
                });
            }
        }
        None => {
            let (at, at_break) = end_of_line(text, m.value.end);
            if own_line && at_break {
                let start = text[..m.key_start].rfind('\n').map_or(0, |i| i + 1);
                splices.push(Splice {
                    start,
                    end: at + line_break_len(text, at),
                    text: String::new(),
                });
                if let Some(c) = prev.and_then(|p| p.comma) {
                    splices.push(Splice {
                        start: c,
                        end: c + 1,
                        text: String::new(),
                    });
                }
            } else if let Some(p) = prev {
                // `{"a": 1, "ours": 2}` → `{"a": 1}`
                splices.push(Splice {
                    start: p.value.end,
                    end: m.value.end,
                    text: String::new(),
                });
            } else {
                splices.push(Splice {
                    start: m.key_start,
                    end: m.value.end,
                    text: String::new(),
                });
            }
        }
    }
    Ok(apply_splices(text, splices))
}
