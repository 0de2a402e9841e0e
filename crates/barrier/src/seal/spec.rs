//! `--seal` specifications: `pkcs11:module=...;token=...;label=...[;pin-file=...]` and
//! `awskms:KEY_ID_OR_ARN[;region=...][;endpoint=...]` (or `awskms:key=...;...`). Pure parsing:
//! nothing is opened here.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A seal named on the command line, in the environment or in the TOML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealSpec {
    Pkcs11(Pkcs11Spec),
    AwsKms(KmsSpec),
}

/// An AES key inside a PKCS#11 token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Spec {
    /// The PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The AES key's label (CKA_LABEL) inside the token.
    pub label: String,
    /// A file whose first line is the user PIN (else STRONGROOM_PKCS11_PIN).
    pub pin_file: Option<PathBuf>,
}

/// A symmetric key of AWS KMS or of any KMS-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsSpec {
    /// Key id, key ARN, alias name or alias ARN.
    pub key: String,
    /// From the ARN, else `region=`, else the AWS SDK's own chain (AWS_REGION, profile).
    pub region: Option<String>,
    /// Another endpoint than AWS's own, e.g. another Strongroom.
    pub endpoint: Option<String>,
}

impl SealSpec {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if let Some(rest) = spec.strip_prefix("pkcs11:") {
            Pkcs11Spec::parse(rest).map(Self::Pkcs11)
        } else if let Some(rest) = spec.strip_prefix("awskms:") {
            KmsSpec::parse(rest).map(Self::AwsKms)
        } else {
            Err(format!(
                "a seal is pkcs11:module=...;token=...;label=... or awskms:KEY_ARN[;endpoint=...], got {:?}",
                spec.split(':').next().unwrap_or_default()
            ))
        }
    }
}

impl std::fmt::Display for SealSpec {
    /// The specification again, never with a secret (a PIN is never part of one).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pkcs11(p) => {
                write!(
                    f,
                    "pkcs11:module={};token={};label={}",
                    p.module.display(),
                    p.token,
                    p.label
                )?;
                if let Some(pf) = &p.pin_file {
                    write!(f, ";pin-file={}", pf.display())?;
                }
                Ok(())
            }
            Self::AwsKms(k) => {
                write!(f, "awskms:{}", k.key)?;
                if let Some(r) = &k.region
                    && region_of_arn(&k.key).is_none()
                {
                    write!(f, ";region={r}")?;
                }
                if let Some(e) = &k.endpoint {
                    write!(f, ";endpoint={e}")?;
                }
                Ok(())
            }
        }
    }
}

/// `name=value` pairs separated by `;`; a part without `=` is returned apart (at most one).
fn pairs(text: &str) -> Result<(Option<String>, BTreeMap<String, String>), String> {
    let mut bare = None;
    let mut map = BTreeMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                if v.is_empty() {
                    return Err(format!("the seal parameter {k} is empty"));
                }
                if map.insert(k.clone(), v).is_some() {
                    return Err(format!("the seal parameter {k} is given twice"));
                }
            }
            None if bare.is_none() => bare = Some(part.to_string()),
            None => return Err(format!("unexpected seal parameter {part:?} (name=value)")),
        }
    }
    Ok((bare, map))
}

impl Pkcs11Spec {
    fn parse(text: &str) -> Result<Self, String> {
        let (bare, mut map) = pairs(text)?;
        if let Some(b) = bare {
            return Err(format!(
                "unexpected pkcs11 seal parameter {b:?}: give module=, token= and label="
            ));
        }
        if map.contains_key("pin") {
            // A PIN in a spec ends up in shell history, `ps` and config files.
            return Err(
                "the PKCS#11 PIN is never part of the seal: use pin-file=FILE or STRONGROOM_PKCS11_PIN"
                    .into(),
            );
        }
        let mut take = |k: &str| {
            map.remove(k).ok_or_else(|| {
                format!("the pkcs11 seal needs {k}= (module=...;token=...;label=...)")
            })
        };
        let spec = Self {
            module: PathBuf::from(take("module")?),
            token: take("token")?,
            label: take("label")?,
            pin_file: map.remove("pin-file").map(PathBuf::from),
        };
        if let Some(k) = map.keys().next() {
            return Err(format!(
                "unknown pkcs11 seal parameter {k} (module, token, label, pin-file)"
            ));
        }
        Ok(spec)
    }
}

impl KmsSpec {
    fn parse(text: &str) -> Result<Self, String> {
        let (bare, mut map) = pairs(text)?;
        let key = match (bare, map.remove("key")) {
            (Some(_), Some(_)) => return Err("the awskms seal names its key twice".into()),
            (Some(k), None) | (None, Some(k)) => k,
            (None, None) => {
                return Err("the awskms seal needs a key: awskms:KEY_ARN or awskms:key=...".into());
            }
        };
        let given = map.remove("region");
        let region = match (region_of_arn(&key), given) {
            (Some(a), Some(g)) if a != g => {
                return Err(format!(
                    "the key ARN is in region {a}, but the seal says region={g}"
                ));
            }
            (Some(a), _) => Some(a.to_string()),
            (None, g) => g,
        };
        if key.starts_with("arn:") && region_of_arn(&key).is_none() {
            return Err(format!(
                "{key:?} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID or alias/NAME)"
            ));
        }
        let endpoint = map.remove("endpoint");
        if let Some(e) = &endpoint
            && !(e.starts_with("https://") || e.starts_with("http://"))
        {
            return Err(format!(
                "the KMS endpoint must be an http(s) URL, got {e:?}"
            ));
        }
        if let Some(k) = map.keys().next() {
            return Err(format!(
                "unknown awskms seal parameter {k} (key, region, endpoint)"
            ));
        }
        Ok(Self {
            key,
            region,
            endpoint,
        })
    }
}

/// The region of `arn:PARTITION:kms:REGION:ACCOUNT:key/...` (or `alias/...`).
fn region_of_arn(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "kms", region, account, resource]
            if !region.is_empty()
                && !account.is_empty()
                && (resource.starts_with("key/") || resource.starts_with("alias/")) =>
        {
            Some(region)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs11_specs() {
        let s = SealSpec::parse(
            "pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=prod;label=strongroom-root",
        )
        .unwrap();
        assert_eq!(
            s,
            SealSpec::Pkcs11(Pkcs11Spec {
                module: "/usr/lib/softhsm/libsofthsm2.so".into(),
                token: "prod".into(),
                label: "strongroom-root".into(),
                pin_file: None,
            })
        );
        assert_eq!(
            s.to_string(),
            "pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=prod;label=strongroom-root"
        );
        let s =
            SealSpec::parse("pkcs11: label=k ; token=t;module=/m.so;pin-file=/run/pin").unwrap();
        let SealSpec::Pkcs11(p) = &s else { panic!() };
        assert_eq!(
            p.pin_file.as_deref(),
            Some(std::path::Path::new("/run/pin"))
        );
        assert_eq!(SealSpec::parse(&s.to_string()).unwrap(), s);

        for (bad, why) in [
            ("pkcs11:module=/m.so;token=t", "needs label="),
            (
                "pkcs11:module=/m.so;token=t;label=k;pin=1234",
                "never part of the seal",
            ),
            (
                "pkcs11:module=/m.so;token=t;label=k;slot=0",
                "unknown pkcs11 seal parameter slot",
            ),
            ("pkcs11:module=/m.so;token=t;token=u;label=k", "given twice"),
            ("pkcs11:module=;token=t;label=k", "module is empty"),
            ("hsm:whatever", "a seal is pkcs11"),
        ] {
            let e = SealSpec::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("1234"), "no PIN in an error: {e}");
        }
    }

    #[test]
    fn awskms_specs() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let s =
            SealSpec::parse(&format!("awskms:{arn};endpoint=https://kms.example:8790")).unwrap();
        assert_eq!(
            s,
            SealSpec::AwsKms(KmsSpec {
                key: arn.into(),
                region: Some("eu-west-1".into()),
                endpoint: Some("https://kms.example:8790".into()),
            })
        );
        assert_eq!(SealSpec::parse(&s.to_string()).unwrap(), s);
        let s = SealSpec::parse("awskms:key=alias/strongroom;region=us-east-2").unwrap();
        assert_eq!(
            s,
            SealSpec::AwsKms(KmsSpec {
                key: "alias/strongroom".into(),
                region: Some("us-east-2".into()),
                endpoint: None,
            })
        );
        assert_eq!(s.to_string(), "awskms:alias/strongroom;region=us-east-2");
        assert_eq!(
            SealSpec::parse("awskms:1234abcd-12ab-34cd-56ef-1234567890ab").unwrap(),
            SealSpec::AwsKms(KmsSpec {
                key: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                region: None,
                endpoint: None,
            })
        );
        for (bad, why) in [
            (
                format!("awskms:{arn};region=us-east-1"),
                "is in region eu-west-1",
            ),
            ("awskms:".into(), "needs a key"),
            ("awskms:a;key=b".into(), "names its key twice"),
            ("awskms:arn:aws:s3:::bucket".into(), "not a KMS key ARN"),
            ("awskms:k;endpoint=kms.example".into(), "http(s) URL"),
            (
                "awskms:k;profile=x".into(),
                "unknown awskms seal parameter profile",
            ),
        ] {
            let e = SealSpec::parse(&bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
