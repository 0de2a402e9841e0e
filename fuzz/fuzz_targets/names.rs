//! Names and ARNs: secret names and ids (full, partial and foreign ARNs), tags, tokens,
//! parameter names, paths and selectors, KMS key ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_domain::names::{self, SecretRef};
use strongroom_domain::parameters;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = names::validate_secret_name(s);
    let _ = names::validate_secret_id(s);
    let _ = names::validate_tag_key(s);
    let _ = names::validate_tag_value(s);
    let _ = names::validate_client_request_token(s);
    let _ = names::validate_kms_key_id(s);
    match names::parse_secret_id(s, "us-east-1", "123456789012") {
        SecretRef::Name(n) => assert!(!s.starts_with("arn:") && n == s),
        SecretRef::FullArn(a) => {
            assert_eq!(a, s);
            assert!(names::name_from_full_arn(s).is_some());
        }
        SecretRef::PartialArn { name } => {
            assert_eq!(names::arn_name_part(s), Some(name.as_str()));
        }
        SecretRef::ForeignArn(_) => assert!(s.starts_with("arn:")),
    }
    let _ = parameters::validate_name(s, "arn:aws:ssm:us-east-1:123456789012:parameter");
    let _ = parameters::validate_name_syntax(s);
    let _ = parameters::validate_path(s);
    let _ = parameters::valid_label(s);
    if let Ok((name, _)) = parameters::parse_selector(s) {
        assert!(s.starts_with(name));
    }
    let _ = parameters::in_path(s, "/app/", true);
});
