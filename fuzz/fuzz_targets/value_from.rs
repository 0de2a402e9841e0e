//! ECS `valueFrom` strings (what `strongroom run` reads from `--secret` and task definitions):
//! parsing is total, and what it yields is consistent with what it was given — a secret ARN
//! keeps its first seven fields as the secret id, a path is a parameter, a bare word has
//! neither `:` nor a leading `/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_client::reference::Reference;
use strongroom_client::value_from::{ValueFrom, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let v = text.trim();
    match parse(text) {
        Ok(ValueFrom::Secret(Reference::Secret { secret_id, .. })) => {
            assert!(!secret_id.is_empty());
            if v.starts_with("arn:") {
                let fields: Vec<&str> = v.split(':').collect();
                assert!(fields.len() == 7 || fields.len() == 10, "{v}");
                assert_eq!(secret_id, fields[..7].join(":"));
            } else {
                assert!(v.starts_with(&secret_id), "{v}");
            }
        }
        Ok(ValueFrom::Secret(other)) => panic!("valueFrom {v:?} gave {other:?}"),
        Ok(ValueFrom::Parameter(p)) => {
            assert!(p.starts_with('/') || p.starts_with("arn:"), "{p}");
        }
        Ok(ValueFrom::ParameterOrSecret(w)) => {
            assert!(!w.contains(':') && !w.starts_with('/') && !w.is_empty(), "{w}");
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
