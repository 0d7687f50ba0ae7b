//! Wire types of Yunhu's client protocol, as `shared/PROTOCOL.md` gives them.
//!
//! - [`pb`]: protobuf messages (field numbers are facts of the protocol; never
//!   renumber them); those of profiles, groups and the address book live in
//!   [`people`] and are re-exported by [`pb`].
//! - [`json`]: JSON request and response bodies.
//! - [`endpoints`]: every HTTP endpoint, declared once.
//! - [`frames`]: push socket commands and close reasons.
//! - [`ChatType`] and [`ContentType`]: the protocol's enumerations.
//!
//! Both the server and the client use these types, so the two cannot drift.

pub mod dates;
pub mod endpoints;
pub mod frames;
pub mod json;
pub mod live;
pub mod pb;
pub mod people;
pub mod preview;

mod kinds;
pub use frames::CloseReason;
pub use kinds::{ChatType, ContentType};

/// The `code` of a successful answer.
pub const CODE_OK: i32 = 1;
/// The `code` of "missing, unknown, expired or revoked token".
pub const CODE_UNAUTHORIZED: i32 = -101;
/// The `code` of every other error the caller caused.
pub const CODE_ERROR: i32 = -1;
/// The `code` of `friend/apply` for someone already in the address book.
pub const CODE_ALREADY_ADDED: i32 = -9;
/// The `msg` that goes with [`CODE_UNAUTHORIZED`].
pub const MSG_UNAUTHORIZED: &str = "未登录";
/// The `msg` of a successful answer.
pub const MSG_OK: &str = "success";
/// The `any` type URL of a pushed message.
pub const PUSH_MESSAGE_TYPE_URL: &str = "type.googleapis.com/proto.PushMessage";
/// The `any` type URL of a pushed draft.
pub const MSG_INPUT_TYPE_URL: &str = "type.googleapis.com/proto.MsgInput";
