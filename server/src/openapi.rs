//! `GET /api/v1/openapi.json`: a hand-written OpenAPI 3.1 document of every HTTP route the server has.
//!
//! [`ROUTES`] is the list; the end-to-end tests request every entry and check it is routed, so a route added to
//! the server without a line here (or a line without a route) is noticed.

use crate::app::AppState;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A logged-in user (bearer token) or a guest.
    User,
    /// A bearer token of an admin.
    Admin,
}

/// One documented operation: method, path (OpenAPI template syntax), access, summary, tag.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub tag: &'static str,
    /// When the route exists only under some configuration, which.
    pub only_when: Option<&'static str>,
}

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    tag: &'static str,
) -> RouteDoc {
    RouteDoc { method, path, access, summary, tag, only_when: None }
}

const fn configured(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    only_when: &'static str,
) -> RouteDoc {
    RouteDoc { method, path, access: Access::Public, summary, tag, only_when: Some(only_when) }
}

use Access::{Admin, Public, User};

/// Every route of the server.
pub const ROUTES: &[RouteDoc] = &[
    route(
        "get",
        "/",
        Public,
        "The demo page with the chat widget",
        "assets",
    ),
    route(
        "get",
        "/widget.js",
        Public,
        "The chat widget script",
        "assets",
    ),
    route(
        "get",
        "/admin",
        Public,
        "The admin page (static; it calls the admin API with a bearer token)",
        "assets",
    ),
    route(
        "get",
        "/admin.js",
        Public,
        "The admin page's script",
        "assets",
    ),
    route(
        "get",
        "/healthz",
        Public,
        "Liveness: the process answers",
        "operations",
    ),
    route(
        "get",
        "/readyz",
        Public,
        "Readiness: database reachable, engine loaded",
        "operations",
    ),
    route(
        "get",
        "/metrics",
        Public,
        "Prometheus metrics (text exposition format)",
        "operations",
    ),
    route(
        "get",
        "/api/v1/openapi.json",
        Public,
        "This document",
        "operations",
    ),
    route(
        "get",
        "/ws",
        User,
        "The chat websocket (docs/protocol.md)",
        "chat",
    ),
    route(
        "post",
        "/api/v1/chat",
        User,
        "One question or action over HTTP; answered with a reply frame",
        "chat",
    ),
    route(
        "get",
        "/auth/login",
        Public,
        "统一身份认证 login: redirects to CAS (session, return)",
        "auth",
    ),
    route(
        "get",
        "/auth/callback",
        Public,
        "CAS callback: validates the ticket, binds the session, hands the token over",
        "auth",
    ),
    route(
        "get",
        "/auth/logout",
        Public,
        "Ends the 统一身份认证 login only (a redirect to CAS logout; return); no chat session changes on a GET",
        "auth",
    ),
    route(
        "post",
        "/auth/logout",
        User,
        "Logout with the bearer token: the session is unbound, its dialogue and forms cleared, the token refused",
        "auth",
    ),
    route("get", "/auth/done", Public, "Login landing page", "auth"),
    route(
        "get",
        "/auth/logged-out",
        Public,
        "Logout landing page",
        "auth",
    ),
    configured(
        "get",
        "/cas/login",
        "Demo CAS login form",
        "auth",
        "auth.demo_cas",
    ),
    configured(
        "post",
        "/cas/login",
        "Demo CAS login submit",
        "auth",
        "auth.demo_cas",
    ),
    configured(
        "get",
        "/cas/p3/serviceValidate",
        "Demo CAS 3.0 ticket validation",
        "auth",
        "auth.demo_cas",
    ),
    configured(
        "get",
        "/cas/serviceValidate",
        "Demo CAS 2.0 ticket validation",
        "auth",
        "auth.demo_cas",
    ),
    configured(
        "get",
        "/cas/logout",
        "Demo CAS logout",
        "auth",
        "auth.demo_cas",
    ),
    configured(
        "get",
        "/channels/wecom/callback",
        "WeCom app callback URL verification",
        "channels",
        "the WeCom app channel",
    ),
    configured(
        "post",
        "/channels/wecom/callback",
        "WeCom app messages (encrypted XML)",
        "channels",
        "the WeCom app channel",
    ),
    configured(
        "get",
        "/channels/wecom-bot/callback",
        "WeCom 智能机器人 URL verification",
        "channels",
        "the WeCom AI bot channel",
    ),
    configured(
        "post",
        "/channels/wecom-bot/callback",
        "WeCom 智能机器人 messages (encrypted JSON)",
        "channels",
        "the WeCom AI bot channel",
    ),
    configured(
        "post",
        "/channels/cpdaily/webhook",
        "今日校园 gateway messages (HMAC-signed)",
        "channels",
        "the 今日校园 channel",
    ),
    route(
        "get",
        "/api/v1/popular",
        User,
        "热门问题 of the last 7 days for the asker's own audience (the bearer token's user, a guest without one): item titles answered for at least 3 sessions; empty with too little traffic",
        "chat",
    ),
    route(
        "get",
        "/api/v1/admin/me",
        Admin,
        "The calling admin",
        "admin",
    ),
    route(
        "get",
        "/api/v1/admin/items",
        Admin,
        "List and search knowledge records (kind, q, retired)",
        "admin",
    ),
    route(
        "post",
        "/api/v1/admin/items/{kind}",
        Admin,
        "Create a record (service, app, faq, department, news)",
        "admin",
    ),
    route(
        "get",
        "/api/v1/admin/items/{kind}/{id}",
        Admin,
        "One record with its similar questions and freshness",
        "admin",
    ),
    route(
        "put",
        "/api/v1/admin/items/{kind}/{id}",
        Admin,
        "Edit a record (lexicon/texts/systems use id `all`); live in seconds",
        "admin",
    ),
    route(
        "delete",
        "/api/v1/admin/items/{kind}/{id}",
        Admin,
        "Retire a record",
        "admin",
    ),
    route(
        "post",
        "/api/v1/admin/items/{kind}/{id}/restore",
        Admin,
        "Restore a retired record",
        "admin",
    ),
    route(
        "post",
        "/api/v1/admin/items/{kind}/{id}/reviewed",
        Admin,
        "Mark a record reviewed today",
        "admin",
    ),
    route(
        "get",
        "/api/v1/admin/stale",
        Admin,
        "Items not reviewed for `days` (default 180); a department admin sees their own",
        "admin",
    ),
    route(
        "get",
        "/api/v1/admin/audit",
        Admin,
        "The audit trail (who, when, before and after)",
        "admin",
    ),
    route(
        "get",
        "/api/v1/admin/unanswered",
        Admin,
        "Fallbacks, clarifies and 👎 grouped by similarity, with counts",
        "review",
    ),
    route(
        "post",
        "/api/v1/admin/unanswered/attach",
        Admin,
        "Add a reviewed question to an item as a similar question",
        "review",
    ),
    route(
        "post",
        "/api/v1/admin/unanswered/faq",
        Admin,
        "Start a new FAQ from a reviewed question",
        "review",
    ),
    route(
        "post",
        "/api/v1/admin/unanswered/dismiss",
        Admin,
        "Drop questions from the review list",
        "review",
    ),
    route(
        "get",
        "/api/v1/admin/questions",
        Admin,
        "The question log, newest first (mode, q, limit)",
        "review",
    ),
    route(
        "get",
        "/api/v1/admin/questions/{id}/explain",
        Admin,
        "Why the bot answered a logged question as it did",
        "review",
    ),
    route(
        "get",
        "/api/v1/admin/export",
        Admin,
        "The live records of one kind as CSV (kind: service, app, faq, department, news)",
        "admin",
    ),
    route(
        "post",
        "/api/v1/admin/import",
        Admin,
        "A CSV of one kind: previewed (what it creates and changes, every problem) or, with apply=true, applied",
        "admin",
    ),
    route(
        "get",
        "/api/v1/admin/export/data",
        Admin,
        "The whole live knowledge base as a ZIP in the format of data/ (services.toml, faqs.toml, questions/…)",
        "admin",
    ),
    route(
        "post",
        "/api/v1/admin/import/data",
        Admin,
        "A ZIP in the format of data/, as the whole knowledge base: previewed (what it creates, changes and retires, every problem as check-data gives it) or, with apply=true, applied",
        "admin",
    ),
    route(
        "get",
        "/api/v1/admin/questions/{id}/conversation",
        Admin,
        "The whole dialogue of the session a logged question was asked in, oldest first (texts masked)",
        "review",
    ),
    route(
        "get",
        "/api/v1/admin/explain",
        Admin,
        "Re-run retrieval on a text: terms, ranks, scores, decision",
        "review",
    ),
    route(
        "get",
        "/api/v1/admin/feedback",
        Admin,
        "The feedback and 工单 inbox (status, limit)",
        "inbox",
    ),
    route(
        "post",
        "/api/v1/admin/feedback/{id}",
        Admin,
        "Set a feedback's status; an answer reaches its author as a notice",
        "inbox",
    ),
    route("get", "/api/v1/admin/handoffs", Admin, "The live queue of conversations handed to a person (?status=closed: the last 100 closed)", "handoff"),
    route("get", "/api/v1/admin/handoffs/{id}", Admin, "One handoff with the bot dialogue before it and its messages", "handoff"),
    route("get", "/api/v1/admin/handoffs/{id}/messages", Admin, "A handoff's messages newer than ?after=SEQ, with its status", "handoff"),
    route("post", "/api/v1/admin/handoffs/{id}/messages", Admin, "The taking admin writes to the user ({\"text\"}, 1–2,000 characters); 409 unless it is the caller's active handoff", "handoff"),
    route("post", "/api/v1/admin/handoffs/{id}/take", Admin, "Take a waiting handoff; 409 when someone else has it or it ended", "handoff"),
    route("post", "/api/v1/admin/handoffs/{id}/release", Admin, "Hand the conversation back to the bot; 409 when it already ended", "handoff"),
    route(
        "get",
        "/api/v1/admin/analytics",
        Admin,
        "Questions per day and channel, rates, satisfaction, top questions and items, latency",
        "analytics",
    ),
];

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

/// Query parameters of the routes that take some, beyond the path's.
fn query_parameters(method: &str, path: &str) -> Vec<Value> {
    let query = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema});
    match (method, path) {
        ("get", "/api/v1/admin/stale" | "/api/v1/admin/unanswered" | "/api/v1/admin/analytics") => {
            vec![query("days", json!({"type": "integer"}), "Look-back window in days (clamped to 1–3650)")]
        }
        ("get" | "post", "/api/v1/admin/export" | "/api/v1/admin/import") => {
            let mut params =
                vec![json!({"name": "kind", "in": "query", "required": true, "description": "Which records",
                "schema": {"type": "string", "enum": ["service", "app", "faq", "department", "news"]}})];
            if method == "post" {
                params.push(query("apply", json!({"type": "boolean"}), "Apply the import (otherwise a preview only)"));
            }
            params
        }
        ("post", "/api/v1/admin/import/data") => {
            vec![query("apply", json!({"type": "boolean"}), "Apply the import (otherwise a preview only)")]
        }
        ("get", "/api/v1/admin/explain") => {
            vec![
                json!({"name": "text", "in": "query", "required": true, "description": "The question to explain", "schema": {"type": "string", "minLength": 1, "pattern": "\\S"}}),
            ]
        }
        _ => Vec::new(),
    }
}

/// A response with the error body.
fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// A response with a body of `content_type`.
fn typed_response(description: &str, content_type: &str) -> Value {
    json!({"description": description, "content": {content_type: {"schema": {"type": "string"}}}})
}

/// The request body a route reads, when it reads one.
fn request_body(method: &str, path: &str) -> Option<Value> {
    let json_body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let schema_ref = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    Some(match (method, path) {
        ("post", "/api/v1/chat") => json_body(schema_ref("ChatRequest")),
        ("post" | "put", "/api/v1/admin/items/{kind}" | "/api/v1/admin/items/{kind}/{id}") => {
            json_body(schema_ref("EditRequest"))
        }
        ("post", "/api/v1/admin/unanswered/attach") => json_body(schema_ref("AttachRequest")),
        ("post", "/api/v1/admin/unanswered/faq") => json_body(schema_ref("NewFaqRequest")),
        ("post", "/api/v1/admin/unanswered/dismiss") => json_body(schema_ref("DismissRequest")),
        ("post", "/api/v1/admin/feedback/{id}") => json_body(schema_ref("FeedbackUpdate")),
        ("post", "/api/v1/admin/handoffs/{id}/messages") => json_body(schema_ref("HandoffMessage")),
        ("post", "/api/v1/admin/import") => {
            json!({"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}})
        }
        ("post", "/api/v1/admin/import/data") => {
            json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}})
        }
        ("post", "/cas/login") => {
            json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": {"username": {"type": "string"}, "password": {"type": "string"}, "service": {"type": "string"}}}}}})
        }
        ("post", "/channels/wecom/callback") => {
            json!({"required": true, "content": {"text/xml": {"schema": {"type": "string"}}}})
        }
        ("post", "/channels/wecom-bot/callback" | "/channels/cpdaily/webhook") => {
            json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}})
        }
        _ => return None,
    })
}

fn operation(r: &RouteDoc) -> Value {
    let mut op = json!({
        "summary": r.summary,
        "tags": [r.tag],
        "responses": {"200": {"description": "OK"}},
    });
    let responses = &mut op["responses"];
    // Every route sits behind the per-address request budget (`limits.rs`).
    responses["429"] = error_response("Over the per-address request (or question) budget: `rate_limited`");
    match r.path {
        "/" | "/admin" | "/auth/done" | "/auth/logged-out" => {
            responses["200"] = typed_response("The page", "text/html")
        }
        "/widget.js" | "/admin.js" => responses["200"] = typed_response("The script", "application/javascript"),
        "/healthz" | "/metrics" => responses["200"] = typed_response("OK", "text/plain"),
        "/api/v1/admin/export/data" => responses["200"] = typed_response("The archive", "application/zip"),
        "/readyz" => responses["503"] = json!({"description": "The database does not answer"}),
        "/api/v1/popular" => {
            responses["200"] = json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Popular"}}}});
        }
        "/api/v1/chat" => {
            responses["200"] = json!({"description": "The reply frame and the session to continue with", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatResponse"}}}});
            responses["400"] = error_response("Not a JSON object: `malformed_frame`");
            responses["413"] = error_response("Text or body too long: `text_too_long`");
            responses["422"] = error_response("A field is wrong: `invalid_field`, `empty_text`");
            responses["503"] = error_response("The engine is busy: `overloaded`");
        }
        "/ws" => {
            responses["400"] = typed_response("Not a websocket upgrade request", "text/plain");
            responses["426"] = typed_response("Not a websocket upgrade request", "text/plain");
            responses["503"] = error_response("Every websocket slot is taken: `overloaded`");
        }
        _ => {}
    }
    if r.tag == "auth" {
        // Login pages and the demo CAS answer in HTML or CAS XML, and redirect.
        for (status, description) in [
            ("302", "Redirect (to CAS, back to the page, or to the landing page)"),
            ("303", "Redirect after a form"),
            ("400", "A missing or unregistered `service`, or a malformed form"),
            ("401", "A refused ticket or login"),
            ("404", "The demo CAS is off"),
            ("415", "A form without its content type"),
        ] {
            responses[status] = json!({"description": description});
        }
    }
    if r.path.starts_with("/channels/") {
        responses["400"] = error_response("A parameter or the body is malformed");
        responses["401"] = error_response("Signature, receive id or timestamp refused");
        responses["404"] = error_response("The channel is not configured: `channel_not_configured`");
        responses["413"] = error_response("Body over the channel limit: `body_too_large`");
        responses["503"] = error_response("The channel queue is full: `overloaded`");
    }
    let mut params = parameters(r.path);
    params.extend(query_parameters(r.method, r.path));
    if r.path.contains("{kind}") {
        if let Some(kind) = params.iter_mut().find(|p| p["name"] == "kind") {
            kind["schema"] = json!({"type": "string", "enum": ["service", "app", "faq", "department", "news", "lexicon", "texts", "systems"]});
        }
    }
    if !params.is_empty() {
        op["parameters"] = json!(params);
    }
    match r.access {
        Admin => {
            op["security"] = json!([{"bearer": []}]);
            let responses = &mut op["responses"];
            responses["400"] = error_response("A malformed query, path or body: `malformed_request`");
            responses["401"] = error_response("No valid token");
            responses["403"] = error_response("Not an admin");
            responses["404"] = error_response("No such record, question or feedback");
            responses["503"] =
                error_response("The engine is busy (searches run inside the turn permits): `overloaded`");
            responses["409"] =
                error_response("Conflicts with the stored records (exists already, or still referenced)");
            responses["422"] = error_response("Validation failed; `field` and `problems` name the fields");
            if matches!(r.method, "post" | "put") {
                responses["413"] = error_response("Body too large: `body_too_large`");
                responses["415"] = error_response("Not `Content-Type: application/json`: `unsupported_media_type`");
            }
        }
        User => op["security"] = json!([{}, {"bearer": []}]),
        Public => {}
    }
    if let Some(when) = r.only_when {
        op["description"] = json!(format!("Routed only when {when} is configured."));
        op["x-only-when"] = json!(when);
    }
    if let Some(body) = request_body(r.method, r.path) {
        op["requestBody"] = body;
    }
    op
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method] = operation(r);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ehall-bot",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "天津商业大学网上办事服务大厅智能问答。The chat protocol itself is in docs/protocol.md; the admin API takes `Authorization: Bearer <token>` (never a cookie, so it is not open to CSRF).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
                    "detail": {"type": "string"}, "wecom_code": {"type": "integer"},
                    "problems": {"type": "array", "items": {"type": "object", "properties": {
                        "item": {"type": "string"}, "field": {"type": "string"}, "message": {"type": "string"}}}}}}}},
                "EditRequest": {"type": "object", "required": ["body"], "properties": {
                    "body": {"type": "object", "description": "The record exactly as its data/ TOML entry (every 办事指南 field of a service)"},
                    "questions": {"type": "array", "items": {"type": "string"}, "description": "Similar questions (services, apps, FAQs)"},
                    "owner_department": {"type": "string"}}},
                "ChatRequest": {"type": "object", "description": "A question (`text`) or an action (`action`, `args`), never both",
                    "properties": {
                        "session": {"type": ["string", "null"], "description": "The session to continue"},
                        "id": {"description": "Echoed as the reply's in_reply_to when a string; ignored otherwise"},
                        "text": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "\\S"},
                        "action": {"type": "string", "minLength": 1},
                        "args": {"type": ["object", "null"]}},
                    "oneOf": [{"required": ["text"], "not": {"required": ["action"]}}, {"required": ["action"], "not": {"required": ["text"]}}]},
                "ChatResponse": {"type": "object", "required": ["session", "reply"], "properties": {
                    "session": {"type": "string"}, "reply": {"type": "object", "description": "The reply frame (docs/protocol.md)"}}},
                "AttachRequest": {"type": "object", "required": ["text", "item_id"], "properties": {
                    "text": {"type": "string"}, "item_id": {"type": "string"},
                    "also_resolve": {"type": "array", "items": {"type": "string"}}}},
                "NewFaqRequest": {"type": "object", "required": ["text", "answer"], "properties": {
                    "text": {"type": "string"}, "question": {"type": "string"}, "answer": {"type": "string"},
                    "related_service": {"type": "string"}, "related_app": {"type": "string"},
                    "owner_department": {"type": "string"}, "also_resolve": {"type": "array", "items": {"type": "string"}}}},
                "DismissRequest": {"type": "object", "required": ["texts"], "properties": {
                    "texts": {"type": "array", "items": {"type": "string"}}}},
                "HandoffMessage": {"type": "object", "required": ["text"], "additionalProperties": false, "properties": {
                    "text": {"type": "string", "description": "1–2,000 characters after trimming"}}},
                "FeedbackUpdate": {"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string", "enum": ["submitted", "processing", "answered", "closed"]},
                    "answer": {"type": "string"}}},
                "Popular": {"type": "object", "properties": {
                    "days": {"type": "integer"},
                    "audience": {"type": "string", "enum": ["student", "teacher", "staff", "guest"], "description": "The asker's audience"},
                    "questions": {"type": "array", "items": {"type": "string"}, "description": "What the asker's welcome suggests (their audience's own list, else the overall one)"}}},
            },
        },
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(|| async { Json(document()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_once() {
        let doc = document();
        for r in ROUTES {
            assert!(doc["paths"][r.path][r.method].is_object(), "{} {}", r.method, r.path);
        }
        let popular = &doc["paths"]["/api/v1/popular"]["get"];
        assert!(popular.get("parameters").is_none(), "the audience is the asker's own, not a parameter");
        assert_eq!(popular["security"], json!([{}, {"bearer": []}]));
        // Every route that reads a body documents it, and every operation its refusals.
        for (method, path) in [
            ("post", "/api/v1/chat"),
            ("post", "/api/v1/admin/unanswered/attach"),
            ("post", "/cas/login"),
            ("post", "/api/v1/admin/handoffs/{id}/messages"),
        ] {
            assert!(doc["paths"][path][method]["requestBody"].is_object(), "{method} {path}");
        }
        for r in ROUTES {
            assert!(doc["paths"][r.path][r.method]["responses"]["429"].is_object(), "{} {}", r.method, r.path);
        }
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "duplicate {} {}", r.method, r.path);
        }
    }
}
