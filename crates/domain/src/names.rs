//! Secret names, ARNs, SecretId resolution, tags and the other free-form request strings.
//!
//! Rules (secretsmanager.json unless noted):
//! - a name (NameType) is 1–512 characters of ASCII letters, digits and `/_+=.@-`;
//!   AWS advises against ending a name with `-` plus six characters (it confuses partial-ARN
//!   lookup) but accepts such names, and so do we;
//! - a secret's ARN is `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`, `XXXXXX`
//!   being six random characters that keep a re-created secret from inheriting the ARN (and
//!   so the IAM grants) of a deleted one of the same name;
//! - a SecretId (SecretIdType, 1–2048) is a name, a full ARN or a partial ARN (see
//!   [`parse_secret_id`]);
//! - tags: keys 1–128, values 0–256, keys case-sensitive, at most 50 per secret, and the
//!   `aws:` prefix is reserved ("You can't modify system tags");
//! - ClientRequestToken 32–64, Description ≤ 2048, KmsKeyId ≤ 2048.
//!
//! Modeled length constraints answer as Coral does (ValidationException, "1 validation error
//! detected: ..."), without echoing the value: it may be sensitive.

use rand::CryptoRng;

pub const MIN_NAME_LEN: usize = 1;
pub const MAX_NAME_LEN: usize = 512;
pub const MAX_SECRET_ID_LEN: usize = 2048;
pub const ARN_SUFFIX_LEN: usize = 6;
pub const MAX_TAG_KEY_LEN: usize = 128;
pub const MAX_TAG_VALUE_LEN: usize = 256;
pub const MAX_TAGS_PER_SECRET: usize = 50;
pub const MIN_CLIENT_REQUEST_TOKEN_LEN: usize = 32;
pub const MAX_CLIENT_REQUEST_TOKEN_LEN: usize = 64;
pub const MAX_DESCRIPTION_LEN: usize = 2048;
pub const MAX_KMS_KEY_ID_LEN: usize = 2048;
/// Tag keys with this prefix (any case, per the AWS tagging rules) belong to AWS.
pub const RESERVED_TAG_PREFIX: &str = "aws:";

/// AWS's own wording, byte for byte: clients and scripts match on it. It lists `!` because
/// SecretIds may name service-owned secrets such as `rds!db-...`; CreateSecret still refuses it.
pub const INVALID_NAME_MESSAGE: &str = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!";

const SUFFIX_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// ValidationException: a modeled length constraint (`member` is the wire name in
    /// lowerCamelCase, as Coral reports it).
    #[error(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
    )]
    TooShort { member: &'static str, min: usize },
    /// ValidationException: a modeled length constraint.
    #[error(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )]
    TooLong { member: &'static str, max: usize },
    /// ValidationException (observed from GetSecretValue with a bad SecretId; CreateSecret
    /// is assumed to answer the same way).
    #[error("{INVALID_NAME_MESSAGE}")]
    InvalidNameCharacters,
    /// InvalidParameterException (observed from TagResource).
    #[error("You can't modify system tags. Tag key: '{0}'.")]
    ReservedTagKey(String),
    /// InvalidParameterException (wording assumed).
    #[error(
        "The secret would have {count} tags; a secret can have at most {MAX_TAGS_PER_SECRET}. Remove tags with UntagResource first."
    )]
    TooManyTags { count: usize },
}

/// Characters are counted as Unicode scalar values.
fn check_len(member: &'static str, s: &str, min: usize, max: usize) -> Result<(), NameError> {
    let n = s.chars().count();
    if n < min {
        return Err(NameError::TooShort { member, min });
    }
    if n > max {
        return Err(NameError::TooLong { member, max });
    }
    Ok(())
}

/// `[A-Za-z0-9/_+=.@-]`: what CreateSecret accepts in a name.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)
}

/// CreateSecret's Name: 1–512 characters, each [`is_name_char`]. Names ending in `-` plus six
/// characters are accepted (AWS only advises against them).
pub fn validate_secret_name(name: &str) -> Result<(), NameError> {
    check_len("name", name, MIN_NAME_LEN, MAX_NAME_LEN)?;
    if !name.chars().all(is_name_char) {
        return Err(NameError::InvalidNameCharacters);
    }
    Ok(())
}

/// A SecretId as any operation receives it: 1–2048 characters; a name (or, for an ARN, its
/// name part) may also hold `!`, which only service-owned secrets have in their names.
/// Anything that is neither a well-formed secret ARN nor such a name is
/// [`NameError::InvalidNameCharacters`], as AWS answers for e.g. `arn:...:secret:x#key`.
pub fn validate_secret_id(id: &str) -> Result<(), NameError> {
    check_len("secretId", id, 1, MAX_SECRET_ID_LEN)?;
    let name = if id.starts_with("arn:") {
        arn_name_part(id).ok_or(NameError::InvalidNameCharacters)?
    } else {
        id
    };
    if !name.chars().all(|c| is_name_char(c) || c == '!') {
        return Err(NameError::InvalidNameCharacters);
    }
    Ok(())
}

/// A random (version 4) UUID, e.g. a request id or a version id, from the OS-seeded thread
/// CSPRNG: `uuid::Uuid::new_v4` asks the OS (a `getrandom` call) for every id, two per request.
pub fn random_uuid() -> String {
    let bytes: [u8; 16] = rand::random();
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    // Encoded straight into a buffer: `to_string` goes through the formatting machinery,
    // and every request takes one or two of these.
    let mut buf = uuid::Uuid::encode_buffer();
    uuid.hyphenated().encode_lower(&mut buf).to_owned()
}

/// Six characters from `[A-Za-z0-9]`, uniform, from the OS-seeded thread CSPRNG.
pub fn random_suffix() -> String {
    random_suffix_with(&mut rand::rng())
}

/// [`random_suffix`] with a caller-chosen generator.
pub fn random_suffix_with<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    (0..ARN_SUFFIX_LEN)
        .map(|_| {
            char::from(SUFFIX_ALPHABET[crate::password::uniform_index(rng, SUFFIX_ALPHABET.len())])
        })
        .collect()
}

/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX`, the partition the region's.
pub fn secret_arn(region: &str, account: &str, name: &str, suffix: &str) -> String {
    let partition = crate::partition_of(region);
    format!("arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-{suffix}")
}

/// The six-character random suffix: `-` then six ASCII alphanumerics at the end of `s`, with
/// something before the hyphen.
fn has_random_suffix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > ARN_SUFFIX_LEN + 1
        && b[b.len() - ARN_SUFFIX_LEN - 1] == b'-'
        && b[b.len() - ARN_SUFFIX_LEN..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
}

/// The part after `:secret:` of a Secrets Manager ARN — for a full ARN that is `NAME-XXXXXX`,
/// for a partial one just `NAME`. `None` unless `arn` has the shape
/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:REST` with `REST` non-empty.
pub fn arn_name_part(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        [
            "arn",
            _partition,
            "secretsmanager",
            _region,
            _account,
            "secret",
            rest,
        ] if !rest.is_empty() => Some(rest),
        _ => None,
    }
}

/// The name of a secret whose full ARN is `arn`: the name part without its `-XXXXXX` suffix.
pub fn name_from_full_arn(arn: &str) -> Option<&str> {
    let part = arn_name_part(arn)?;
    has_random_suffix(part).then(|| &part[..part.len() - ARN_SUFFIX_LEN - 1])
}

/// What a SecretId refers to. See [`parse_secret_id`] for how the store should look it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A friendly name: match `Secret::name` exactly.
    Name(String),
    /// An ARN of this region and account whose name part ends in `-` plus six alphanumerics,
    /// so it looks complete. Match `Secret::arn` exactly first; failing that, treat it as a
    /// partial ARN whose name is the *whole* name part ([`arn_name_part`]), suffix included,
    /// i.e. a secret actually named `...-abcdef`. Never strip the suffix to match a secret
    /// by the shorter name: the suffix is what keeps the ARN of a deleted secret from
    /// opening its re-created namesake.
    FullArn(String),
    /// An ARN of this region and account without the random suffix: match `Secret::name`
    /// exactly against `name`.
    PartialArn { name: String },
    /// An ARN that cannot name a secret here (other partition, service, region or account,
    /// or malformed): never matches, so ResourceNotFoundException.
    ForeignArn(String),
}

/// Classify a SecretId. Lookup, as AWS documents it (SecretIdType, DescribeSecret docs):
///
/// - a name or an ARN; AWS recommends complete ARNs;
/// - "If you specify an incomplete ARN without the random suffix, and instead provide the
///   'friendly name', you must not include the random suffix" — a partial ARN is the ARN
///   with the exact name and no suffix, and it works "as long as it uniquely matches only
///   one secret" (names are unique per region, so an exact name match is unique);
/// - if a secret's own name ends in `-` plus six characters, a partial ARN for it "causes
///   Secrets Manager to assume that you're specifying a complete ARN", with "unexpected
///   results". AWS then just fails to find it; [`SecretRef::FullArn`] documents the
///   fallback the store may apply instead, which can only find a secret with that exact
///   longer name.
///
/// `region` and `account` are this server's: an ARN for anything else is
/// [`SecretRef::ForeignArn`], and so is an ARN of another partition than the region's.
pub fn parse_secret_id(id: &str, region: &str, account: &str) -> SecretRef {
    if !id.starts_with("arn:") {
        return SecretRef::Name(id.to_string());
    }
    let parts: Vec<&str> = id.splitn(7, ':').collect();
    let local = matches!(
        parts.as_slice(),
        ["arn", p, "secretsmanager", r, a, "secret", rest]
            if *p == crate::partition_of(region) && *r == region && *a == account && !rest.is_empty()
    );
    if !local {
        return SecretRef::ForeignArn(id.to_string());
    }
    let name_part = parts[6];
    if has_random_suffix(name_part) {
        SecretRef::FullArn(id.to_string())
    } else {
        SecretRef::PartialArn {
            name: name_part.to_string(),
        }
    }
}

/// Whether `key` is in the `aws:` namespace (case-insensitive, as AWS tagging rules say).
pub fn is_reserved_tag_key(key: &str) -> bool {
    key.len() >= RESERVED_TAG_PREFIX.len()
        && key.as_bytes()[..RESERVED_TAG_PREFIX.len()]
            .eq_ignore_ascii_case(RESERVED_TAG_PREFIX.as_bytes())
}

/// A tag key as TagResource / CreateSecret / UntagResource receive it: 1–128 characters, not
/// `aws:`-prefixed. No character set is enforced: the model has no pattern for TagKeyType.
pub fn validate_tag_key(key: &str) -> Result<(), NameError> {
    check_len("tags.member.key", key, 1, MAX_TAG_KEY_LEN)?;
    if is_reserved_tag_key(key) {
        return Err(NameError::ReservedTagKey(key.to_string()));
    }
    Ok(())
}

/// A tag value: 0–256 characters.
pub fn validate_tag_value(value: &str) -> Result<(), NameError> {
    check_len("tags.member.value", value, 0, MAX_TAG_VALUE_LEN)
}

/// Validate every tag and the tag count. For TagResource pass the set the secret would have
/// *after* the merge (TagResource appends/overwrites), so the limit applies to the result.
/// Keys in the `aws:` namespace are refused outright; AWS does not count its own tags
/// against the limit, so callers merging in stored system tags should leave them out.
pub fn validate_tags<'a, I>(tags: I) -> Result<(), NameError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut count = 0;
    for (key, value) in tags {
        validate_tag_key(key)?;
        validate_tag_value(value)?;
        count += 1;
    }
    if count > MAX_TAGS_PER_SECRET {
        return Err(NameError::TooManyTags { count });
    }
    Ok(())
}

/// UntagResource's TagKeys: each 1–128 and not `aws:`-prefixed.
pub fn validate_untag_keys<'a, I>(keys: I) -> Result<(), NameError>
where
    I: IntoIterator<Item = &'a str>,
{
    for key in keys {
        check_len("tagKeys.member", key, 1, MAX_TAG_KEY_LEN)?;
        if is_reserved_tag_key(key) {
            return Err(NameError::ReservedTagKey(key.to_string()));
        }
    }
    Ok(())
}

/// ClientRequestToken (and the VersionId it becomes): 32–64 characters.
pub fn validate_client_request_token(t: &str) -> Result<(), NameError> {
    check_len(
        "clientRequestToken",
        t,
        MIN_CLIENT_REQUEST_TOKEN_LEN,
        MAX_CLIENT_REQUEST_TOKEN_LEN,
    )
}

/// Description: at most 2048 characters (empty is allowed).
pub fn validate_description(d: &str) -> Result<(), NameError> {
    check_len("description", d, 0, MAX_DESCRIPTION_LEN)
}

/// KmsKeyId: at most 2048 characters (empty is allowed by the model).
pub fn validate_kms_key_id(k: &str) -> Result<(), NameError> {
    check_len("kmsKeyId", k, 0, MAX_KMS_KEY_ID_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn random_uuids_are_version_4_and_distinct() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        for id in [&a, &b] {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 4, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id.len(), 36);
        }
    }

    const R: &str = "us-east-1";
    const A: &str = "123456789012";

    #[test]
    fn names() {
        for ok in [
            "a",
            "prod/db/creds",
            "A_b+c=d.e@f-g",
            "MySecret-abcdef",
            &"x".repeat(512),
        ] {
            assert_eq!(validate_secret_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate_secret_name(""),
            Err(NameError::TooShort {
                member: "name",
                min: 1
            })
        );
        assert_eq!(
            validate_secret_name(&"x".repeat(513)),
            Err(NameError::TooLong {
                member: "name",
                max: 512
            })
        );
        for bad in ["a b", "a:b", "a#b", "rds!db", "é", "a*", "a\n"] {
            assert_eq!(
                validate_secret_name(bad),
                Err(NameError::InvalidNameCharacters),
                "{bad:?}"
            );
        }
        assert_eq!(
            NameError::InvalidNameCharacters.to_string(),
            INVALID_NAME_MESSAGE
        );
        assert_eq!(
            NameError::TooLong {
                member: "name",
                max: 512
            }
            .to_string(),
            "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 512"
        );
    }

    #[test]
    fn secret_ids() {
        assert_eq!(validate_secret_id("rds!db-1234/x"), Ok(()));
        assert_eq!(validate_secret_id("plain"), Ok(()));
        let arn = secret_arn(R, A, "prod/db", "AbC123");
        assert_eq!(validate_secret_id(&arn), Ok(()));
        assert_eq!(
            validate_secret_id(&format!("{arn}#password")),
            Err(NameError::InvalidNameCharacters)
        );
        assert_eq!(
            validate_secret_id("arn:nope"),
            Err(NameError::InvalidNameCharacters)
        );
        assert_eq!(
            validate_secret_id(""),
            Err(NameError::TooShort {
                member: "secretId",
                min: 1
            })
        );
        assert!(matches!(
            validate_secret_id(&"a".repeat(2049)),
            Err(NameError::TooLong { max: 2048, .. })
        ));
    }

    #[test]
    fn arns() {
        let arn = secret_arn(R, A, "prod/db", "AbC123");
        assert_eq!(
            arn,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC123"
        );
        assert_eq!(arn_name_part(&arn), Some("prod/db-AbC123"));
        assert_eq!(name_from_full_arn(&arn), Some("prod/db"));
        assert_eq!(
            arn_name_part("arn:aws:secretsmanager:us-east-1:123456789012:secret:x"),
            Some("x")
        );
        assert_eq!(
            arn_name_part("arn:aws:secretsmanager:us-east-1:123456789012:secret:"),
            None
        );
        assert_eq!(
            arn_name_part("arn:aws:kms:us-east-1:123456789012:key/abc"),
            None
        );
        assert_eq!(arn_name_part("prod/db"), None);
        assert_eq!(
            name_from_full_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:x"),
            None
        );
    }

    #[test]
    fn suffixes() {
        for _ in 0..100 {
            let s = random_suffix();
            assert_eq!(s.len(), 6);
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");
        }
        // All 62 characters turn up.
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            seen.extend(random_suffix_with(&mut rng).chars());
        }
        assert_eq!(seen.len(), 62);
    }

    #[test]
    fn secret_id_resolution() {
        assert_eq!(
            parse_secret_id("prod/db", R, A),
            SecretRef::Name("prod/db".into())
        );
        let full = secret_arn(R, A, "prod/db", "AbC123");
        assert_eq!(
            parse_secret_id(&full, R, A),
            SecretRef::FullArn(full.clone())
        );
        let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db";
        assert_eq!(
            parse_secret_id(partial, R, A),
            SecretRef::PartialArn {
                name: "prod/db".into()
            }
        );
        // A name that itself ends in -six-chars looks complete: AWS's documented pitfall.
        let ambiguous = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-abcdef";
        assert_eq!(
            parse_secret_id(ambiguous, R, A),
            SecretRef::FullArn(ambiguous.into())
        );
        assert_eq!(arn_name_part(ambiguous), Some("app-abcdef"));
        // A five-character tail or a non-alphanumeric one is partial.
        for (tail, name) in [("app-abcde", "app-abcde"), ("app-abc_ef", "app-abc_ef")] {
            let id = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{tail}");
            assert_eq!(
                parse_secret_id(&id, R, A),
                SecretRef::PartialArn { name: name.into() }
            );
        }
        // Only "-XXXXXX" with nothing before is not a suffix.
        let id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:-abcdef";
        assert_eq!(
            parse_secret_id(id, R, A),
            SecretRef::PartialArn {
                name: "-abcdef".into()
            }
        );
        for foreign in [
            secret_arn("eu-west-1", A, "prod/db", "AbC123"),
            secret_arn(R, "999999999999", "prod/db", "AbC123"),
            full.replace("arn:aws:", "arn:aws-cn:"),
            "arn:aws:kms:us-east-1:123456789012:key/x".to_string(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:".to_string(),
            "arn:".to_string(),
        ] {
            assert_eq!(
                parse_secret_id(&foreign, R, A),
                SecretRef::ForeignArn(foreign.clone())
            );
        }
    }

    #[test]
    fn secret_arns_carry_the_partition_of_their_region() {
        let cn = secret_arn("cn-north-1", A, "db", "AbC123");
        assert_eq!(
            cn,
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbC123"
        );
        assert_eq!(
            parse_secret_id(&cn, "cn-north-1", A),
            SecretRef::FullArn(cn.clone())
        );
        assert_eq!(
            parse_secret_id(
                "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db",
                "cn-north-1",
                A
            ),
            SecretRef::PartialArn { name: "db".into() }
        );
        // The same ARN in the `aws` partition names nothing in China, and the reverse.
        let aws = cn.replace("arn:aws-cn:", "arn:aws:");
        assert_eq!(
            parse_secret_id(&aws, "cn-north-1", A),
            SecretRef::ForeignArn(aws.clone())
        );
        let gov = secret_arn("us-gov-west-1", A, "db", "AbC123");
        assert!(gov.starts_with("arn:aws-us-gov:secretsmanager:us-gov-west-1:"));
        assert!(matches!(
            parse_secret_id(&gov, "us-gov-west-1", A),
            SecretRef::FullArn(_)
        ));
        assert!(matches!(
            parse_secret_id(
                &gov.replace("arn:aws-us-gov:", "arn:aws:"),
                "us-gov-west-1",
                A
            ),
            SecretRef::ForeignArn(_)
        ));
    }

    #[test]
    fn tags() {
        assert_eq!(validate_tags([("env", "prod"), ("empty", "")]), Ok(()));
        assert_eq!(validate_tags(std::iter::empty()), Ok(()));
        assert_eq!(
            validate_tags([("", "v")]),
            Err(NameError::TooShort {
                member: "tags.member.key",
                min: 1
            })
        );
        let k129 = "k".repeat(129);
        assert!(matches!(
            validate_tags([(k129.as_str(), "v")]),
            Err(NameError::TooLong { max: 128, .. })
        ));
        let k128 = "k".repeat(128);
        let v256 = "v".repeat(256);
        assert_eq!(validate_tags([(k128.as_str(), v256.as_str())]), Ok(()));
        let v257 = "v".repeat(257);
        assert!(matches!(
            validate_tags([("k", v257.as_str())]),
            Err(NameError::TooLong { max: 256, .. })
        ));
        for reserved in ["aws:cloudformation:stack-name", "AWS:x", "Aws:"] {
            let err = validate_tags([(reserved, "v")]).unwrap_err();
            assert_eq!(err, NameError::ReservedTagKey(reserved.into()));
        }
        assert_eq!(validate_tags([("aws", "v"), ("awsx:y", "v")]), Ok(()));
        assert_eq!(
            NameError::ReservedTagKey("aws:x".into()).to_string(),
            "You can't modify system tags. Tag key: 'aws:x'."
        );
        let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        assert_eq!(
            validate_tags(keys[..50].iter().map(|k| (k.as_str(), "v"))),
            Ok(())
        );
        assert_eq!(
            validate_tags(keys.iter().map(|k| (k.as_str(), "v"))),
            Err(NameError::TooManyTags { count: 51 })
        );
        assert_eq!(validate_untag_keys(["a", "b"]), Ok(()));
        assert!(validate_untag_keys(["aws:x"]).is_err());
        assert!(validate_untag_keys([""]).is_err());
    }

    #[test]
    fn tokens_descriptions_kms() {
        let uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        assert_eq!(validate_client_request_token(uuid), Ok(()));
        assert_eq!(validate_client_request_token(&"a".repeat(32)), Ok(()));
        assert_eq!(validate_client_request_token(&"a".repeat(64)), Ok(()));
        assert_eq!(
            validate_client_request_token(&"a".repeat(31)),
            Err(NameError::TooShort {
                member: "clientRequestToken",
                min: 32
            })
        );
        assert!(validate_client_request_token(&"a".repeat(65)).is_err());
        assert_eq!(validate_description(""), Ok(()));
        assert_eq!(validate_description(&"d".repeat(2048)), Ok(()));
        assert!(validate_description(&"d".repeat(2049)).is_err());
        // Counted in characters, not bytes.
        assert_eq!(validate_description(&"é".repeat(2048)), Ok(()));
        assert_eq!(validate_kms_key_id("alias/aws/secretsmanager"), Ok(()));
        assert!(validate_kms_key_id(&"k".repeat(2049)).is_err());
    }

    proptest! {
        #[test]
        fn valid_names_round_trip_through_arns(
            name in "[A-Za-z0-9/_+=.@-]{1,100}",
            seed in any::<u64>(),
        ) {
            prop_assert_eq!(validate_secret_name(&name), Ok(()));
            let suffix = random_suffix_with(&mut StdRng::seed_from_u64(seed));
            let arn = secret_arn(R, A, &name, &suffix);
            prop_assert_eq!(validate_secret_id(&arn), Ok(()));
            prop_assert_eq!(name_from_full_arn(&arn), Some(name.as_str()));
            prop_assert_eq!(parse_secret_id(&arn, R, A), SecretRef::FullArn(arn.clone()));
            let expected_name = format!("{name}-{suffix}");
            prop_assert_eq!(arn_name_part(&arn), Some(expected_name.as_str()));
        }

        #[test]
        fn names_with_other_characters_are_refused(
            pre in "[a-z]{0,5}",
            bad in "[^A-Za-z0-9/_+=.@-]",
            post in "[a-z]{0,5}",
        ) {
            let name = format!("{pre}{bad}{post}");
            prop_assert!(validate_secret_name(&name).is_err());
        }

        #[test]
        fn non_arn_ids_are_names(id in "[A-Za-z0-9/_+=.@!-]{1,60}") {
            prop_assume!(!id.starts_with("arn:"));
            prop_assert_eq!(parse_secret_id(&id, R, A), SecretRef::Name(id.clone()));
        }
    }
}
