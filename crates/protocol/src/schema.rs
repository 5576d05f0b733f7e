//! JSON Schema as each dialect takes it, for response schemas and tool declarations alike.
//!
//! The IR holds standard JSON Schema. Gemini clients may write Gemini's OpenAPI subset instead
//! (`responseSchema`, function `parameters`, sometimes even inside `responseJsonSchema`):
//! upper-case types (`OBJECT`, `STRING`, …) and `nullable`. [`from_gemini`] turns that into
//! JSON Schema on the way in. On the way out each upstream gets the schema rewritten as its
//! provider documents:
//! - OpenAI (Chat, Responses): strict mode only when the schema meets its rules (every object
//!   closed with `additionalProperties: false` and listing all its properties in `required`);
//!   otherwise the schema goes non-strict rather than being rejected ([`openai_strict`]).
//! - Anthropic structured output: objects closed with `additionalProperties: false`; numeric,
//!   string-length, `maxItems`, `minItems` above 1 and property-count constraints are not
//!   supported and move into the `description`, as Anthropic's SDKs do ([`for_anthropic`]).
//! - Gemini (`responseJsonSchema`, `parametersJsonSchema`): no `$schema`; `const` becomes a
//!   one-value `enum` ([`for_gemini`]).

use serde_json::{Map, Value, json};

/// Keywords whose value is a schema.
const SCHEMA_KEYS: [&str; 5] = ["items", "additionalProperties", "not", "contains", "if"];
/// Keywords whose value is a list of schemas.
const SCHEMA_LIST_KEYS: [&str; 4] = ["anyOf", "oneOf", "allOf", "prefixItems"];
/// Keywords whose value maps names to schemas.
const SCHEMA_MAP_KEYS: [&str; 4] = ["properties", "$defs", "definitions", "patternProperties"];

/// Applies `f` to `schema` and then to every subschema, depth first.
fn walk(schema: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    f(o);
    for k in SCHEMA_KEYS {
        if let Some(v) = o.get_mut(k) {
            walk(v, f);
        }
    }
    for k in SCHEMA_LIST_KEYS {
        if let Some(Value::Array(a)) = o.get_mut(k) {
            a.iter_mut().for_each(|v| walk(v, f));
        }
    }
    for k in SCHEMA_MAP_KEYS {
        if let Some(Value::Object(m)) = o.get_mut(k) {
            m.values_mut().for_each(|v| walk(v, f));
        }
    }
}

/// Gemini's OpenAPI subset → JSON Schema: lower-case types, `nullable: true` as a `null`
/// member of the type (and of the `enum`), Gemini-only keywords dropped. Standard JSON Schema
/// passes through unchanged.
pub(crate) fn from_gemini(schema: &Value) -> Value {
    let mut out = schema.clone();
    walk(&mut out, &mut |o| {
        o.remove("propertyOrdering");
        if o.get("format").and_then(Value::as_str) == Some("enum") {
            o.remove("format"); // Gemini's marker for string enums, not a JSON Schema format
        }
        if let Some(t) = o.get_mut("type") {
            match t {
                Value::String(s) => *s = s.to_ascii_lowercase(),
                Value::Array(a) => a.iter_mut().for_each(|t| {
                    if let Value::String(s) = t {
                        *s = s.to_ascii_lowercase();
                    }
                }),
                _ => {}
            }
        }
        if o.get("type") == Some(&json!("type_unspecified")) {
            o.remove("type");
        }
        let nullable = o.remove("nullable").and_then(|n| n.as_bool()) == Some(true);
        if nullable {
            make_nullable(o);
        }
    });
    out
}

fn make_nullable(o: &mut Map<String, Value>) {
    match o.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            o.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(a)) if !a.contains(&json!("null")) => a.push(json!("null")),
        Some(_) => {}
        None => {
            // No type to widen (e.g. only `anyOf`): offer `null` as one more alternative.
            let rest = std::mem::take(o);
            o.insert(
                "anyOf".into(),
                json!([Value::Object(rest), {"type": "null"}]),
            );
            return;
        }
    }
    if let Some(Value::Array(e)) = o.get_mut("enum")
        && !e.contains(&Value::Null)
    {
        e.push(Value::Null);
    }
}

/// Whether OpenAI's strict mode accepts `schema`: every object schema closed and listing all
/// its properties as required. `strict` is what the client asked for.
pub(crate) fn openai_strict(schema: &Value, strict: Option<bool>) -> Option<bool> {
    match strict {
        Some(true) if !strict_compatible(schema) => Some(false),
        other => other,
    }
}

fn strict_compatible(schema: &Value) -> bool {
    let mut ok = true;
    let mut copy = schema.clone();
    walk(&mut copy, &mut |o| {
        let is_object = o.get("type") == Some(&json!("object")) || o.contains_key("properties");
        if !is_object {
            return;
        }
        let closed = o.get("additionalProperties") == Some(&json!(false));
        let props: Vec<&String> = o
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        let required: Vec<&str> = o
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !closed || !props.iter().all(|p| required.contains(&p.as_str())) {
            ok = false;
        }
    });
    ok
}

/// Constraints Anthropic structured output does not support; moved into the description.
const ANTHROPIC_UNSUPPORTED: [&str; 11] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "minProperties",
    "maxProperties",
    "$schema",
];

/// A response schema as Anthropic's `output_config.format` takes it.
pub(crate) fn for_anthropic(schema: &Value) -> Value {
    let mut out = schema.clone();
    walk(&mut out, &mut |o| {
        let mut notes = Vec::new();
        for k in ANTHROPIC_UNSUPPORTED {
            if let Some(v) = o.remove(k)
                && k != "$schema"
            {
                notes.push(format!("{{{k}: {v}}}"));
            }
        }
        if let Some(n) = o.get("minItems").and_then(Value::as_u64)
            && n > 1
            && let Some(v) = o.remove("minItems")
        {
            notes.push(format!("{{minItems: {v}}}"));
        }
        if !notes.is_empty() {
            let mut d = o
                .get("description")
                .and_then(Value::as_str)
                .map(|d| format!("{d}\n\n"))
                .unwrap_or_default();
            d.push_str(&notes.join(", "));
            o.insert("description".into(), json!(d));
        }
        let is_object = o.get("type") == Some(&json!("object")) || o.contains_key("properties");
        if is_object {
            o.insert("additionalProperties".into(), json!(false));
        }
    });
    out
}

/// A schema as Gemini's `responseJsonSchema` / `parametersJsonSchema` take it.
pub(crate) fn for_gemini(schema: &Value) -> Value {
    let mut out = schema.clone();
    walk(&mut out, &mut |o| {
        o.remove("$schema");
        if let Some(c) = o.remove("const") {
            o.insert("enum".into(), json!([c]));
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_types_and_nullable_become_json_schema() {
        let g = json!({
            "type": "OBJECT",
            "propertyOrdering": ["a", "b"],
            "properties": {
                "a": {"type": "STRING", "nullable": true, "format": "enum", "enum": ["x", "y"]},
                "b": {"type": "ARRAY", "items": {"type": "INTEGER"}},
                "c": {"anyOf": [{"type": "NUMBER"}, {"type": "BOOLEAN"}], "nullable": true},
            },
            "required": ["a"],
        });
        assert_eq!(
            from_gemini(&g),
            json!({
                "type": "object",
                "properties": {
                    "a": {"type": ["string", "null"], "enum": ["x", "y", null]},
                    "b": {"type": "array", "items": {"type": "integer"}},
                    "c": {"anyOf": [{"anyOf": [{"type": "number"}, {"type": "boolean"}]}, {"type": "null"}]},
                },
                "required": ["a"],
            })
        );
        // Standard JSON Schema is left alone.
        let js = json!({"type": ["string", "null"], "minLength": 1});
        assert_eq!(from_gemini(&js), js);
    }

    #[test]
    fn strict_is_kept_only_for_schemas_openai_accepts() {
        let closed = json!({"type": "object", "properties": {"a": {"type": "string"}},
                            "required": ["a"], "additionalProperties": false});
        assert_eq!(openai_strict(&closed, Some(true)), Some(true));
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(openai_strict(&open, Some(true)), Some(false));
        let partial = json!({"type": "object", "properties": {"a": {}, "b": {}},
                             "required": ["a"], "additionalProperties": false});
        assert_eq!(openai_strict(&partial, Some(true)), Some(false));
        assert_eq!(openai_strict(&open, None), None);
    }

    #[test]
    fn anthropic_schemas_are_closed_and_lose_unsupported_constraints() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 1, "description": "count"},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "minItems": 1},
            },
        });
        assert_eq!(
            for_anthropic(&s),
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "n": {"type": "integer", "description": "count\n\n{minimum: 1}"},
                    "tags": {"type": "array", "minItems": 1,
                             "items": {"type": "string", "description": "{maxLength: 8}"}},
                },
            })
        );
    }

    #[test]
    fn gemini_schemas_lose_schema_uri_and_const() {
        let s = json!({"$schema": "x", "type": "object",
                       "properties": {"k": {"const": "v"}}});
        assert_eq!(
            for_gemini(&s),
            json!({"type": "object", "properties": {"k": {"enum": ["v"]}}})
        );
    }
}
