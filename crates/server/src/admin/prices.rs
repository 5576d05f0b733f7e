//! `/api/v1/prices`: the price table in use, loading a new one, and a model's price on a
//! provider (the table's, or the provider's own override).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use serde::Deserialize;
use switchboard_control::{ModelPrice, ModelPricing, PriceTableView};
use utoipa::IntoParams;

use super::{ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

/// The most bytes of a price file the admin API takes (the dataset is a few MB).
pub const PRICE_FILE_MAX: usize = 32 * 1024 * 1024;

#[utoipa::path(get, path = "/api/v1/prices", responses((status = 200, body = PriceTableView)))]
pub async fn price_table(State(s): St) -> ApiResult<PriceTableView> {
    Ok(Json(s.control.price_table().await?))
}

#[derive(Deserialize, IntoParams)]
pub struct PriceSource {
    /// Where the file came from, shown with the table (default `upload`).
    source: Option<String>,
}

/// Replaces the price table with a file in the dataset's format (LiteLLM's
/// `model_prices_and_context_window.json`). A file of the wrong shape is refused naming the
/// entry and field, and the old table stays.
#[utoipa::path(put, path = "/api/v1/prices", params(PriceSource), request_body(content = String, content_type = "application/json"), responses((status = 200, body = PriceTableView), (status = 400, body = ErrorBody)))]
pub async fn load_prices(
    State(s): St,
    Query(q): Query<PriceSource>,
    body: Bytes,
) -> ApiResult<PriceTableView> {
    let source = q.source.unwrap_or_else(|| "upload".to_owned());
    let source = switchboard_router::log::truncated(&source, 256);
    Ok(Json(s.control.load_prices(&body, &source).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct ModelRef {
    provider: String,
    /// The upstream model id (may contain `/`).
    model: String,
}

/// What a model costs on a provider, as requests are priced (USD per million tokens).
#[utoipa::path(get, path = "/api/v1/prices/model", params(ModelRef), responses((status = 200, body = ModelPricing), (status = 404, body = ErrorBody)))]
pub async fn model_price(State(s): St, Query(q): Query<ModelRef>) -> ApiResult<ModelPricing> {
    Ok(Json(s.control.model_pricing(&q.provider, &q.model).await?))
}

/// Sets the provider's own price for a model (every field `null`: back to the table's).
#[utoipa::path(put, path = "/api/v1/prices/model", params(ModelRef), request_body = ModelPrice, responses((status = 200, body = ModelPricing), (status = 400, body = ErrorBody)))]
pub async fn set_model_price(
    State(s): St,
    Query(q): Query<ModelRef>,
    Body400(price): Body400<ModelPrice>,
) -> ApiResult<ModelPricing> {
    Ok(Json(
        s.control
            .set_model_price(&q.provider, &q.model, price)
            .await?,
    ))
}
