//! The storage engines. Each implements [`crate::domain::store::Store`] and
//! depends on nothing but the domain (`tests/layers.rs` checks it); SQL
//! lives only here.
//! - [`sqlite`]: the embedded default, one file in WAL mode.
//! - [`postgres`]: for several server instances on one database.
//! - [`transfer`]: copying a whole SQLite database into PostgreSQL
//!   (`yhconv migrate`), with [`sqlite::export`] reading and
//!   [`postgres::import`] writing; [`sqlite::backup`] backs up and restores
//!   SQLite files.

pub mod columns;
pub mod postgres;
pub mod sqlite;
pub mod transfer;
