//! SigV4: header and query (presigned) parsing, canonical request building and verification,
//! the clock check — on arbitrary requests. Input: `METHOD URI\nName: value\n...\n\nBODY`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, uri) = first.split_once(' ').unwrap_or(("POST", first));
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Ok(uri) = uri.parse::<http::Uri>() else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.trim().as_bytes()),
                http::HeaderValue::from_bytes(v.trim_start().as_bytes()),
            )
        {
            headers.append(k, v);
        }
    }
    let Ok(auth) = strongroom_sigv4::parse(&method, &uri, &headers) else {
        return;
    };
    let key = strongroom_sigv4::derive_signing_key("fuzz/secret/key", &auth.scope);
    let verified = auth.verify(&method, &uri, &headers, body, &key);
    // A forged signature must never verify (the key is secret to the fuzzer).
    if verified.is_ok() {
        panic!("an arbitrary signature verified: {:?}", auth.signature);
    }
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_000);
    let _ = auth.check_time(now, std::time::Duration::from_secs(300));
    let _ = format!("{auth:?}");
});
