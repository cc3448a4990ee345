//! End-to-end tests, one binary (one link) for all: the real server, real sockets, a real SQLite file.

mod admin;
mod assets;
mod dialogue;
mod durability;
mod hardening;
mod auth;
mod check_data;
mod cpdaily;
mod cli;
mod connections;
mod http;
mod limits;
mod postgres;
mod replicas;
mod sessions;
mod websocket;
mod wecom;
mod portal;
mod portal_forms;
mod portal_user;
mod portal_connector;
mod privacy;
