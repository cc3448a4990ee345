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
    RouteDoc {
        method,
        path,
        access,
        summary,
        tag,
        only_when: None,
    }
}

const fn configured(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    only_when: &'static str,
) -> RouteDoc {
    RouteDoc {
        method,
        path,
        access: Access::Public,
        summary,
        tag,
        only_when: Some(only_when),
    }
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
        "Logout: unbinds the session (session, token, return)",
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
        Public,
        "热门问题 of the last 7 days from real traffic, overall or for one asker audience (empty with too little traffic)",
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
    match (method, path) {
        ("get", "/api/v1/popular") => vec![json!({
            "name": "audience",
            "in": "query",
            "required": false,
            "description": "Whose 热门问题: that audience's own (at least 10 answered questions of theirs in 7 days), else the overall ones. Without it, the overall ones.",
            "schema": {"type": "string", "enum": ["student", "teacher", "staff", "guest"]},
        })],
        _ => Vec::new(),
    }
}

fn operation(r: &RouteDoc) -> Value {
    let mut op = json!({
        "summary": r.summary,
        "tags": [r.tag],
        "responses": {"200": {"description": "OK"}},
    });
    if r.path == "/api/v1/popular" {
        op["responses"]["200"] = json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Popular"}}}});
        op["responses"]["422"] = json!({"description": "Unknown audience (`field` is `audience`)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    }
    let mut params = parameters(r.path);
    params.extend(query_parameters(r.method, r.path));
    if !params.is_empty() {
        op["parameters"] = json!(params);
    }
    match r.access {
        Admin => {
            op["security"] = json!([{"bearer": []}]);
            op["responses"]["401"] = json!({"description": "No valid token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
            op["responses"]["403"] = json!({"description": "Not an admin", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
            if matches!(r.method, "post" | "put") {
                op["responses"]["422"] = json!({"description": "Validation failed; `field` and `problems` name the fields", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
            }
        }
        User => op["security"] = json!([{}, {"bearer": []}]),
        Public => {}
    }
    if let Some(when) = r.only_when {
        op["description"] = json!(format!("Routed only when {when} is configured."));
        op["x-only-when"] = json!(when);
    }
    if matches!(r.method, "post" | "put")
        && r.path.contains("/items/")
        && !r.path.ends_with("restore")
        && !r.path.ends_with("reviewed")
    {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EditRequest"}}}});
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
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "object", "properties": {
                        "item": {"type": "string"}, "field": {"type": "string"}, "message": {"type": "string"}}}}}}}},
                "EditRequest": {"type": "object", "required": ["body"], "properties": {
                    "body": {"type": "object", "description": "The record exactly as its data/ TOML entry (every 办事指南 field of a service)"},
                    "questions": {"type": "array", "items": {"type": "string"}, "description": "Similar questions (services, apps, FAQs)"},
                    "owner_department": {"type": "string"}}},
                "Popular": {"type": "object", "properties": {
                    "days": {"type": "integer"},
                    "audience": {"type": ["string", "null"], "description": "The audience asked for, if any"},
                    "questions": {"type": "array", "items": {"type": "string"}, "description": "What the welcome suggests to that audience (or the overall ones)"},
                    "by_audience": {"type": "object", "description": "Each audience's own list (empty below its traffic threshold)",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
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
            assert!(
                doc["paths"][r.path][r.method].is_object(),
                "{} {}",
                r.method,
                r.path
            );
        }
        let popular = &doc["paths"]["/api/v1/popular"]["get"];
        assert_eq!(popular["parameters"][0]["name"], "audience");
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "duplicate {} {}",
                r.method,
                r.path
            );
        }
    }
}
