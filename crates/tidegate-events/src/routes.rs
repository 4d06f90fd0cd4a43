//! The HTTP face of events, as an axum router any app can merge (the gateway does):
//!
//! - `POST /webhooks/{connector}/{account_id}` and `POST /webhooks/{connector}` — the inbound
//!   pipeline ([`crate::inbound`]): 202 `{ "event_id" }` when queued, 200 `{ "duplicate": true }`
//!   for a duplicate, 401 `invalid_signature`, 404 `unknown_connector` / `unknown_account`,
//!   413 `payload_too_large` (problem+json, CONTRACT §4);
//! - `GET /claims/{id}?token=...` — the claim check: 200 with the payload once, then 410; 401
//!   without a valid token. The token alone authorizes (no API key), like a presigned URL.
//!
//! ```no_run
//! # fn wire(handles: tidegate_events::routes::WebhookHandles) {
//! let app: axum::Router = axum::Router::new().merge(tidegate_events::routes::router(handles));
//! # }
//! ```

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, Request, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tidegate_core::{ErrorCode, Problem};

use crate::{
    claim::{ClaimCheck, ClaimError},
    inbound::{Inbound, InboundError, InboundOutcome},
};

/// What the routes need. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WebhookHandles {
    /// The inbound pipeline.
    pub inbound: Arc<Inbound>,
    /// The claim-check store (absent: `/claims` answers 404).
    pub claims: Option<ClaimCheck>,
    /// `server.public_url` (or `http://{listen}`), without a trailing slash: HubSpot v2/v3
    /// sign the absolute URL they called.
    pub public_base: Arc<str>,
}

/// The routes, with their own state, mergeable into a router of any state type.
pub fn router<S: Clone + Send + Sync + 'static>(handles: WebhookHandles) -> Router<S> {
    Router::new()
        .route("/webhooks/{connector}", post(webhook_without_account))
        .route(
            "/webhooks/{connector}/{account_id}",
            post(webhook_with_account),
        )
        .route("/claims/{id}", get(claim))
        .with_state(handles)
}

fn problem(p: Problem) -> Response {
    p.into_response().map(Body::new)
}

async fn webhook_with_account(
    State(h): State<WebhookHandles>,
    Path((connector, account)): Path<(String, String)>,
    req: Request,
) -> Response {
    webhook(h, connector, Some(account), req).await
}

async fn webhook_without_account(
    State(h): State<WebhookHandles>,
    Path(connector): Path<String>,
    req: Request,
) -> Response {
    webhook(h, connector, None, req).await
}

async fn webhook(
    h: WebhookHandles,
    connector: String,
    account: Option<String>,
    req: Request,
) -> Response {
    let with_ctx = |mut p: Problem| {
        p.connector = Some(connector.clone());
        p.integrated_account_id = account.clone();
        problem(p)
    };
    let Some(limit) = h.inbound.max_body(&connector) else {
        return with_ctx(InboundError::UnknownConnector(connector.clone()).to_problem());
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return with_ctx(
                InboundError::TooLarge {
                    size: limit + 1,
                    limit,
                }
                .to_problem(),
            );
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let public_uri: http::Uri = format!("{}{}", h.public_base, path_and_query)
        .parse()
        .unwrap_or_else(|_| parts.uri.clone());
    match h
        .inbound
        .handle(
            &connector,
            account.as_deref(),
            &parts.method,
            &public_uri,
            &parts.headers,
            &bytes,
        )
        .await
    {
        Ok(InboundOutcome::Accepted { event_id }) => (
            http::StatusCode::ACCEPTED,
            Json(serde_json::json!({ "event_id": event_id })),
        )
            .into_response(),
        Ok(InboundOutcome::Duplicate) => (
            http::StatusCode::OK,
            Json(serde_json::json!({ "duplicate": true })),
        )
            .into_response(),
        Ok(InboundOutcome::NoEndpoint) => (
            http::StatusCode::ACCEPTED,
            Json(
                serde_json::json!({ "event_id": null, "detail": "environment has no webhook_url" }),
            ),
        )
            .into_response(),
        Err(e) => {
            if matches!(
                e,
                InboundError::Directory(_) | InboundError::Publish(_) | InboundError::Store(_)
            ) {
                tracing::error!(target: "tidegate::webhooks", connector = %connector,
                    error = %crate::logsafe::redacted_text(&e.to_string()), "webhook not stored");
            }
            with_ctx(e.to_problem())
        }
    }
}

#[derive(Deserialize)]
struct ClaimQuery {
    token: Option<String>,
}

async fn claim(
    State(h): State<WebhookHandles>,
    Path(id): Path<String>,
    Query(q): Query<ClaimQuery>,
) -> Response {
    let Some(claims) = &h.claims else {
        return problem(Problem::new(
            ErrorCode::NotFound,
            "no claim-check store is configured",
        ));
    };
    let Some(token) = q.token else {
        return problem(Problem::new(
            ErrorCode::Unauthorized,
            "claim-check URLs carry a token",
        ));
    };
    match claims.redeem(&id, &token).await {
        Ok(payload) => Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, payload.content_type())
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(Body::from(payload.bytes.to_vec()))
            .expect("static headers are valid"),
        Err(ClaimError::InvalidToken) => problem(Problem::new(
            ErrorCode::Unauthorized,
            "invalid or forged claim token",
        )),
        Err(ClaimError::Gone) => {
            let mut p = Problem::new(
                ErrorCode::NotFound,
                "this claim was already served or has expired",
            );
            p.status = 410;
            p.title = "Gone".into();
            problem(p)
        }
        Err(e) => {
            tracing::error!(target: "tidegate::events",
                error = %crate::logsafe::redacted_text(&e.to_string()), "claim-check read failed");
            problem(Problem::new(
                ErrorCode::InternalError,
                "claim check unavailable",
            ))
        }
    }
}
