//! End-to-end tests, one binary (one link) for all: the real server, real sockets, a real SQLite file.

mod admin;
mod admin_data;
mod assets;
mod auth;
mod check_data;
mod cli;
mod connections;
mod cpdaily;
mod dialogue;
mod durability;
mod handoff;
mod hardening;
mod http;
mod limits;
mod portal;
mod portal_connector;
mod portal_forms;
mod portal_user;
mod postgres;
mod privacy;
mod replicas;
mod sessions;
mod tidy;
mod websocket;
mod wecom;
