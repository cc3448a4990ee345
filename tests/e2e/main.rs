//! End-to-end tests, one binary (one link) for all: the real server, real sockets, a real SQLite file.

mod dialogue;
mod check_data;
mod cpdaily;
mod cli;
mod http;
mod limits;
mod sessions;
mod websocket;
mod wecom;
