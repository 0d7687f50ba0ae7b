//! The world file (`World::from_json`, used by `serve --world` and
//! `import`). Nothing may panic; a parsed world serializes and parses back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use yhconv_server::World;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match World::from_json(text) {
        Ok(world) => {
            let again = serde_json::to_string(&world).expect("a world serializes");
            World::from_json(&again).expect("and parses back");
        }
        Err(e) => {
            let _ = e.public_message();
        }
    }
});
