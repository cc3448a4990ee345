//! The widget's files over HTTP as a browser fetches them: gzip when asked, a strong ETag, `304` on
//! revalidation, `Cache-Control: no-cache`; the favicon; the embedded-login hand-over endpoint.

use ehall_tests::spawn_app;
use std::io::Read;

use server::routes::assets::WIDGET_JS;

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

#[tokio::test]
async fn widget_js_is_compressed_with_an_etag_and_revalidates_with_304() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let url = app.http_url("/widget.js");

    let gz = http.get(&url).header("Accept-Encoding", "gzip, deflate, br").send().await.expect("GET");
    assert_eq!(gz.status(), 200);
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert_eq!(header(&gz, "cache-control"), "no-cache");
    assert!(header(&gz, "vary").contains("Accept-Encoding"));
    assert!(header(&gz, "content-type").starts_with("application/javascript"));
    let etag = header(&gz, "etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong ETag: {etag}");
    let compressed = gz.bytes().await.expect("body");
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut decoded).expect("gzip");
    assert_eq!(decoded, WIDGET_JS);
    assert!(compressed.len() * 3 < WIDGET_JS.len(), "{} of {} bytes", compressed.len(), WIDGET_JS.len());

    let again =
        http.get(&url).header("Accept-Encoding", "gzip").header("If-None-Match", &etag).send().await.expect("GET");
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
    assert!(again.bytes().await.expect("body").is_empty());

    // Without gzip: the plain file, with its own tag, which a stale tag does not match.
    let plain = http.get(&url).header("If-None-Match", "\"stale\"").send().await.expect("GET");
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-encoding"), "");
    let plain_tag = header(&plain, "etag");
    assert_ne!(plain_tag, etag);
    assert_eq!(plain.text().await.expect("body"), WIDGET_JS);
    let plain_again = http.get(&url).header("If-None-Match", &plain_tag).send().await.expect("GET");
    assert_eq!(plain_again.status(), 304);
}

#[tokio::test]
async fn the_page_and_favicon_revalidate_and_the_favicon_is_no_404() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    for path in ["/", "/favicon.ico", "/favicon.svg"] {
        let first = http.get(app.http_url(path)).send().await.expect("GET");
        assert_eq!(first.status(), 200, "{path}");
        assert_eq!(header(&first, "cache-control"), "no-cache", "{path}");
        let etag = header(&first, "etag");
        assert!(!etag.is_empty(), "{path} has an ETag");
        let again = http.get(app.http_url(path)).header("If-None-Match", &etag).send().await.expect("GET");
        assert_eq!(again.status(), 304, "{path}");
    }
    let icon = http.get(app.http_url("/favicon.ico")).send().await.expect("GET");
    assert_eq!(header(&icon, "content-type"), "image/svg+xml");
}

#[tokio::test]
async fn the_embedded_login_result_is_pending_readable_cross_origin_and_refuses_bad_input() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let nonce = "0123456789abcdef0123456789abcdef";
    let pending = http
        .get(app.http_url(&format!("/auth/embed/result?nonce={nonce}")))
        .header("Origin", "https://portal.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(pending.status(), 202);
    assert_eq!(header(&pending, "access-control-allow-origin"), "https://portal.example");
    assert_eq!(header(&pending, "cache-control"), "no-store");
    let bad = http.get(app.http_url("/auth/embed/result?nonce=x")).send().await.expect("GET");
    assert_eq!(bad.status(), 400);
    // Only our own done page may complete a login; a forged token is refused.
    let foreign = http
        .post(app.http_url("/auth/embed/complete"))
        .header("Origin", "https://evil.example")
        .json(&serde_json::json!({ "nonce": nonce, "origin": "https://evil.example", "token": "x.y" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(foreign.status(), 403);
    let forged = http
        .post(app.http_url("/auth/embed/complete"))
        .json(&serde_json::json!({ "nonce": nonce, "origin": "https://portal.example", "token": "x.y" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), 401);
    let page = http
        .get(app.http_url(&format!("/auth/embed/done?nonce={nonce}&origin=https%3A%2F%2Fportal.example")))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    let html = page.text().await.expect("body");
    assert!(html.contains("https://portal.example") && html.contains("确认登录"), "an unknown site is confirmed");
}
