//! WebSocket frame commands and close reasons, shared by the server and the
//! client so that neither spells them on its own.

/// `cmd` of the frames on the push socket.
pub mod cmd {
    /// Client: log in with a token.
    pub const LOGIN: &str = "login";
    /// Client: keep the socket alive.
    pub const HEARTBEAT: &str = "heartbeat";
    /// Server: a good login's answer.
    pub const LOGIN_ACK: &str = "login_ack";
    /// Server: a heartbeat's answer.
    pub const HEARTBEAT_ACK: &str = "heartbeat_ack";
    /// Server: a new message, or a recall (`delete_timestamp` set).
    pub const PUSH_MESSAGE: &str = "push_message";
    /// Server: an edited message.
    pub const EDIT_MESSAGE: &str = "edit_message";
    /// Client: what the user typed in a chat (a draft).
    pub const INPUT_INFO: &str = "inputInfo";
    /// Server: a draft typed on another device of the user.
    pub const DRAFT_INPUT: &str = "draft_input";
    /// Server (yhconv, opt-in): rows of the user's list that changed.
    pub const LIST_ROWS: &str = "yhconv_list_rows";
}

/// Why the server closes a push socket: its WebSocket close code and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Nothing came from the client for the idle time (1000).
    Idle,
    /// The server is stopping (1001).
    ShuttingDown,
    /// The token the socket logged in with was revoked (1008).
    LoggedOut,
    /// The socket fell too far behind its pushes (1013).
    TooFarBehind,
    /// A frame could not be read (1008).
    BadFrame,
    /// Too many frames before a good login were not frames (1008).
    TooManyBadFrames,
    /// No good login within the login time after the upgrade (1008).
    NoLogin,
}

impl CloseReason {
    /// Every reason.
    pub const ALL: [CloseReason; 7] = [
        Self::Idle,
        Self::ShuttingDown,
        Self::LoggedOut,
        Self::TooFarBehind,
        Self::BadFrame,
        Self::TooManyBadFrames,
        Self::NoLogin,
    ];

    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            Self::Idle => 1000,
            Self::ShuttingDown => 1001,
            Self::LoggedOut | Self::BadFrame | Self::TooManyBadFrames | Self::NoLogin => 1008,
            Self::TooFarBehind => 1013,
        }
    }

    /// The close frame's reason text.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::ShuttingDown => "server shutting down",
            Self::LoggedOut => "logged out",
            Self::TooFarBehind => "too far behind",
            Self::BadFrame => "bad frame",
            Self::TooManyBadFrames => "too many bad frames",
            Self::NoLogin => "no login in time",
        }
    }

    /// The reason a close frame names, if it is one of these.
    pub fn from_frame(code: u16, reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code && r.reason() == reason)
    }

    /// Whether the socket ended through no fault of the client's session
    /// (idle, or the server stopping): a client may simply reconnect.
    pub fn is_routine(self) -> bool {
        matches!(self, Self::Idle | Self::ShuttingDown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back() {
        for reason in CloseReason::ALL {
            assert_eq!(CloseReason::from_frame(reason.code(), reason.reason()), Some(reason));
        }
        assert_eq!(CloseReason::from_frame(1008, "something else"), None);
    }
}
