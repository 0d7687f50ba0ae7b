//! The domain: the leaf every other layer builds on. Nothing here imports
//! from the rest of the server (`tests/layers.rs` checks it).
//!
//! - [`ids`]: identifiers, parsed once at the edge.
//! - [`error`]: the one error type, and its mapping to protocol codes.
//! - [`clock`]: the server's strictly increasing clock.
//! - [`model`]: entities and rows.
//! - [`event`]: what every instance must see, in commit order.
//! - [`list_change`]: what a write changed in users' lists.
//! - [`store`]: the storage contract both engines implement.

pub mod clock;
pub mod error;
pub mod event;
pub mod ids;
pub mod list_change;
pub mod model;
pub mod store;
