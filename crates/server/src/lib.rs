//! yhconv server: Yunhu's conversation service on Yunhu's own wire protocol.
//!
//! Reading order:
//! - [`app`]: builds the server (store, push hub, router) and runs it.
//! - [`http`]: one module per API area (`conversation`, `msg`, `user`,
//!   `friend`, `ws`); [`http::wire`] holds the extractors and answer formats.
//! - [`service`]: the rules; handlers call one service function each. With
//!   a store this process alone writes (SQLite), it keeps encoded lists
//!   ([`service::list_cache`]) and token owners ([`service::token_cache`])
//!   in memory.
//! - [`store`]: the [`store::Store`] trait and its SQLite and PostgreSQL
//!   backends; all SQL.
//! - [`push`]: live sockets and fan-out of new messages.
//! - [`preview`]: the last-message preview rules.
//! - [`error`]: the one error type and its protocol codes.
//! - [`ids`], [`config`], [`demo`]: small things.

pub mod app;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
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
