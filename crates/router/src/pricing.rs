//! Model prices and limits: the bundled snapshot of a maintained public dataset (LiteLLM's
//! `model_prices_and_context_window.json`, MIT), refreshed from the same format, with
//! per-provider overrides on top (a provider's `models` entries). The one home of what a
//! request costs, what `cheapest` compares and which context window `/v1/models` shows.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;
use switchboard_protocol::Usage;
use utoipa::ToSchema;

use crate::model::{ModelInfo, Provider};

/// The bundled table (`data/model_prices.json`: one entry per line, only the fields
/// Switchboard reads), deflated by the build script: a sixteenth of the JSON's size.
const BUNDLED_DEFLATED: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/model_prices.json.deflate"));
/// Where the bundled table comes from and when it was taken.
pub const BUNDLED_SOURCE: &str = "LiteLLM model_prices_and_context_window.json (litellm 1.110.2)";
pub const BUNDLED_DATE: &str = "2026-12-06";

/// Prices in micro-dollars per million tokens (that is, pico-dollars per token): integers, so
/// the costs of many requests add up exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Price {
    pub input: u64,
    pub output: u64,
    /// Cached input read; `None`: priced as input.
    pub cache_read: Option<u64>,
    /// Input written to the cache; `None`: priced as input.
    pub cache_write: Option<u64>,
    /// Reasoning output where priced apart from output; `None`: priced as output.
    pub reasoning: Option<u64>,
}

/// USD per million tokens as given in a price override → micro-dollars per million tokens.
pub fn usd_per_million(usd: f64) -> u64 {
    (usd * 1e6).round() as u64
}

impl Price {
    /// What `usage` costs, in micro-dollars, rounded to the nearest one. Input counts
    /// cached reads and cache writes (the IR's convention); output counts reasoning.
    pub fn cost_micros(&self, u: &Usage) -> u64 {
        let uncached = u
            .prompt_tokens
            .saturating_sub(u.cached_tokens)
            .saturating_sub(u.cache_write_tokens);
        let plain_out = u.completion_tokens.saturating_sub(u.reasoning_tokens);
        let terms = [
            (uncached, self.input),
            (u.cached_tokens, self.cache_read.unwrap_or(self.input)),
            (u.cache_write_tokens, self.cache_write.unwrap_or(self.input)),
            (plain_out, self.output),
            (u.reasoning_tokens, self.reasoning.unwrap_or(self.output)),
        ];
        // Pico-dollars; u128 so no count × price can overflow.
        let pico: u128 = terms
            .iter()
            .map(|&(tokens, price)| u128::from(tokens) * u128::from(price))
            .sum();
        u64::try_from((pico + 500_000) / 1_000_000).unwrap_or(u64::MAX)
    }

    /// Input plus output per million tokens: what `cheapest` compares.
    pub fn sort_key(&self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// What the table knows of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct ModelCard {
    pub price: Option<Price>,
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
}

/// A price file that cannot be used, naming the entry and field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {field}: {message}")]
pub struct PriceFileError {
    pub entry: String,
    pub field: String,
    pub message: String,
}

impl PriceFileError {
    fn new(entry: &str, field: &str, message: impl Into<String>) -> Self {
        PriceFileError {
            entry: entry.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The model table, indexed for lookups by provider family and model. Kept compact (sorted
/// vectors, one allocation per entry) since the bundled one lives as long as the process.
#[derive(Debug, Default)]
pub struct PriceTable {
    /// Where the table came from (a file name, a URL, the bundled snapshot).
    pub source: String,
    /// One per dataset key (`gpt-4o`, `deepseek/deepseek-chat`), sorted by key.
    entries: Vec<Entry>,
    /// Provider families, sorted; an entry names its family by index.
    families: Vec<Box<str>>,
    /// Indices of the entries with a family, sorted by family, then model within it.
    by_family: Vec<u32>,
}

#[derive(Debug)]
struct Entry {
    key: Box<str>,
    /// Where the model starts in `key` once its family prefix (`deepseek/`) is left out.
    model_at: u16,
    /// Index in `families`; `NO_FAMILY` for none.
    family: u16,
    card: ModelCard,
}

const NO_FAMILY: u16 = u16::MAX;

impl Entry {
    fn model(&self) -> &str {
        self.key
            .get(usize::from(self.model_at)..)
            .unwrap_or(&self.key)
    }
}

/// Fields whose value is a token price in USD per token.
const PRICE_FIELDS: [&str; 5] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
];
/// Fields whose value is a token count.
const COUNT_FIELDS: [&str; 2] = ["max_input_tokens", "max_output_tokens"];
/// Modes whose entries are priced per token: text models and embeddings (priced by their
/// input tokens).
const TOKEN_MODES: [&str; 4] = ["chat", "responses", "completion", "embedding"];

/// The bundled table's JSON, inflated; empty (so unpriced routing) if it does not inflate,
/// which a test rules out.
fn bundled_json() -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec(BUNDLED_DEFLATED).unwrap_or_default()
}

impl PriceTable {
    /// The bundled snapshot, parsed once.
    pub fn bundled() -> Arc<PriceTable> {
        static TABLE: OnceLock<Arc<PriceTable>> = OnceLock::new();
        TABLE
            .get_or_init(|| {
                // The bundled file is checked by a test; a broken one routes unpriced.
                Arc::new(
                    PriceTable::parse(
                        &bundled_json(),
                        &format!("{BUNDLED_SOURCE}, {BUNDLED_DATE}"),
                    )
                    .unwrap_or_default(),
                )
            })
            .clone()
    }

    /// Reads a table in the dataset's format: one object of entries keyed by model, read one
    /// entry at a time (the whole document is never held as a tree). Entries of other modes
    /// (images, audio, …) and the format's `sample_spec` are skipped; an entry of the
    /// wrong shape refuses the whole file, naming it. A key given twice keeps its last entry.
    pub fn parse(bytes: &[u8], source: &str) -> Result<PriceTable, PriceFileError> {
        let mut read = Reader::default();
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let outcome =
            serde::Deserializer::deserialize_map(&mut de, &mut read).and_then(|()| de.end());
        if let Some(refused) = read.refused {
            return Err(refused);
        }
        outcome.map_err(|e| match e.classify() {
            serde_json::error::Category::Data => PriceFileError::new(
                "(file)",
                "(top level)",
                "expected an object of model entries",
            ),
            _ => PriceFileError::new("(file)", "(json)", e.to_string()),
        })?;
        Ok(read.finish(source))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn by_key(&self, key: &str) -> Option<&ModelCard> {
        let i = self.entries.binary_search_by(|e| (*e.key).cmp(key)).ok()?;
        Some(&self.entries[i].card)
    }

    fn in_family(&self, family: u16, model: &str) -> Option<&ModelCard> {
        let i = self
            .by_family
            .binary_search_by(|&i| {
                let e = &self.entries[i as usize];
                (e.family, e.model()).cmp(&(family, model))
            })
            .ok()?;
        Some(&self.entries[self.by_family[i] as usize].card)
    }

    /// What the table says of `model` served by `provider`: the provider's family first
    /// (`deepseek/deepseek-chat`), then the model's own entry (`gpt-4o`), then, for a
    /// vendor-prefixed id (`anthropic/claude-sonnet-4-5` on a gateway), the id after the
    /// prefix.
    pub fn card(&self, provider: &Provider, model: &str) -> Option<ModelCard> {
        let family = family_of(provider);
        let family = self
            .families
            .binary_search_by(|f| (**f).cmp(family))
            .ok()
            .and_then(|i| u16::try_from(i).ok());
        let exact = |m: &str| {
            family
                .and_then(|f| self.in_family(f, m))
                .or_else(|| self.by_key(m))
                .copied()
        };
        exact(model).or_else(|| {
            let (_, bare) = model.rsplit_once('/')?;
            exact(bare)
        })
    }
}

/// Reads the dataset's entries as they stream by, checking each.
#[derive(Default)]
struct Reader {
    entries: Vec<Checked>,
    refused: Option<PriceFileError>,
}

/// An entry that passed its checks.
struct Checked {
    key: Box<str>,
    family: Option<Box<str>>,
    card: ModelCard,
}

impl Reader {
    /// Checks one entry; `None` when it is skipped.
    fn entry(key: &str, entry: &Value) -> Result<Option<Checked>, PriceFileError> {
        if key == "sample_spec" {
            return Ok(None);
        }
        let Value::Object(e) = entry else {
            return Err(PriceFileError::new(key, "(entry)", "expected an object"));
        };
        let text = |f: &str| -> Result<Option<&str>, PriceFileError> {
            match e.get(f) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(PriceFileError::new(key, f, "expected a string")),
            }
        };
        if text("mode")?.is_some_and(|m| !TOKEN_MODES.contains(&m)) {
            return Ok(None);
        }
        let family = text("litellm_provider")?;
        let mut usd = [None; PRICE_FIELDS.len()];
        for (slot, f) in usd.iter_mut().zip(PRICE_FIELDS) {
            *slot = match e.get(f) {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_f64() {
                    Some(x) if (0.0..1.0).contains(&x) => Some(x),
                    _ => {
                        return Err(PriceFileError::new(
                            key,
                            f,
                            "expected a price in USD per token: a number from 0 to 1",
                        ));
                    }
                },
            };
        }
        let mut counts = [None; COUNT_FIELDS.len()];
        for (slot, f) in counts.iter_mut().zip(COUNT_FIELDS) {
            *slot = match e.get(f) {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_u64().or_else(|| {
                    v.as_f64()
                        .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 1e15)
                        .map(|x| x as u64)
                }) {
                    Some(n) => Some(n),
                    None => {
                        return Err(PriceFileError::new(
                            key,
                            f,
                            "expected a whole number of tokens",
                        ));
                    }
                },
            };
        }
        // Per token → per million tokens, in micro-dollars: × 10^12.
        let pico = |x: Option<f64>| x.map(|v| (v * 1e12).round() as u64);
        let [input, output, cache_read, cache_write, reasoning] = usd;
        let price = (input.is_some() || output.is_some()).then(|| Price {
            input: pico(input).unwrap_or(0),
            output: pico(output).unwrap_or(0),
            cache_read: pico(cache_read),
            cache_write: pico(cache_write),
            reasoning: pico(reasoning),
        });
        let card = ModelCard {
            price,
            context_window: counts[0],
            max_output: counts[1],
        };
        Ok(Some(Checked {
            key: key.into(),
            family: family.map(Box::from),
            card,
        }))
    }

    /// The table: entries sorted by key (the last of a repeated key kept), families indexed.
    fn finish(self, source: &str) -> PriceTable {
        let mut raw = self.entries;
        // Reversed, then sorted stably: of a repeated key the last read comes first and stays.
        raw.reverse();
        raw.sort_by(|a, b| a.key.cmp(&b.key));
        raw.dedup_by(|later, kept| later.key == kept.key);
        let mut families: Vec<Box<str>> = raw.iter().filter_map(|r| r.family.clone()).collect();
        families.sort();
        families.dedup();
        let entries: Vec<Entry> = raw
            .into_iter()
            .map(|Checked { key, family, card }| {
                let index = family.as_deref().and_then(|f| {
                    let i = families.binary_search_by(|x| (**x).cmp(f)).ok()?;
                    u16::try_from(i).ok().filter(|&i| i != NO_FAMILY)
                });
                let model_at = family
                    .as_deref()
                    .and_then(|f| key.strip_prefix(f)?.strip_prefix('/'))
                    .and_then(|m| u16::try_from(key.len() - m.len()).ok())
                    .unwrap_or(0);
                Entry {
                    key,
                    model_at,
                    family: index.unwrap_or(NO_FAMILY),
                    card,
                }
            })
            .collect();
        let mut by_family: Vec<u32> = (0..entries.len())
            .filter(|&i| entries[i].family != NO_FAMILY)
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        // Two keys of a family naming the same model (`deepseek-chat`,
        // `deepseek/deepseek-chat`): the greater key wins.
        let at = |i: &u32| &entries[*i as usize];
        by_family.sort_by(|a, b| {
            (at(a).family, at(a).model(), std::cmp::Reverse(&at(a).key)).cmp(&(
                at(b).family,
                at(b).model(),
                std::cmp::Reverse(&at(b).key),
            ))
        });
        by_family.dedup_by(|later, kept| {
            (at(later).family, at(later).model()) == (at(kept).family, at(kept).model())
        });
        PriceTable {
            source: source.to_owned(),
            entries,
            families,
            by_family,
        }
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Reader {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of model entries")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let entry: Value = map.next_value()?;
            match Reader::entry(&key, &entry) {
                Ok(None) => {}
                Ok(Some(checked)) => self.entries.push(checked),
                Err(refused) => {
                    self.refused = Some(refused);
                    return Err(serde::de::Error::custom("refused"));
                }
            }
        }
        Ok(())
    }
}

/// The dataset's provider name for a provider: from its API host, else its own name
/// (so a provider named `groq` or `mistral` finds its prices whatever its URL).
fn family_of(provider: &Provider) -> &str {
    const HOSTS: [(&str, &str); 14] = [
        ("api.openai.com", "openai"),
        ("api.anthropic.com", "anthropic"),
        ("generativelanguage.googleapis.com", "gemini"),
        ("api.deepseek.com", "deepseek"),
        ("openrouter.ai", "openrouter"),
        ("api.x.ai", "xai"),
        ("api.groq.com", "groq"),
        ("api.mistral.ai", "mistral"),
        ("api.together.xyz", "together_ai"),
        ("api.fireworks.ai", "fireworks_ai"),
        ("api.moonshot.ai", "moonshot"),
        ("api.cerebras.ai", "cerebras"),
        ("api.perplexity.ai", "perplexity"),
        ("dashscope.aliyuncs.com", "dashscope"),
    ];
    let host = provider
        .base_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or("");
    HOSTS
        .iter()
        .find(|(h, _)| {
            host.strip_suffix(h)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        })
        .map_or(provider.name.as_str(), |(_, f)| f)
}

/// A provider's own price for `model` (its `models` entry), as overrides of the table's.
fn overridden(info: &ModelInfo, base: Option<Price>) -> Option<Price> {
    if !info.has_price() {
        return base;
    }
    let base = base.unwrap_or_default();
    let per_m = |v: Option<f64>| v.map(usd_per_million);
    Some(Price {
        input: per_m(info.input_price).unwrap_or(base.input),
        output: per_m(info.output_price).unwrap_or(base.output),
        cache_read: per_m(info.cache_read_price).or(base.cache_read),
        cache_write: per_m(info.cache_write_price).or(base.cache_write),
        reasoning: per_m(info.reasoning_price).or(base.reasoning),
    })
}

/// What is known of `model` on `provider`: the provider's own entry over the table's.
pub fn model_card(table: &PriceTable, provider: &Provider, model: &str) -> ModelCard {
    let base = table.card(provider, model).unwrap_or_default();
    match provider.models.iter().find(|m| m.id == model) {
        None => base,
        Some(info) => ModelCard {
            price: overridden(info, base.price),
            context_window: info.context_window.or(base.context_window),
            max_output: base.max_output,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSource;

    fn provider(name: &str, base_url: &str) -> Provider {
        serde_json::from_value(serde_json::json!({
            "name": name, "kind": "openai_chat", "base_url": base_url,
        }))
        .unwrap()
    }

    #[test]
    fn the_bundled_table_parses_and_prices_known_models() {
        let json = bundled_json();
        assert_eq!(
            json,
            include_bytes!("../data/model_prices.json"),
            "the embedded table inflates to the data file"
        );
        let t = PriceTable::parse(&json, "bundled").unwrap();
        assert!(t.len() > 1000, "{}", t.len());
        let ds = provider("ds", "https://api.deepseek.com/v1");
        let card = t.card(&ds, "deepseek-chat").unwrap();
        assert!(card.price.unwrap().input > 0);
        assert!(card.context_window.unwrap() >= 64_000);
        let anthropic = provider("claude", "https://api.anthropic.com/v1");
        let p = t
            .card(&anthropic, "claude-sonnet-4-5")
            .unwrap()
            .price
            .unwrap();
        assert!(p.cache_read.unwrap() < p.input && p.cache_write.unwrap() > p.input);
        // A gateway's vendor-prefixed id falls back to the model's own entry.
        let gw = provider("gw", "https://gateway.example/v1");
        assert_eq!(
            t.card(&gw, "openai/gpt-4o").unwrap(),
            t.card(&gw, "gpt-4o").unwrap()
        );
        assert!(PriceTable::bundled().len() == t.len());
    }

    #[test]
    fn cost_prices_cached_written_and_reasoning_tokens_apart() {
        let p = Price {
            input: 3_000_000,
            output: 15_000_000,
            cache_read: Some(300_000),
            cache_write: Some(3_750_000),
            reasoning: None,
        };
        let u = Usage {
            prompt_tokens: 10_000,
            completion_tokens: 2_000,
            cached_tokens: 6_000,
            cache_write_tokens: 1_000,
            reasoning_tokens: 500,
        };
        // 3,000 × 3 + 6,000 × 0.3 + 1,000 × 3.75 + 2,000 × 15 (µ$ per token, ÷ 1e6 of $/M)
        assert_eq!(p.cost_micros(&u), 9_000 + 1_800 + 3_750 + 30_000);
        // Rounded to the nearest micro-dollar.
        let tiny = Price {
            input: 280_000,
            ..Price::default()
        };
        let one = |n| Usage {
            prompt_tokens: n,
            ..Usage::default()
        };
        assert_eq!(tiny.cost_micros(&one(1)), 0);
        assert_eq!(tiny.cost_micros(&one(2)), 1);
        assert_eq!(tiny.cost_micros(&one(100)), 28);
    }

    #[test]
    fn a_provider_override_wins_field_by_field() {
        let t = PriceTable::parse(
            br#"{"m":{"litellm_provider":"acme","mode":"chat","input_cost_per_token":1e-06,
                "output_cost_per_token":2e-06,"cache_read_input_token_cost":1e-07,"max_input_tokens":1000}}"#,
            "test",
        )
        .unwrap();
        let mut p = provider("acme", "https://acme.example/v1");
        assert_eq!(model_card(&t, &p, "m").price.unwrap().input, 1_000_000);
        p.models.push(ModelInfo {
            id: "m".into(),
            context_window: None,
            source: ModelSource::Manual,
            input_price: Some(0.5),
            output_price: None,
            cache_read_price: None,
            cache_write_price: None,
            reasoning_price: None,
        });
        let card = model_card(&t, &p, "m");
        let price = card.price.unwrap();
        assert_eq!(price.input, 500_000);
        assert_eq!(price.output, 2_000_000);
        assert_eq!(price.cache_read, Some(100_000));
        assert_eq!(card.context_window, Some(1000));
        // Another provider serving the same id has its own entry or none.
        let other = provider("other", "https://other.example/v1");
        assert_eq!(model_card(&t, &other, "m").price.unwrap().input, 1_000_000);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_entry_and_a_family_prefers_the_greater_key() {
        let t = PriceTable::parse(
            br#"{"acme/x":{"litellm_provider":"acme","input_cost_per_token":1e-06},
                "x":{"litellm_provider":"acme","input_cost_per_token":2e-06},
                "y":{"input_cost_per_token":1e-06},"y":{"input_cost_per_token":3e-06}}"#,
            "test",
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        let acme = provider("acme", "https://acme.example/v1");
        let input = |p: &Provider, m: &str| t.card(p, m).and_then(|c| c.price).map(|p| p.input);
        assert_eq!(input(&acme, "x"), Some(2_000_000));
        assert_eq!(input(&acme, "acme/x"), Some(1_000_000));
        assert_eq!(input(&acme, "y"), Some(3_000_000));
        assert_eq!(input(&acme, "z"), None);
    }

    #[test]
    fn a_file_of_the_wrong_shape_names_the_entry_and_field() {
        let err = PriceTable::parse(b"[1,2]", "x").unwrap_err();
        assert_eq!(err.field, "(top level)");
        let err = PriceTable::parse(
            br#"{"ok":{"input_cost_per_token":1e-6},"bad":{"mode":"chat","output_cost_per_token":"cheap"}}"#,
            "x",
        )
        .unwrap_err();
        assert_eq!(
            (err.entry.as_str(), err.field.as_str()),
            ("bad", "output_cost_per_token")
        );
        let err = PriceTable::parse(br#"{"m":{"max_input_tokens":-5}}"#, "x").unwrap_err();
        assert_eq!(err.field, "max_input_tokens");
        // Other modes and the format's own sample entry are skipped, not refused.
        let t = PriceTable::parse(
            br#"{"sample_spec":{"input_cost_per_token":"per token"},
                "img":{"mode":"image_generation","input_cost_per_token":"n/a"}}"#,
            "x",
        )
        .unwrap();
        assert!(t.is_empty());
        // Embedding models are priced by their input tokens.
        let t = PriceTable::parse(
            br#"{"text-embedding-3-small":{"mode":"embedding","litellm_provider":"openai","input_cost_per_token":2e-08}}"#,
            "x",
        )
        .unwrap();
        assert_eq!(
            t.by_key("text-embedding-3-small")
                .and_then(|c| c.price)
                .map(|p| p.input),
            Some(20_000)
        );
    }
}
