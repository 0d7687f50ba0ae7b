//! The WebSocket client frame parser (`parse_client_frame`), on text frames
//! and on binary frames that are UTF-8 (as the session hands them over).

#![no_main]

use libfuzzer_sys::fuzz_target;
use yhconv_server::http::ws::{parse_client_frame, ClientFrame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client_frame(text) {
        ClientFrame::Login { user_id, .. } => assert!(user_id.get() > 0),
        ClientFrame::Heartbeat { .. } | ClientFrame::InputInfo { .. } | ClientFrame::Other | ClientFrame::Bad => {}
    }
});
