//! Format-preserving editors for the config formats tools use. Each one reads, sets and
//! removes a value at a key path and leaves every other byte of the file as it was.

mod dotenv;
mod jsonc;
mod toml;
mod yaml;
mod yaml_item;

use serde_json::Value;

/// Which editor a file needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Format {
    Toml,
    /// JSON, with comments and trailing commas accepted and kept.
    Jsonc,
    /// Flat YAML: top-level `key: scalar` lines (Aider).
    FlatYaml,
    /// `KEY=value` lines.
    Dotenv,
    /// One item of a top-level YAML block list, owned whole (Continue's `models:`).
    YamlListItem,
}

#[derive(Debug)]
pub(crate) enum EditError {
    /// Not valid in this format, at a byte offset.
    Syntax { offset: usize, message: String },
    /// Valid, but not a shape we edit.
    Shape(String),
}

impl Format {
    /// Parses the whole file, so a broken file is refused before anything is written.
    pub(crate) fn check(self, text: &str) -> Result<(), EditError> {
        match self {
            Format::Toml => toml::check(text),
            Format::Jsonc => jsonc::check(text),
            Format::FlatYaml => yaml::check(text),
            Format::Dotenv => dotenv::check(text),
            Format::YamlListItem => yaml_item::check(text),
        }
    }

    pub(crate) fn get(self, text: &str, path: &[String]) -> Result<Option<Value>, EditError> {
        match self {
            Format::Toml => toml::get(text, path),
            Format::Jsonc => jsonc::get(text, path),
            Format::FlatYaml => yaml::get(text, single(path)?),
            Format::Dotenv => dotenv::get(text, single(path)?),
            Format::YamlListItem => yaml_item::get(text, path),
        }
    }

    pub(crate) fn set(
        self,
        text: &str,
        path: &[String],
        value: &Value,
    ) -> Result<String, EditError> {
        let out = match self {
            Format::Toml => toml::set(text, path, value)?,
            Format::Jsonc => jsonc::set(text, path, value)?,
            Format::FlatYaml => yaml::set(text, single(path)?, scalar(value)?)?,
            Format::Dotenv => dotenv::set(text, single(path)?, scalar(value)?)?,
            Format::YamlListItem => yaml_item::set(text, path, value)?,
        };
        Ok(Text::keep_layout(text, out))
    }

    pub(crate) fn remove(self, text: &str, path: &[String]) -> Result<String, EditError> {
        let out = match self {
            Format::Toml => toml::remove(text, path)?,
            Format::Jsonc => jsonc::remove(text, path)?,
            Format::FlatYaml => yaml::remove(text, single(path)?)?,
            Format::Dotenv => dotenv::remove(text, single(path)?)?,
            Format::YamlListItem => yaml_item::remove(text, path)?,
        };
        Ok(Text::keep_layout(text, out))
    }
}

fn single(path: &[String]) -> Result<&str, EditError> {
    match path {
        [key] => Ok(key),
        _ => Err(EditError::Shape(
            "nested keys are not supported in this format".into(),
        )),
    }
}

fn scalar(value: &Value) -> Result<&str, EditError> {
    value
        .as_str()
        .ok_or_else(|| EditError::Shape("only string values are supported in this format".into()))
}

/// Line-ending and final-newline conventions of a file.
pub(crate) struct Text;

impl Text {
    /// `\r\n` when the file uses it, else `\n`.
    pub(crate) fn newline_of(text: &str) -> &'static str {
        if text.contains("\r\n") { "\r\n" } else { "\n" }
    }

    /// Whether every line break in the file is `\r\n`.
    fn crlf_only(text: &str) -> bool {
        text.contains("\r\n") && text.matches('\n').count() == text.matches("\r\n").count()
    }

    /// Makes an edit's output follow the original's conventions: CRLF everywhere when the
    /// original used CRLF only, and no final newline when the original had none.
    fn keep_layout(original: &str, mut out: String) -> String {
        if Self::crlf_only(original) && !Self::crlf_only(&out) {
            let mut fixed = String::with_capacity(out.len() + 16);
            let mut prev = '\0';
            for c in out.chars() {
                if c == '\n' && prev != '\r' {
                    fixed.push('\r');
                }
                fixed.push(c);
                prev = c;
            }
            out = fixed;
        }
        let had_final = original.is_empty() || original.ends_with('\n');
        if !had_final {
            while out.ends_with('\n') {
                out.pop();
                if out.ends_with('\r') {
                    out.pop();
                }
            }
        }
        out
    }

    /// 1-based line and column of a byte offset.
    pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}
