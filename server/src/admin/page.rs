//! The admin page (`/admin`) and its script (`/admin.js`), compiled into the binary from `server/static/`.

use crate::app::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const ADMIN_HTML: &str = include_str!("../../static/admin.html");
const ADMIN_JS: &str = include_str!("../../static/admin.js");

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(page)).route("/admin.js", get(script))
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], ADMIN_HTML)
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], ADMIN_JS)
}
