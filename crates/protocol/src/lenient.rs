//! Lenient field access for decoders. Bodies are read as `serde_json::Value` rather than strict
//! structs so that unknown fields, unknown block types and `null` for optional fields are all
//! accepted (clients add fields faster than we can model them), while a field that is present
//! with the wrong type still yields a 400 naming it in `param`.

use serde_json::{Map, Value};

use crate::error::{ClientError, ErrorKind};

pub(crate) type Obj = Map<String, Value>;

/// A 400 naming the offending field.
pub(crate) fn invalid(param: &str, message: impl Into<String>) -> ClientError {
    ClientError::new(ErrorKind::InvalidRequest, message)
        .with_code("invalid_request")
        .with_param(param)
}

pub(crate) fn parse_object(body: &[u8]) -> Result<Obj, ClientError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ClientError::new(
            ErrorKind::InvalidRequest,
            "request body must be a JSON object",
        )
        .with_code("invalid_json")),
        Err(e) => Err(ClientError::new(
            ErrorKind::InvalidRequest,
            format!("invalid JSON body: {e}"),
        )
        .with_code("invalid_json")),
    }
}

/// `Some` when present and not null.
pub(crate) fn get<'a>(o: &'a Obj, key: &str) -> Option<&'a Value> {
    o.get(key).filter(|v| !v.is_null())
}

pub(crate) fn opt_str<'a>(
    o: &'a Obj,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ClientError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(
            &join(path, key),
            format!("`{}` must be a string", join(path, key)),
        )),
    }
}

pub(crate) fn req_str<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a str, ClientError> {
    opt_str(o, key, path)?.ok_or_else(|| {
        invalid(
            &join(path, key),
            format!("`{}` is required", join(path, key)),
        )
    })
}

pub(crate) fn opt_f64(o: &Obj, key: &str, path: &str) -> Result<Option<f64>, ClientError> {
    match get(o, key) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| {
            invalid(
                &join(path, key),
                format!("`{}` must be a number", join(path, key)),
            )
        }),
    }
}

pub(crate) fn opt_u64(o: &Obj, key: &str, path: &str) -> Result<Option<u64>, ClientError> {
    match get(o, key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            invalid(
                &join(path, key),
                format!("`{}` must be a non-negative integer", join(path, key)),
            )
        }),
    }
}

pub(crate) fn opt_bool(o: &Obj, key: &str, path: &str) -> Result<Option<bool>, ClientError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(
            &join(path, key),
            format!("`{}` must be a boolean", join(path, key)),
        )),
    }
}

pub(crate) fn opt_obj<'a>(
    o: &'a Obj,
    key: &str,
    path: &str,
) -> Result<Option<&'a Obj>, ClientError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(invalid(
            &join(path, key),
            format!("`{}` must be an object", join(path, key)),
        )),
    }
}

pub(crate) fn opt_array<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a [Value], ClientError> {
    match get(o, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(invalid(
            &join(path, key),
            format!("`{}` must be an array", join(path, key)),
        )),
    }
}

pub(crate) fn as_obj<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, ClientError> {
    v.as_object()
        .ok_or_else(|| invalid(path, format!("`{path}` must be an object")))
}

/// Stop sequences: a string or an array of strings.
pub(crate) fn stop_list(o: &Obj, key: &str, path: &str) -> Result<Vec<String>, ClientError> {
    match get(o, key) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(
                        &format!("{}[{i}]", join(path, key)),
                        "stop sequences must be strings",
                    )
                })
            })
            .collect(),
        Some(_) => Err(invalid(
            &join(path, key),
            "stop must be a string or an array of strings",
        )),
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Parses tool-call arguments into an object for dialects that want one (Anthropic `input`,
/// Gemini `args`). Arguments that are not a JSON object are wrapped rather than lost.
pub(crate) fn arguments_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => serde_json::json!({ "arguments": arguments }),
    }
}

/// A `data:` URL split into media type and base64 payload.
pub(crate) fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type.to_owned(), data.to_owned()))
}

pub(crate) fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

/// Text of a message's content when it is a string or an array of text-ish parts.
pub(crate) fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}
