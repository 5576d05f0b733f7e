//! The front of every connection. The generation routes AI tools call on every turn
//! (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`) are served here, behind the
//! same guard and refusal log as every other route (`refused::screen`); everything else goes
//! through axum's router. The router costs each request a boxed service and a boxed future
//! per layer and route, and hands what the guard found to the handler through the request's
//! extensions; these routes need none of that.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use futures_util::FutureExt;
use futures_util::future::Either;
use switchboard_protocol::Dialect;
use tower::ServiceExt;

use crate::ingress;
use crate::listener::Conn;
use crate::refused;
use crate::state::AppState;

/// Serves a connection's requests (`listener.rs` calls it for each).
#[derive(Clone)]
pub struct Front {
    state: Arc<AppState>,
    /// Every other route, with the guard and refusal log as its outermost layer.
    app: axum::Router,
}

impl Front {
    pub fn new(state: Arc<AppState>, app: axum::Router) -> Front {
        Front { state, app }
    }

    pub fn call(
        &self,
        conn: Conn,
        req: http::Request<hyper::body::Incoming>,
    ) -> impl Future<Output = Response> + Send + use<> {
        let mut req = req.map(Body::new);
        match generation_route(req.uri().path()) {
            Some(dialect) => {
                let state = self.state.clone();
                Either::Left(async move {
                    refused::screen(&state, Some(&conn), req, |req, checked| {
                        ingress::generation(state.clone(), dialect, req, checked)
                    })
                    .await
                })
            }
            None => {
                req.extensions_mut().insert(conn);
                Either::Right(self.app.clone().oneshot(req).map(|r| match r {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }))
            }
        }
    }
}

/// The routes served here, by path, and the dialect each speaks.
fn generation_route(path: &str) -> Option<Dialect> {
    match path {
        "/v1/chat/completions" => Some(Dialect::OpenaiChat),
        "/v1/responses" => Some(Dialect::OpenaiResponses),
        "/v1/messages" => Some(Dialect::Anthropic),
        _ => None,
    }
}
