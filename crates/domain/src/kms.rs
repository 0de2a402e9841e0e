//! KMS key rules: how callers name keys, alias names, key states and what each state allows,
//! deletion windows, rotation periods and encryption contexts. Pure; the KMS service applies
//! them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::{MS_PER_DAY, Millis};

pub const DEFAULT_PENDING_WINDOW_DAYS: i64 = 30;
pub const DEFAULT_ROTATION_PERIOD_DAYS: i64 = 365;
/// AWS KMS: symmetric Encrypt takes at most 4096 bytes.
pub const MAX_PLAINTEXT: usize = 4096;
/// On-demand rotations a key may have (AWS's quota).
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// Who manages a key: customers manage theirs; AWS-managed keys (`alias/aws/<service>`) are
/// used only through their service and cannot be changed by anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyManager {
    #[serde(rename = "AWS")]
    Aws,
    #[serde(rename = "CUSTOMER")]
    Customer,
}

impl KeyManager {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyManager::Aws => "AWS",
            KeyManager::Customer => "CUSTOMER",
        }
    }
}

/// One rotation of a key's material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The material version the rotation made (1, 2, ...).
    pub version: u32,
    pub at_ms: Millis,
    /// "AUTOMATIC" or "ON_DEMAND".
    pub kind: String,
}

/// A KMS key's metadata (its materials are stored wrapped, apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    pub description: String,
    pub state: KeyState,
    pub manager: KeyManager,
    /// When PendingDeletion: the deletion time and the window asked for.
    #[serde(default)]
    pub deletion_ms: Option<Millis>,
    #[serde(default)]
    pub pending_window_days: Option<i64>,
    /// Automatic rotation: its period and the next rotation's time.
    #[serde(default)]
    pub rotation_period_days: Option<i64>,
    #[serde(default)]
    pub next_rotation_ms: Option<Millis>,
    #[serde(default)]
    pub rotations: Vec<Rotation>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub policy: Option<String>,
    /// The key's grants, oldest first (absent in keys stored before grants existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<crate::grants::Grant>,
}

impl KeyMeta {
    pub fn new(description: String, manager: KeyManager) -> Self {
        Self {
            description,
            state: KeyState::Enabled,
            manager,
            deletion_ms: None,
            pending_window_days: None,
            rotation_period_days: None,
            next_rotation_ms: None,
            rotations: Vec::new(),
            tags: Vec::new(),
            policy: None,
            grants: Vec::new(),
        }
    }

    pub fn rotation_enabled(&self) -> bool {
        self.rotation_period_days.is_some()
    }
}

/// Why a key cannot be used for cryptography now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// DisabledException.
    Disabled,
    /// KMSInvalidStateException.
    PendingDeletion,
}

/// Cryptographic operations need an Enabled key.
pub fn usable(state: KeyState) -> Result<(), Unusable> {
    match state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(Unusable::Disabled),
        KeyState::PendingDeletion => Err(Unusable::PendingDeletion),
    }
}

/// How a caller named a key (KeyId members accept all four forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key id, or a key ARN of this account and region reduced to its id.
    Id(String),
    /// `alias/NAME`, or an alias ARN of this account and region reduced to its name.
    Alias(String),
    /// An ARN of another account, region or service: never found here.
    Foreign(String),
}

pub fn parse_key_ref(given: &str, region: &str, account_id: &str) -> KeyRef {
    if let Some(rest) = given.strip_prefix("arn:") {
        let partition = crate::partition_of(region);
        let prefix = format!("{partition}:kms:{region}:{account_id}:");
        return match rest.strip_prefix(&prefix) {
            Some(r) if r.starts_with("alias/") => KeyRef::Alias(r.to_string()),
            Some(r) => match r.strip_prefix("key/") {
                Some(id) if !id.is_empty() => KeyRef::Id(id.to_string()),
                _ => KeyRef::Foreign(given.to_string()),
            },
            None => KeyRef::Foreign(given.to_string()),
        };
    }
    if given.starts_with("alias/") {
        KeyRef::Alias(given.to_string())
    } else {
        KeyRef::Id(given.to_string())
    }
}

/// An alias a customer may create or point elsewhere: `alias/` + 1–250 of `[a-zA-Z0-9/_-]`,
/// not under `alias/aws/` (AWS-managed keys' names).
pub fn validate_alias_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 256 {
        return Err(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must have length between 1 and 256"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_-:".contains(&b))
    {
        return Err(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        ));
    }
    Ok(())
}

/// Why a customer may not use an alias name, beyond the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasRule {
    /// No `alias/` prefix (AWS: ValidationException).
    Prefix(String),
    /// Under `alias/aws/`, AWS managed keys' names (AWS: NotAuthorizedException).
    Reserved(String),
    /// Otherwise malformed (InvalidAliasNameException).
    Invalid(String),
}

pub fn check_customer_alias(name: &str) -> Result<(), AliasRule> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(AliasRule::Prefix("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".into()));
    };
    if name.starts_with("alias/aws/") {
        return Err(AliasRule::Reserved(
            "Cannot create alias with prefix 'alias/aws/'".into(),
        ));
    }
    if rest.is_empty() || rest.contains(':') {
        return Err(AliasRule::Invalid(format!(
            "Alias {name} is not a valid alias name."
        )));
    }
    Ok(())
}

/// ScheduleKeyDeletion's PendingWindowInDays: 7–30, default 30.
pub fn pending_window(days: Option<i64>) -> Result<i64, String> {
    match days {
        None => Ok(DEFAULT_PENDING_WINDOW_DAYS),
        Some(d) if (7..=30).contains(&d) => Ok(d),
        Some(d) => Err(format!(
            "PendingWindowInDays must be between 7 and 30 inclusive, but was {d}."
        )),
    }
}

/// EnableKeyRotation's RotationPeriodInDays: 90–2560, default 365.
pub fn rotation_period(days: Option<i64>) -> Result<i64, String> {
    match days {
        None => Ok(DEFAULT_ROTATION_PERIOD_DAYS),
        Some(d) if (90..=2560).contains(&d) => Ok(d),
        Some(d) => Err(format!(
            "1 validation error detected: Value '{d}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560"
        )),
    }
}

/// The time a deletion scheduled at `now` for `days` happens.
pub fn deletion_time(now: Millis, days: i64) -> Millis {
    now + days * MS_PER_DAY
}

/// An encryption context as the bytes a ciphertext is bound to: the pairs sorted by key, so
/// the caller's member order does not matter (as AWS).
pub fn canonical_context(context: &BTreeMap<String, String>) -> Vec<u8> {
    if context.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (k, v) in context {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

/// The data key size GenerateDataKey makes: exactly one of KeySpec (AES_128 | AES_256) and
/// NumberOfBytes (1–1024).
pub fn data_key_len(key_spec: Option<&str>, number_of_bytes: Option<i64>) -> Result<usize, String> {
    match (key_spec, number_of_bytes) {
        (Some(_), Some(_)) => {
            Err("Please specify either number of bytes or key spec, but not both.".into())
        }
        (None, None) => Err("Please specify either number of bytes or key spec.".into()),
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(other), None) => Err(format!(
            "1 validation error detected: Value '{other}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        )),
        (None, Some(n)) if (1..=1024).contains(&n) => Ok(n as usize),
        (None, Some(n)) => Err(format!(
            "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_refs() {
        let (r, a) = ("us-east-1", "123456789012");
        assert_eq!(parse_key_ref("abc", r, a), KeyRef::Id("abc".into()));
        assert_eq!(
            parse_key_ref("arn:aws:kms:us-east-1:123456789012:key/abc", r, a),
            KeyRef::Id("abc".into())
        );
        assert_eq!(
            parse_key_ref("alias/app", r, a),
            KeyRef::Alias("alias/app".into())
        );
        assert_eq!(
            parse_key_ref("arn:aws:kms:us-east-1:123456789012:alias/app", r, a),
            KeyRef::Alias("alias/app".into())
        );
        for foreign in [
            "arn:aws:kms:eu-west-1:123456789012:key/abc",
            "arn:aws:kms:us-east-1:999999999999:key/abc",
            "arn:aws:kms:us-east-1:123456789012:key/",
        ] {
            assert!(matches!(parse_key_ref(foreign, r, a), KeyRef::Foreign(_)));
        }
    }

    #[test]
    fn key_refs_in_another_partition() {
        let (r, a) = ("cn-north-1", "123456789012");
        assert_eq!(
            parse_key_ref("arn:aws-cn:kms:cn-north-1:123456789012:key/abc", r, a),
            KeyRef::Id("abc".into())
        );
        assert_eq!(
            parse_key_ref("arn:aws-cn:kms:cn-north-1:123456789012:alias/app", r, a),
            KeyRef::Alias("alias/app".into())
        );
        for foreign in [
            "arn:aws:kms:cn-north-1:123456789012:key/abc",
            "arn:aws:kms:cn-north-1:123456789012:alias/app",
        ] {
            assert!(matches!(parse_key_ref(foreign, r, a), KeyRef::Foreign(_)));
        }
        assert!(matches!(
            parse_key_ref(
                "arn:aws-cn:kms:us-east-1:123456789012:key/abc",
                "us-east-1",
                a
            ),
            KeyRef::Foreign(_)
        ));
    }

    #[test]
    fn alias_names() {
        assert!(validate_alias_name("alias/my-app_key/prod").is_ok());
        assert!(validate_alias_name("alias/bad name").is_err());
        assert!(validate_alias_name("").is_err());
        assert!(validate_alias_name(&format!("alias/{}", "a".repeat(251))).is_err());
        assert!(check_customer_alias("alias/app").is_ok());
        assert!(matches!(
            check_customer_alias("app"),
            Err(AliasRule::Prefix(_))
        ));
        assert!(matches!(
            check_customer_alias("alias/"),
            Err(AliasRule::Invalid(_))
        ));
        assert!(matches!(
            check_customer_alias("alias/aws/secretsmanager"),
            Err(AliasRule::Reserved(_))
        ));
        assert!(check_customer_alias("alias/awsome").is_ok());
    }

    #[test]
    fn windows_and_periods() {
        assert_eq!(pending_window(None), Ok(30));
        assert_eq!(pending_window(Some(7)), Ok(7));
        assert!(pending_window(Some(6)).is_err());
        assert!(pending_window(Some(31)).is_err());
        assert_eq!(rotation_period(None), Ok(365));
        assert_eq!(rotation_period(Some(90)), Ok(90));
        assert!(rotation_period(Some(89)).is_err());
        assert!(rotation_period(Some(2561)).is_err());
        assert_eq!(deletion_time(0, 7), 7 * MS_PER_DAY);
    }

    #[test]
    fn states() {
        assert!(usable(KeyState::Enabled).is_ok());
        assert_eq!(usable(KeyState::Disabled), Err(Unusable::Disabled));
        assert_eq!(
            usable(KeyState::PendingDeletion),
            Err(Unusable::PendingDeletion)
        );
    }

    #[test]
    fn context_order_does_not_matter_and_values_are_delimited() {
        let a: BTreeMap<_, _> = [("b".to_string(), "2".to_string()), ("a".into(), "1".into())]
            .into_iter()
            .collect();
        let b: BTreeMap<_, _> = [("a".to_string(), "1".to_string()), ("b".into(), "2".into())]
            .into_iter()
            .collect();
        assert_eq!(canonical_context(&a), canonical_context(&b));
        let c: BTreeMap<_, _> = [("a".to_string(), "12".to_string())].into_iter().collect();
        let d: BTreeMap<_, _> = [("a1".to_string(), "2".to_string())].into_iter().collect();
        assert_ne!(canonical_context(&c), canonical_context(&d));
        assert!(canonical_context(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn data_key_sizes() {
        assert_eq!(data_key_len(Some("AES_256"), None), Ok(32));
        assert_eq!(data_key_len(Some("AES_128"), None), Ok(16));
        assert_eq!(data_key_len(None, Some(64)), Ok(64));
        assert!(data_key_len(Some("AES_256"), Some(32)).is_err());
        assert!(data_key_len(None, None).is_err());
        assert!(data_key_len(None, Some(0)).is_err());
        assert!(data_key_len(None, Some(1025)).is_err());
        assert!(data_key_len(Some("RSA"), None).is_err());
    }
}
