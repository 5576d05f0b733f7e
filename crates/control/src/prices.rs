//! Prices: which table is in use, loading a new one, what a model costs on a provider, and a
//! provider's own price for one of its models (an override of the table).

use serde::{Deserialize, Serialize};
use switchboard_router::model::{ModelInfo, ModelSource};
use switchboard_router::pricing::{self, ModelCard, PriceTable};
use switchboard_store::PriceTableInfo;
use utoipa::ToSchema;

use crate::{Control, ControlError};

/// Prices in USD per million tokens (`null`: not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelPrice {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub reasoning: Option<f64>,
}

impl ModelPrice {
    fn of_card(card: &ModelCard) -> ModelPrice {
        let usd = |v: u64| v as f64 / 1e6;
        card.price.map_or_else(ModelPrice::default, |p| ModelPrice {
            input: Some(usd(p.input)),
            output: Some(usd(p.output)),
            cache_read: p.cache_read.map(usd),
            cache_write: p.cache_write.map(usd),
            reasoning: p.reasoning.map(usd),
        })
    }

    fn validate(&self) -> Result<(), ControlError> {
        let fields = [
            ("input", self.input),
            ("output", self.output),
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("reasoning", self.reasoning),
        ];
        for (name, v) in fields {
            if let Some(v) = v
                && !(v.is_finite() && (0.0..=1e6).contains(&v))
            {
                return Err(ControlError::invalid(
                    name,
                    "a price in USD per million tokens, from 0 to 1,000,000",
                ));
            }
        }
        Ok(())
    }
}

/// What is known of a model on a provider, prices in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelPricing {
    pub provider: String,
    pub model: String,
    pub price: ModelPrice,
    /// Whether the provider's own entry sets a price (else it comes from the table).
    pub overridden: bool,
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
}

/// The table in use.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PriceTableView {
    pub source: String,
    /// When it was loaded (Unix ms); `null` for the bundled table.
    pub loaded_at_ms: Option<i64>,
    pub models: usize,
    /// The date of the bundled snapshot.
    pub bundled_date: String,
}

impl From<PriceTableInfo> for PriceTableView {
    fn from(i: PriceTableInfo) -> Self {
        PriceTableView {
            source: i.source,
            loaded_at_ms: i.loaded_at_ms,
            models: i.models,
            bundled_date: pricing::BUNDLED_DATE.to_owned(),
        }
    }
}

impl Control {
    pub async fn price_table(&self) -> Result<PriceTableView, ControlError> {
        Ok(self.store.price_table_info().await?.into())
    }

    /// Makes `body` (the dataset's format) the table in use. A file of the wrong shape is
    /// refused naming the entry and field, and the old table stays.
    pub async fn load_prices(
        &self,
        body: &[u8],
        source: &str,
    ) -> Result<PriceTableView, ControlError> {
        PriceTable::parse(body, source)
            .map_err(|e| ControlError::invalid(format!("{} → {}", e.entry, e.field), e.message))?;
        let info = self
            .edit(async |store| store.save_price_table(body, source).await)
            .await?;
        Ok(info.into())
    }

    /// What `model` costs on `provider` and its limits, as requests are priced.
    pub async fn model_pricing(
        &self,
        provider: &str,
        model: &str,
    ) -> Result<ModelPricing, ControlError> {
        let p = self.provider(provider).await?;
        let table = self.store.price_table().await?;
        let card = pricing::model_card(&table, &p, model);
        let overridden = p.models.iter().any(|m| m.id == model && m.has_price());
        Ok(ModelPricing {
            provider: p.name,
            model: model.to_owned(),
            price: ModelPrice::of_card(&card),
            overridden,
            context_window: card.context_window,
            max_output: card.max_output,
        })
    }

    /// Sets (or, with every field `null`, clears) `provider`'s own price for `model`; the
    /// model entry is kept across model discovery.
    pub async fn set_model_price(
        &self,
        provider: &str,
        model: &str,
        price: ModelPrice,
    ) -> Result<ModelPricing, ControlError> {
        price.validate()?;
        if model.trim().is_empty() {
            return Err(ControlError::invalid("model", "must not be empty"));
        }
        self.edit(async |store| {
            let mut p = store
                .get_provider(provider)
                .await?
                .ok_or_else(|| ControlError::not_found(format!("provider `{provider}`")))?;
            if !p.models.iter().any(|m| m.id == model) {
                p.models.push(ModelInfo {
                    id: model.to_owned(),
                    context_window: None,
                    source: ModelSource::Manual,
                    input_price: None,
                    output_price: None,
                    cache_read_price: None,
                    cache_write_price: None,
                    reasoning_price: None,
                });
            }
            for entry in p.models.iter_mut().filter(|m| m.id == model) {
                entry.source = ModelSource::Manual;
                entry.input_price = price.input;
                entry.output_price = price.output;
                entry.cache_read_price = price.cache_read;
                entry.cache_write_price = price.cache_write;
                entry.reasoning_price = price.reasoning;
            }
            store.upsert_provider(&p).await?;
            Ok::<_, ControlError>(())
        })
        .await?;
        self.model_pricing(provider, model).await
    }
}
