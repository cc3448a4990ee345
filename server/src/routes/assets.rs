//! The chat widget (`/widget.js`) and its demo page (`/`), compiled into the binary from `server/static/`.

use crate::app::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const WIDGET_JS: &str = include_str!("../../static/widget.js");
const INDEX_HTML: &str = include_str!("../../static/index.html");

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/widget.js", get(widget))
}

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX_HTML)
}

async fn widget() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], WIDGET_JS)
}
