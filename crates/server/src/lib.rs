//! yhconv server: Yunhu's conversation service on Yunhu's own wire protocol.
//!
//! Layers, each depending only on those above it in this list
//! (`tests/layers.rs` enforces it):
//! - [`domain`]: ids, the error type, the clock, entities and rows, events,
//!   and the [`domain::store::Store`] trait: the leaf.
//! - [`store`]: the SQLite and PostgreSQL engines; all SQL.
//! - [`push`]: live sockets, fed by the store's events.
//! - [`service`]: the rules; handlers call one service function each. With
//!   a store this process alone writes (SQLite), it keeps encoded lists
//!   ([`service::list_cache`]) and token owners ([`service::token_cache`])
//!   in memory. [`preview`] holds the last-message preview rules.
//! - [`http`]: one module per API area (`conversation`, `msg`, `sticky`,
//!   `user`, `friend`, `ws`); [`http::wire`] holds the extractors and answer
//!   formats.
//! - [`app`]: builds the server (store, push hub, router) and runs it;
//!   [`config`] and [`demo`] beside it.

pub mod app;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod online;
pub mod preview;
pub mod push;
pub mod service;
pub mod store;

pub use app::Application;
pub use config::{Config, DbUrl};
pub use domain::error::{Error, Result};
pub use domain::{error, ids};
pub use service::identity::World;
pub use service::Service;
