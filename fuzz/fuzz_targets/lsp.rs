//! Any text opened in the language server, then every request at
//! positions across it: nothing may panic, and every request is answered.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    cnnc::lsp::exercise(text);
});
