//! The admin page (`/admin`) and its script (`/admin.js`), compiled into the binary from `server/static/`
//! (the script joined from its parts in `server/static/admin/`).

use crate::app::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const ADMIN_HTML: &str = include_str!("../../static/admin.html");
/// `/admin.js` as served: the parts in `server/static/admin/`, joined in this order (pieces of one IIFE, opened
/// in `core.js` and closed in `handoffs.js`; their load-time statements run in this order, as in one file).
/// `tests/browser/helpers.js` reads this list to join the same parts.
pub const ADMIN_JS: &str = concat!(
    include_str!("../../static/admin/core.js"),
    include_str!("../../static/admin/records.js"),
    include_str!("../../static/admin/review.js"),
    include_str!("../../static/admin/handoffs.js"),
);

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(page)).route("/admin.js", get(script))
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], ADMIN_HTML)
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], ADMIN_JS)
}
