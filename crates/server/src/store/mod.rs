//! The storage engines. Each implements [`crate::domain::store::Store`] and
//! depends on nothing but the domain (`tests/layers.rs` checks it); SQL
//! lives only here.
//! - [`sqlite`]: the embedded default, one file in WAL mode.
//! - [`postgres`]: for several server instances on one database.

pub mod columns;
pub mod postgres;
pub mod sqlite;
