//! `{{resolve:...}}` dynamic references in arbitrary text (what `strongroom render` reads):
//! every reference found lies inside the text, in order, and parsing is total.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_client::reference::{find_all, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut last_end = 0;
    for f in find_all(text) {
        assert!(f.range.start >= last_end && f.range.end <= text.len());
        assert!(text[f.range.clone()].starts_with("{{resolve:"));
        assert!(f.position.line >= 1 && f.position.column >= 1);
        last_end = f.range.end;
        if text[f.range.clone()].ends_with("}}") {
            assert_eq!(parse(&text[f.range.clone()]), f.reference);
        }
    }
    let _ = parse(text);
});
