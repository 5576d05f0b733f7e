//! TOML through `toml_edit`, which keeps comments, order and formatting of untouched items.

use serde_json::{Map, Number, Value};
use toml_edit::{DocumentMut, Item, Table, TableLike};

use super::EditError;

fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| EditError::Syntax {
        offset: e.span().map_or(0, |s| s.start),
        message: e.message().trim().to_owned(),
    })
}

pub(super) fn check(text: &str) -> Result<(), EditError> {
    parse(text).map(drop)
}

fn value_to_json(v: &toml_edit::Value) -> Value {
    match v {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::Number(Number::from(*i.value())),
        toml_edit::Value::Float(f) => {
            Number::from_f64(*f.value()).map_or(Value::Null, Value::Number)
        }
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Value::String(d.value().to_string()),
        toml_edit::Value::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        toml_edit::Value::InlineTable(t) => table_to_json(t),
    }
}

fn table_to_json(t: &dyn TableLike) -> Value {
    let mut map = Map::new();
    for (k, item) in t.iter() {
        if let Some(v) = item_to_json(item) {
            map.insert(k.to_owned(), v);
        }
    }
    Value::Object(map)
}

fn item_to_json(item: &Item) -> Option<Value> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(value_to_json(v)),
        Item::Table(t) => Some(table_to_json(t)),
        Item::ArrayOfTables(a) => Some(Value::Array(a.iter().map(|t| table_to_json(t)).collect())),
    }
}

fn json_to_value(v: &Value) -> Result<toml_edit::Value, EditError> {
    Ok(match v {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) => f.into(),
            _ => return Err(EditError::Shape("number out of range for TOML".into())),
        },
        Value::Array(items) => {
            let mut arr = toml_edit::Array::new();
            for item in items {
                arr.push(json_to_value(item)?);
            }
            arr.into()
        }
        Value::Object(map) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, item) in map {
                t.insert(k, json_to_value(item)?);
            }
            t.into()
        }
        Value::Null => return Err(EditError::Shape("TOML has no null".into())),
    })
}

fn json_to_item(v: &Value) -> Result<Item, EditError> {
    match v {
        Value::Object(map) => {
            let mut t = Table::new();
            for (k, item) in map {
                t.insert(k, json_to_item(item)?);
            }
            Ok(Item::Table(t))
        }
        other => Ok(Item::Value(json_to_value(other)?)),
    }
}

fn not_table(path: &[String]) -> EditError {
    EditError::Shape(format!("`{}` is not a table", path.join(".")))
}

pub(super) fn get(text: &str, path: &[String]) -> Result<Option<Value>, EditError> {
    let doc = parse(text)?;
    let mut item: &Item = doc.as_item();
    for (i, seg) in path.iter().enumerate() {
        let Some(table) = item.as_table_like() else {
            return Err(not_table(&path[..i]));
        };
        match table.get(seg) {
            Some(next) => item = next,
            None => return Ok(None),
        }
    }
    Ok(item_to_json(item))
}

pub(super) fn set(text: &str, path: &[String], value: &Value) -> Result<String, EditError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(EditError::Shape("empty key path".into()));
    };
    let mut doc = parse(text)?;
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    let mut inline = false;
    for (i, seg) in parents.iter().enumerate() {
        if table.get(seg).is_none() {
            let fresh = if inline {
                Item::Value(toml_edit::InlineTable::new().into())
            } else {
                let mut fresh = Table::new();
                // Intermediate tables stay implicit: `[a.b]` without an empty `[a]` header.
                fresh.set_implicit(i + 1 < parents.len());
                Item::Table(fresh)
            };
            table.insert(seg, fresh);
        }
        let next = table.get_mut(seg).ok_or_else(|| not_table(&path[..=i]))?;
        inline = inline || matches!(next, Item::Value(toml_edit::Value::InlineTable(_)));
        table = next
            .as_table_like_mut()
            .ok_or_else(|| not_table(&path[..=i]))?;
    }
    let new_item = if inline {
        Item::Value(json_to_value(value)?)
    } else {
        json_to_item(value)?
    };
    match (table.get_mut(last), new_item) {
        (Some(Item::Value(old)), Item::Value(mut new)) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        (Some(old), new) => *old = new,
        (None, new) => {
            table.insert(last, new);
        }
    }
    Ok(doc.to_string())
}

fn descend<'d>(
    doc: &'d mut DocumentMut,
    path: &[String],
) -> Result<&'d mut dyn TableLike, EditError> {
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    for (i, seg) in path.iter().enumerate() {
        table = table
            .get_mut(seg)
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| not_table(&path[..=i]))?;
    }
    Ok(table)
}

pub(super) fn remove(text: &str, path: &[String]) -> Result<String, EditError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(EditError::Shape("empty key path".into()));
    };
    let mut doc = parse(text)?;
    if get(text, path)?.is_none() {
        return Ok(text.to_owned());
    }
    descend(&mut doc, parents)?.remove(last);
    Ok(doc.to_string())
}
