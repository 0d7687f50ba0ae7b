//! The domain: the leaf every other layer builds on. Nothing here imports
//! from the rest of the server.
//!
//! - [`ids`]: identifiers, parsed once at the edge.
//! - [`error`]: the one error type, and its mapping to protocol codes.

pub mod error;
pub mod ids;
