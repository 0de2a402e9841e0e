//! NextToken: an opaque, versioned offset bound to the query it came from, so a token replayed
//! against a different query is refused instead of silently skipping results.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use strongroom_store::SecretCursor;

use super::SmError;

pub fn encode(offset: usize, query_fingerprint: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{offset}:{query_fingerprint:x}"))
}

pub fn decode(token: Option<&str>, query_fingerprint: u64) -> Result<usize, SmError> {
    let Some(token) = token else { return Ok(0) };
    let invalid = || SmError::InvalidNextToken("The NextToken value is invalid.".into());
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(offset), Some(fp), None)
            if u64::from_str_radix(fp, 16).ok() == Some(query_fingerprint) =>
        {
            offset.parse().map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// A listing's NextToken: where the next page starts (the sort key of the last secret the
/// call looked at, [`SecretCursor`]), bound to the query.
pub fn encode_cursor(cursor: &SecretCursor, query_fingerprint: u64) -> String {
    let json = serde_json::to_string(cursor).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("v2:{query_fingerprint:x}:{json}"))
}

/// The cursor of a listing's NextToken; `None` without a token (the first page).
pub fn decode_cursor(
    token: Option<&str>,
    query_fingerprint: u64,
) -> Result<Option<SecretCursor>, SmError> {
    let Some(token) = token else { return Ok(None) };
    let invalid = || SmError::InvalidNextToken("The NextToken value is invalid.".into());
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v2"), Some(fp), Some(json))
            if u64::from_str_radix(fp, 16).ok() == Some(query_fingerprint) =>
        {
            serde_json::from_str(json).map(Some).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// A stable fingerprint of the parameters that define a listing.
pub fn fingerprint(parts: &[&str]) -> u64 {
    // FNV-1a: stable across processes and versions, unlike std's RandomState hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// One page of `items` from `offset`, and the token for the next page if any.
pub fn page<T>(
    mut items: Vec<T>,
    offset: usize,
    limit: usize,
    fp: u64,
) -> (Vec<T>, Option<String>) {
    if offset >= items.len() {
        return (Vec::new(), None);
    }
    let end = offset.saturating_add(limit).min(items.len());
    let next = (end < items.len()).then(|| encode(end, fp));
    items.truncate(end);
    (items.split_off(offset), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bind_to_query() {
        let fp = fingerprint(&["a", "b"]);
        let t = encode(20, fp);
        assert_eq!(decode(Some(&t), fp).unwrap(), 20);
        assert!(decode(Some(&t), fingerprint(&["a", "c"])).is_err());
        assert!(decode(Some("garbage!"), fp).is_err());
        assert_eq!(decode(None, fp).unwrap(), 0);
    }

    #[test]
    fn cursor_tokens_round_trip_and_bind_to_query() {
        let fp = fingerprint(&["a"]);
        let c = SecretCursor {
            key: -1,
            text: String::new(),
            name: "a:b/c".into(),
            arn: "arn:aws:secretsmanager:us-east-1:1:secret:a:b/c-AbCdEf".into(),
        };
        let t = encode_cursor(&c, fp);
        assert_eq!(decode_cursor(Some(&t), fp).unwrap(), Some(c));
        assert!(decode_cursor(Some(&t), fingerprint(&["b"])).is_err());
        assert!(decode_cursor(Some(&encode(3, fp)), fp).is_err());
        assert!(decode_cursor(Some("garbage!"), fp).is_err());
        assert_eq!(decode_cursor(None, fp).unwrap(), None);
    }

    #[test]
    fn pages_cover_everything_once() {
        let fp = 1;
        let items: Vec<u32> = (0..25).collect();
        let (p1, t1) = page(items.clone(), 0, 10, fp);
        let (p2, t2) = page(items.clone(), decode(t1.as_deref(), fp).unwrap(), 10, fp);
        let (p3, t3) = page(items.clone(), decode(t2.as_deref(), fp).unwrap(), 10, fp);
        assert_eq!([p1, p2, p3].concat(), items);
        assert!(t3.is_none());
    }
}
