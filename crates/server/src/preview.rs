//! The preview rules live in the wire crate (`yhconv_proto::preview`), so
//! that the client's live list writes the same previews the server does.

pub use yhconv_proto::preview::*;
