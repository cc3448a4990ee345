//! The small Chinese HTML pages of login: success (hands the token to the widget), errors, the demo CAS form.
//!
//! Every value is HTML-escaped; values put into the inline script are JSON with `<`, `>` and `&` escaped so
//! that no value can close the script element.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The widget's localStorage key for the login token (`server/static/widget.js`, `STORAGE.token`).
pub const WIDGET_TOKEN_KEY: &str = "ehall-bot.token";
/// The admin page's localStorage key (`server/static/admin.js`): apart from the widget's, so that logging into
/// /admin does not make the widget on the same origin talk as the admin.
pub const ADMIN_TOKEN_KEY: &str = "ehall-admin.token";
/// The `type` of the message posted to the window that opened the login page.
pub const LOGIN_MESSAGE_TYPE: &str = "ehall-login";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A JSON literal that is safe inside `<script>`.
pub fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

const STYLE: &str = "body{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;background:#f4f6f9;\
margin:0;padding:40px 16px;color:#222}main{max-width:420px;margin:0 auto;background:#fff;border-radius:8px;\
padding:28px;box-shadow:0 2px 10px rgba(0,0,0,.08)}h1{font-size:20px;margin:0 0 16px}p{line-height:1.6}\
label{display:block;margin:12px 0 4px}input[type=text],input[type=password]{width:100%;box-sizing:border-box;\
padding:8px;font-size:15px;border:1px solid #ccc;border-radius:4px}button,a.button{display:inline-block;margin-top:18px;\
padding:9px 22px;background:#b0232a;color:#fff;border:0;border-radius:4px;font-size:15px;text-decoration:none;cursor:pointer}\
.error{color:#b0232a}.note{color:#777;font-size:13px}";

/// A whole page; `head_extra` goes into `<head>` unescaped (callers escape what they put there).
fn page(status: StatusCode, title: &str, body: &str, script: Option<&str>) -> Response {
    let script = script.map(|s| format!("<script>{s}</script>")).unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head>\
<body><main>{body}</main>{script}</body></html>",
        escape_html(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// "登录成功": stores the token where the widget reads it, posts it to the opener (only to `origins`), then
/// moves on to `next` with `location.replace`, which also drops the used ticket from the history.
/// The 登录成功 page: stores the token under `key` (the widget's or the admin page's), hands it to the widget
/// that opened the popup (not for an admin login), then goes on to `next`.
pub fn login_success(name: &str, token: &str, origins: &[String], next: &str, key: &str) -> Response {
    let origins: &[String] = if key == ADMIN_TOKEN_KEY { &[] } else { origins };
    let body = format!(
        "<h1>登录成功</h1><p>{}，您已通过统一身份认证登录。</p><p class=\"note\">正在返回…如果没有自动跳转，\
<a href=\"{}\">请点击这里</a>，或关闭本页回到对话窗口。</p>",
        escape_html(name),
        escape_html(next)
    );
    let script = format!(
        "(function(){{var token={token},origins={origins},next={next};\
try{{localStorage.setItem({key},token);}}catch(e){{}}\
if(window.opener){{origins.forEach(function(o){{try{{window.opener.postMessage({{type:{kind},token:token}},o);}}catch(e){{}}}});}}\
setTimeout(function(){{location.replace(next);}},800);}})();",
        token = script_json(&token.into()),
        origins = script_json(&serde_json::json!(origins)),
        next = script_json(&next.into()),
        key = script_json(&key.into()),
        kind = script_json(&LOGIN_MESSAGE_TYPE.into()),
    );
    page(StatusCode::OK, "登录成功", &body, Some(&script))
}

/// Where the success page goes when no return address was given.
pub fn login_done() -> Response {
    page(
        StatusCode::OK,
        "登录成功",
        "<h1>登录成功</h1><p>您已登录，可以关闭本页，回到办事大厅智能助手继续对话。</p>",
        None,
    )
}

/// A failed login: what happened, and a link to try again.
pub fn login_failed(status: StatusCode, message: &str, retry: Option<&str>) -> Response {
    let retry =
        retry.map(|url| format!("<a class=\"button\" href=\"{}\">重新登录</a>", escape_html(url))).unwrap_or_default();
    let body = format!("<h1>登录失败</h1><p class=\"error\">{}</p>{retry}", escape_html(message));
    page(status, "登录失败", &body, None)
}

/// After logout without a CAS redirect target.
pub fn logged_out() -> Response {
    page(StatusCode::OK, "已退出登录", "<h1>已退出登录</h1><p>您已退出登录，可以关闭本页。</p>", None)
}

/// The demo CAS login form.
pub fn demo_login_form(status: StatusCode, service: &str, username: &str, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p class=\"error\">{}</p>", escape_html(e))).unwrap_or_default();
    let body = format!(
        "<h1>统一身份认证（演示）</h1>{error}<form method=\"post\" action=\"login\">\
<input type=\"hidden\" name=\"service\" value=\"{}\">\
<label for=\"username\">账号</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{}\" \
autocomplete=\"username\" placeholder=\"学工号\" required>\
<label for=\"password\">密码</label><input type=\"password\" id=\"password\" name=\"password\" \
autocomplete=\"current-password\" required>\
<button type=\"submit\">登录</button></form>\
<p class=\"note\">这是内置的演示认证服务，仅供体验，账号见 docs/auth.md；正式部署请接入学校统一身份认证。</p>",
        escape_html(service),
        escape_html(username)
    );
    page(status, "统一身份认证（演示）", &body, None)
}

/// A demo CAS page with one message (unknown service, logout).
pub fn demo_message(status: StatusCode, title: &str, message: &str, link: Option<(&str, &str)>) -> Response {
    let link = link
        .map(|(label, url)| format!("<a class=\"button\" href=\"{}\">{}</a>", escape_html(url), escape_html(label)))
        .unwrap_or_default();
    let body = format!("<h1>{}</h1><p>{}</p>{link}", escape_html(title), escape_html(message));
    page(status, title, &body, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_out() {
        assert_eq!(escape_html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let json = script_json(&serde_json::json!("</script><script>alert(1)</script>&"));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'), "{json}");
    }
}
