//! The chat widget (`/widget.js`), its demo page (`/`) and the favicon, compiled into the binary from
//! `server/static/`: gzip-compressed once at start, served with a strong ETag, `304` on a matching
//! `If-None-Match`, and `Cache-Control: no-cache`, so a browser keeps its copy and only revalidates it.
//! The widget's source is split into parts (`server/static/widget/*.js`) that are joined here, at compile
//! time, into the one script a page embeds: no build step beyond `cargo build`.

use crate::app::AppState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::LazyLock;

/// `/widget.js` as served: the parts in `server/static/widget/`, joined in this order. They are pieces of one
/// IIFE, opened in `config.js` and closed in `main.js`, so they share its private scope (function declarations
/// are hoisted: only the `var`s that run at load time, in `config.js` and `panel.js`, must come before
/// `main.js`, which starts the widget). `tests/browser/helpers.js` reads this list to join the same parts.
pub const WIDGET_JS: &str = concat!(
    include_str!("../../static/widget/config.js"),
    include_str!("../../static/widget/styles.js"),
    include_str!("../../static/widget/dom.js"),
    include_str!("../../static/widget/panel.js"),
    include_str!("../../static/widget/transport.js"),
    include_str!("../../static/widget/render.js"),
    include_str!("../../static/widget/handoff.js"),
    include_str!("../../static/widget/cards.js"),
    include_str!("../../static/widget/login.js"),
    include_str!("../../static/widget/main.js"),
);
const INDEX_HTML: &str = include_str!("../../static/index.html");
const FAVICON_SVG: &str = include_str!("../../static/favicon.svg");

/// Bodies smaller than this are not worth compressing.
const MIN_COMPRESS_BYTES: usize = 512;

/// One file as served: its bytes, its gzip form when that is smaller, and the strong ETag of each.
pub struct StaticAsset {
    content_type: &'static str,
    identity: &'static [u8],
    identity_etag: HeaderValue,
    gzip: Option<(Vec<u8>, HeaderValue)>,
}

impl StaticAsset {
    /// Hashes and compresses `body` (done once, when the asset is first needed).
    pub fn new(content_type: &'static str, body: &'static [u8]) -> StaticAsset {
        let hash = Sha256::digest(body);
        let tag: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
        let gzip = (body.len() >= MIN_COMPRESS_BYTES)
            .then(|| gzip(body))
            .flatten()
            .filter(|compressed| compressed.len() < body.len())
            // A strong ETag names one representation: the gzip bytes get their own.
            .map(|compressed| (compressed, etag_value(&format!("\"{tag}-gz\""))));
        StaticAsset { content_type, identity: body, identity_etag: etag_value(&format!("\"{tag}\"")), gzip }
    }

    /// The response to a GET with these request headers: the (compressed) body, or `304 Not Modified`.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let (body, etag, encoded): (&[u8], &HeaderValue, bool) = match &self.gzip {
            Some((compressed, etag)) if accepts_gzip(request) => (compressed, etag, true),
            _ => (self.identity, &self.identity_etag, false),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if none_match(request, etag) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if encoded {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        (StatusCode::OK, headers, body.to_vec()).into_response()
    }
}

fn etag_value(tag: &str) -> HeaderValue {
    // Hex digits and quotes only: always a valid header value.
    HeaderValue::from_str(tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

/// Whether `Accept-Encoding` lists gzip (or `*`) with a non-zero quality.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        },
    )
}

/// `If-None-Match` matches `etag` (weak comparison, as RFC 9110 asks for this header; `*` matches anything).
fn none_match(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.to_str().unwrap_or("");
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == ours)
}

static WIDGET: LazyLock<StaticAsset> =
    LazyLock::new(|| StaticAsset::new("application/javascript; charset=utf-8", WIDGET_JS.as_bytes()));
static INDEX: LazyLock<StaticAsset> =
    LazyLock::new(|| StaticAsset::new("text/html; charset=utf-8", INDEX_HTML.as_bytes()));
static FAVICON: LazyLock<StaticAsset> = LazyLock::new(|| StaticAsset::new("image/svg+xml", FAVICON_SVG.as_bytes()));

/// Hashes and compresses every asset now, so that the first page view does not pay for it.
pub fn precompute() {
    for asset in [&WIDGET, &INDEX, &FAVICON] {
        LazyLock::force(asset);
    }
}

pub fn router() -> Router<AppState> {
    precompute();
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { INDEX.respond(&headers) }))
        .route("/widget.js", get(|headers: HeaderMap| async move { WIDGET.respond(&headers) }))
        .route("/favicon.svg", get(|headers: HeaderMap| async move { FAVICON.respond(&headers) }))
        // Browsers ask for /favicon.ico on their own; an SVG answers it as well.
        .route("/favicon.ico", get(|headers: HeaderMap| async move { FAVICON.respond(&headers) }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn gzip_is_chosen_by_accept_encoding() {
        assert!(accepts_gzip(&request(&[(header::ACCEPT_ENCODING, "gzip, deflate, br")])));
        assert!(accepts_gzip(&request(&[(header::ACCEPT_ENCODING, "br;q=1.0, gzip;q=0.8")])));
        assert!(!accepts_gzip(&request(&[(header::ACCEPT_ENCODING, "gzip;q=0")])));
        assert!(!accepts_gzip(&request(&[(header::ACCEPT_ENCODING, "identity")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_widget_compresses_and_revalidates() {
        let asset = StaticAsset::new("application/javascript", WIDGET_JS.as_bytes());
        let gz = asset.respond(&request(&[(header::ACCEPT_ENCODING, "gzip")]));
        assert_eq!(gz.status(), StatusCode::OK);
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        let tag = gz.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert!(tag.starts_with('"') && tag.ends_with("-gz\""), "{tag}");
        let again = asset.respond(&request(&[(header::ACCEPT_ENCODING, "gzip"), (header::IF_NONE_MATCH, &tag)]));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        // The uncompressed representation has another tag: the gzip one does not validate it.
        let plain = asset.respond(&request(&[(header::IF_NONE_MATCH, &tag)]));
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
