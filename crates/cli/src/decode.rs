//! `yhconv decode`: prints a protobuf answer read from stdin.

use std::io::{Read as _, Write as _};

use clap::{Args, ValueEnum};
use prost::Message;
use yhconv_proto::pb;

/// Which message stdin holds.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// A `/v1/conversation/list` answer.
    List,
    /// A `/v1/user/info` answer.
    UserInfo,
    /// A `/v1/msg/list-message` answer.
    Messages,
    /// Any answer holding only a Status (send-message, errors).
    Status,
    /// A server WebSocket frame.
    Frame,
}

/// Flags of `yhconv decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// The message type on stdin.
    #[arg(value_enum)]
    kind: Kind,
}

fn show<M: Message + Default + std::fmt::Debug>(bytes: &[u8]) -> anyhow::Result<()> {
    let message = M::decode(bytes).map_err(|e| anyhow::anyhow!("stdin is not this message: {e}"))?;
    // `| head` closing the pipe early is not an error.
    match writeln!(std::io::stdout().lock(), "{message:#?}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Decodes stdin and prints it.
pub fn run(args: DecodeArgs) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes)?;
    match args.kind {
        Kind::List => show::<pb::ConversationList>(&bytes),
        Kind::UserInfo => show::<pb::UserInfo>(&bytes),
        Kind::Messages => show::<pb::ListMessageResponse>(&bytes),
        Kind::Status => show::<pb::StatusOnly>(&bytes),
        Kind::Frame => show::<pb::WsFrame>(&bytes),
    }
}
