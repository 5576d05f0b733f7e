//! Structured output: what each dialect's request asks for, whether the schema came in the
//! form that dialect's provider takes, and a minimal JSON value that fits it.
//!
//! | Dialect | Request | Schema form checked |
//! |---|---|---|
//! | OpenAI Chat | `response_format` `json_schema` / `json_object` | JSON Schema; with `strict: true` every object closed and fully required |
//! | OpenAI Responses | `text.format` `json_schema` / `json_object` | as Chat |
//! | Anthropic | `output_config.format` (or beta `output_format`) `json_schema`; a forced tool (`tool_choice: {type: "tool"}`) | JSON Schema; objects closed, no numeric, length, `maxItems` or property-count constraints |
//! | Gemini | `generationConfig.responseMimeType: "application/json"` with `responseJsonSchema` or `responseSchema` | JSON Schema, or Gemini's upper-case OpenAPI subset in `responseSchema` |
//!
//! Tool declarations are held to the same forms ([`tools_problem`]): Chat and Responses
//! `parameters` (strict rules when the tool is strict), Anthropic `input_schema`, Gemini
//! `parametersJsonSchema` (JSON Schema) or `parameters` (Gemini's subset).
//!
//! A schema in the wrong form is answered with 400, as the provider would. Otherwise the
//! answer text is [`instance`] of the schema (or a small object for "any JSON object"); a
//! forced Anthropic tool is called with an instance of its `input_schema`.

use serde_json::{Map, Value, json};

use crate::dialect::Dialect;

/// What a request asks the answer to be.
#[derive(Debug, Default, Clone)]
pub(crate) struct Structured {
    /// The schema the answer must fit; `None` for any JSON object.
    pub schema: Option<Value>,
    /// The answer is a call to this tool, whose input fits `schema` (Anthropic forced tool).
    pub tool: Option<String>,
    /// Why the provider would reject the request.
    pub problem: Option<String>,
}

impl Structured {
    fn json_schema(schema: &Value, strict: bool, rules: Rules) -> Structured {
        Structured {
            problem: check(schema, strict, rules).err(),
            schema: Some(schema.clone()),
            tool: None,
        }
    }

    fn any_object() -> Structured {
        Structured::default()
    }

    /// The answer text: JSON fitting the schema.
    pub fn answer(&self, model: &str) -> String {
        match &self.schema {
            Some(s) => instance(s, s, 0).to_string(),
            None => json!({ "answer": format!("Hello from mock model {model}.") }).to_string(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// JSON Schema as OpenAI takes it.
    OpenAi,
    /// JSON Schema within Anthropic's structured-output limits.
    Anthropic,
    /// Plain JSON Schema (Gemini `responseJsonSchema` and `parametersJsonSchema`, Anthropic
    /// tool `input_schema`).
    JsonSchema,
    /// Gemini's OpenAPI subset (`responseSchema`): upper-case types allowed.
    GeminiOpenApi,
}

pub(crate) fn from_chat(v: &Value) -> Option<Structured> {
    let rf = &v["response_format"];
    match rf["type"].as_str()? {
        "json_object" => Some(Structured::any_object()),
        "json_schema" => Some(Structured::json_schema(
            &rf["json_schema"]["schema"],
            rf["json_schema"]["strict"] == true,
            Rules::OpenAi,
        )),
        _ => None,
    }
}

pub(crate) fn from_responses(v: &Value) -> Option<Structured> {
    let f = &v["text"]["format"];
    match f["type"].as_str()? {
        "json_object" => Some(Structured::any_object()),
        "json_schema" => Some(Structured::json_schema(
            &f["schema"],
            f["strict"] == true,
            Rules::OpenAi,
        )),
        _ => None,
    }
}

pub(crate) fn from_anthropic(v: &Value) -> Option<Structured> {
    let format = [&v["output_config"]["format"], &v["output_format"]]
        .into_iter()
        .find(|f| f["type"] == "json_schema");
    if let Some(f) = format {
        return Some(Structured::json_schema(
            &f["schema"],
            false,
            Rules::Anthropic,
        ));
    }
    let choice = &v["tool_choice"];
    let name = choice["name"]
        .as_str()
        .filter(|_| choice["type"] == "tool")?;
    let tool = v["tools"].as_array()?.iter().find(|t| t["name"] == name)?;
    Some(Structured {
        schema: Some(tool["input_schema"].clone()),
        tool: Some(name.to_owned()),
        problem: None,
    })
}

pub(crate) fn from_gemini(v: &Value) -> Option<Structured> {
    let gc = [&v["generationConfig"], &v["generation_config"]]
        .into_iter()
        .find(|g| g.is_object())?;
    let mime = [&gc["responseMimeType"], &gc["response_mime_type"]]
        .into_iter()
        .find_map(Value::as_str);
    if mime != Some("application/json") {
        return None;
    }
    let pick = |a: &str, b: &str| {
        [&gc[a], &gc[b]]
            .into_iter()
            .find(|s| s.is_object())
            .cloned()
    };
    if let Some(s) = pick("responseJsonSchema", "response_json_schema") {
        return Some(Structured::json_schema(&s, false, Rules::JsonSchema));
    }
    if let Some(s) = pick("responseSchema", "response_schema") {
        return Some(Structured::json_schema(&s, false, Rules::GeminiOpenApi));
    }
    Some(Structured::any_object())
}

/// Why the provider would reject one of the request's tool declarations.
pub(crate) fn tools_problem(dialect: Dialect, v: &Value) -> Option<String> {
    let tools = v["tools"].as_array()?;
    let mut schemas: Vec<(&Value, bool, Rules)> = Vec::new();
    for t in tools {
        match dialect {
            Dialect::OpenAiChat => {
                let f = &t["function"];
                schemas.push((&f["parameters"], f["strict"] == true, Rules::OpenAi));
            }
            Dialect::OpenAiResponses => {
                schemas.push((&t["parameters"], t["strict"] == true, Rules::OpenAi));
            }
            Dialect::Anthropic => schemas.push((&t["input_schema"], false, Rules::JsonSchema)),
            Dialect::Gemini => {
                let decls = [&t["functionDeclarations"], &t["function_declarations"]];
                for d in decls.into_iter().filter_map(Value::as_array).flatten() {
                    for (k, rules) in [
                        ("parametersJsonSchema", Rules::JsonSchema),
                        ("parameters_json_schema", Rules::JsonSchema),
                        ("parameters", Rules::GeminiOpenApi),
                    ] {
                        schemas.push((&d[k], false, rules));
                    }
                }
            }
        }
    }
    schemas
        .into_iter()
        .filter(|(s, ..)| s.is_object())
        .find_map(|(s, strict, rules)| check(s, strict, rules).err())
        .map(|e| format!("Invalid tool declaration: {e}"))
}

const JSON_TYPES: [&str; 7] = [
    "object", "array", "string", "number", "integer", "boolean", "null",
];
const ANTHROPIC_UNSUPPORTED: [&str; 10] = [
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
];

/// Whether `schema` is in the form the dialect's provider takes.
fn check(schema: &Value, strict: bool, rules: Rules) -> Result<(), String> {
    let o = schema
        .as_object()
        .ok_or_else(|| "The response schema must be an object.".to_owned())?;
    let types: Vec<&str> = match o.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) if rules != Rules::GeminiOpenApi => {
            a.iter().filter_map(Value::as_str).collect()
        }
        Some(other) => return Err(format!("Invalid schema type {other}.")),
        None => vec![],
    };
    for t in &types {
        let known = match rules {
            Rules::GeminiOpenApi => JSON_TYPES.contains(&t.to_ascii_lowercase().as_str()),
            _ => JSON_TYPES.contains(t),
        };
        if !known {
            return Err(format!(
                "Invalid schema type \"{t}\": not a JSON Schema type."
            ));
        }
    }
    if rules != Rules::GeminiOpenApi {
        for k in ["nullable", "propertyOrdering"] {
            if o.contains_key(k) {
                return Err(format!("Unknown schema keyword \"{k}\"."));
            }
        }
    }
    let is_object =
        types.iter().any(|t| t.eq_ignore_ascii_case("object")) || o.contains_key("properties");
    if rules == Rules::Anthropic {
        if let Some(k) = ANTHROPIC_UNSUPPORTED.iter().find(|k| o.contains_key(**k)) {
            return Err(format!("Schema keyword \"{k}\" is not supported."));
        }
        if o.get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 1)
        {
            return Err("minItems above 1 is not supported.".to_owned());
        }
        if is_object && o.get("additionalProperties") != Some(&json!(false)) {
            return Err(
                "For 'object' type, 'additionalProperties' must be explicitly set to false."
                    .to_owned(),
            );
        }
    }
    if strict && is_object {
        if o.get("additionalProperties") != Some(&json!(false)) {
            return Err("Invalid schema: 'additionalProperties' is required to be supplied and to be false.".to_owned());
        }
        let required: Vec<&str> = o
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(missing) = properties(o)
            .keys()
            .find(|k| !required.contains(&k.as_str()))
        {
            return Err(format!(
                "Invalid schema: 'required' must list every property; missing \"{missing}\"."
            ));
        }
    }
    for sub in subschemas(o) {
        check(sub, strict, rules)?;
    }
    Ok(())
}

fn properties(o: &Map<String, Value>) -> Map<String, Value> {
    o.get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn subschemas(o: &Map<String, Value>) -> Vec<&Value> {
    let mut out = Vec::new();
    for k in ["items", "not"] {
        out.extend(o.get(k).filter(|v| v.is_object()));
    }
    if let Some(a @ Value::Object(_)) = o.get("additionalProperties") {
        out.push(a);
    }
    for k in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        out.extend(o.get(k).and_then(Value::as_array).into_iter().flatten());
    }
    for k in ["properties", "$defs", "definitions"] {
        out.extend(
            o.get(k)
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values()),
        );
    }
    out
}

/// A small value that fits `schema` (`root` resolves local `$ref`s). Every property is
/// filled, arrays hold one item (or `minItems`), nullable types get a non-null value.
pub(crate) fn instance(schema: &Value, root: &Value, depth: usize) -> Value {
    let Some(o) = schema.as_object().filter(|_| depth < 16) else {
        return Value::Null;
    };
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        let target = r.strip_prefix('#').and_then(|p| root.pointer(p));
        return target.map_or(Value::Null, |t| instance(t, root, depth + 1));
    }
    if let Some(c) = o.get("const") {
        return c.clone();
    }
    if let Some(first) = o
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for k in ["anyOf", "oneOf"] {
        if let Some(first) = o.get(k).and_then(Value::as_array).and_then(|a| a.first()) {
            return instance(first, root, depth + 1);
        }
    }
    if let Some(all) = o.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for s in all {
            if let Value::Object(m) = instance(s, root, depth + 1) {
                merged.extend(m);
            }
        }
        return Value::Object(merged);
    }
    let ty = match o.get("type") {
        Some(Value::String(t)) => t.to_ascii_lowercase(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if o.contains_key("properties") => "object".to_owned(),
        _ => "string".to_owned(),
    };
    let num = |k: &str| o.get(k).and_then(Value::as_f64);
    match ty.as_str() {
        "object" => Value::Object(
            properties(o)
                .iter()
                .map(|(k, s)| (k.clone(), instance(s, root, depth + 1)))
                .collect(),
        ),
        "array" => {
            let n = o
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            let n = o
                .get("maxItems")
                .and_then(Value::as_u64)
                .map_or(n, |m| n.min(m));
            let item = o
                .get("items")
                .map_or(json!("mock"), |s| instance(s, root, depth + 1));
            Value::Array((0..n).map(|_| item.clone()).collect())
        }
        "integer" | "number" => {
            let low = num("minimum")
                .or_else(|| num("exclusiveMinimum").map(|m| m + 1.0))
                .unwrap_or(0.0);
            json!(low.ceil() as i64)
        }
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => {
            let base = match o.get("format").and_then(Value::as_str) {
                Some("date-time") => "2026-01-01T00:00:00Z",
                Some("date") => "2026-01-01",
                Some("time") => "00:00:00",
                Some("email") => "mock@example.com",
                Some("uri") => "https://example.com/",
                Some("uuid") => "00000000-0000-4000-8000-000000000000",
                _ => "mock",
            };
            let min = o.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            let mut s = base.to_owned();
            while s.chars().count() < min {
                s.push('x');
            }
            json!(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 6},
                "age": {"type": "integer", "minimum": 3},
                "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
                "nickname": {"type": ["null", "string"]},
                "kind": {"enum": ["a", "b"]},
            },
            "$defs": {"tag": {"type": "string", "format": "date"}},
            "required": ["name", "age", "tags", "nickname", "kind"],
            "additionalProperties": false,
        })
    }

    #[test]
    fn instances_fit_their_schema() {
        let s = person();
        assert_eq!(
            instance(&s, &s, 0),
            json!({"name": "mockxx", "age": 3, "tags": ["2026-01-01"], "nickname": "mock", "kind": "a"})
        );
        let g = json!({"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}});
        assert_eq!(instance(&g, &g, 0), json!({"n": 0}));
    }

    #[test]
    fn schemas_are_checked_in_each_dialects_form() {
        let s = person();
        assert_eq!(check(&s, true, Rules::OpenAi), Ok(()));
        assert!(
            check(&s, false, Rules::Anthropic)
                .unwrap_err()
                .contains("is not supported")
        );
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert!(check(&open, true, Rules::OpenAi).is_err());
        assert_eq!(check(&open, false, Rules::OpenAi), Ok(()));
        assert!(check(&open, false, Rules::Anthropic).is_err());
        let gemini =
            json!({"type": "OBJECT", "properties": {"a": {"type": "STRING", "nullable": true}}});
        assert_eq!(check(&gemini, false, Rules::GeminiOpenApi), Ok(()));
        for rules in [Rules::OpenAi, Rules::JsonSchema] {
            assert!(check(&gemini, false, rules).unwrap_err().contains("OBJECT"));
        }
        let nullable = json!({"type": "string", "nullable": true});
        assert!(
            check(&nullable, false, Rules::OpenAi)
                .unwrap_err()
                .contains("nullable")
        );
    }

    #[test]
    fn tool_declarations_are_checked_in_each_dialects_form() {
        let upper = json!({"type": "OBJECT", "properties": {"city": {"type": "STRING"}}});
        let chat = json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": upper}}]});
        assert!(
            tools_problem(Dialect::OpenAiChat, &chat)
                .unwrap()
                .contains("OBJECT")
        );
        let gemini =
            json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": upper}]}]});
        assert_eq!(tools_problem(Dialect::Gemini, &gemini), None);
        let gemini = json!({"tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": upper}]}]});
        assert!(tools_problem(Dialect::Gemini, &gemini).is_some());
        let open = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let strict = json!({"tools": [{"type": "function", "name": "f", "parameters": open, "strict": true}]});
        assert!(tools_problem(Dialect::OpenAiResponses, &strict).is_some());
        let anthropic = json!({"tools": [{"name": "f", "input_schema": open}, {"type": "web_search_20250305", "name": "web_search"}]});
        assert_eq!(tools_problem(Dialect::Anthropic, &anthropic), None);
    }
}
