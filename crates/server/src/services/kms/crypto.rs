//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateDataKeyWithoutPlaintext, GenerateRandom.
//!
//! Ciphertext blobs come from the barrier: they name their key and key material, and are
//! bound to the encryption context (sorted pairs), so Decrypt needs no KeyId and a wrong
//! context fails as InvalidCiphertextException, as in AWS.

use std::collections::BTreeMap;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use strongroom_barrier::Barrier;
use strongroom_domain::kms::{self, KeyManager};
use zeroize::Zeroizing;

use super::keys::state_error;
use super::{KeyRecord, Kms, KmsError};

const ALGORITHM: &str = "SYMMETRIC_DEFAULT";

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct EncryptInput {
    key_id: String,
    plaintext: Option<Zeroizing<String>>,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    encryption_algorithm: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    grant_tokens: Vec<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct DecryptInput {
    ciphertext_blob: Option<String>,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    grant_tokens: Vec<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct ReEncryptInput {
    ciphertext_blob: Option<String>,
    #[serde(default)]
    source_encryption_context: BTreeMap<String, String>,
    source_key_id: Option<String>,
    destination_key_id: String,
    #[serde(default)]
    destination_encryption_context: BTreeMap<String, String>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    grant_tokens: Vec<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct GenerateDataKeyInput {
    key_id: String,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    number_of_bytes: Option<i64>,
    key_spec: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    grant_tokens: Vec<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct GenerateRandomInput {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptOutput {
    ciphertext_blob: String,
    key_id: String,
    encryption_algorithm: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptOutput {
    key_id: String,
    plaintext: Zeroizing<String>,
    encryption_algorithm: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReEncryptOutput {
    ciphertext_blob: String,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: &'static str,
    destination_encryption_algorithm: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DataKeyOutput {
    ciphertext_blob: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<Zeroizing<String>>,
    key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RandomOutput {
    plaintext: Zeroizing<String>,
}

fn check_algorithm(given: Option<&str>) -> Result<(), KmsError> {
    match given {
        None | Some(ALGORITHM) => Ok(()),
        Some(other) => Err(KmsError::InvalidKeyUsage(format!(
            "The encryption algorithm {other} is not compatible with the key spec SYMMETRIC_DEFAULT."
        ))),
    }
}

fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::DryRun(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

fn decode(member: &str, b64: Option<&str>) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let b64 = b64.ok_or_else(|| {
        KmsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })?;
    B64.decode(b64)
        .map(Zeroizing::new)
        .map_err(|_| KmsError::Serialization(format!("{member} is not valid base64.")))
}

fn b64(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(B64.encode(bytes))
}

fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let mut out = Zeroizing::new(vec![0u8; n]);
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| KmsError::Internal)?;
    Ok(out)
}

impl Kms {
    /// The key a cryptographic request names, usable by a direct caller: Enabled, and not
    /// an AWS managed key (those serve only their own service, as their key policies say).
    fn usable_key(&self, given: &str) -> Result<KeyRecord, KmsError> {
        let key = self.find(given)?;
        if key.meta.manager == KeyManager::Aws {
            return Err(KmsError::AccessDenied(format!(
                "{} is an AWS managed key: only the service it belongs to may use it for cryptographic operations.",
                key.arn
            )));
        }
        kms::usable(key.meta.state).map_err(|u| state_error(&key, u))?;
        Ok(key)
    }

    fn seal_blob(
        &self,
        key: &KeyRecord,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<String, KmsError> {
        let blob = self
            .barrier
            .encrypt_blob(&key.key_id, &kms::canonical_context(context), plaintext)
            .map_err(|_| KmsError::Internal)?;
        Ok(B64.encode(blob))
    }

    /// Open a blob: (its key, the plaintext). `expected` is the KeyId the caller named, if any.
    fn open_blob(
        &self,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        expected: Option<&str>,
    ) -> Result<(KeyRecord, Zeroizing<Vec<u8>>), KmsError> {
        let invalid = || KmsError::InvalidCiphertext(String::new());
        let key_id = Barrier::blob_key_id(blob).ok_or_else(invalid)?;
        if let Some(given) = expected {
            let named = self.find(given)?;
            if named.key_id != key_id {
                return Err(KmsError::IncorrectKey(
                    "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                ));
            }
        }
        let key = self.usable_key(key_id)?;
        let plaintext = self
            .barrier
            .decrypt_blob(blob, &kms::canonical_context(context))
            .map_err(|_| invalid())?;
        Ok((key, plaintext))
    }

    pub(super) fn encrypt(&self, input: EncryptInput) -> Result<EncryptOutput, KmsError> {
        check_algorithm(input.encryption_algorithm.as_deref())?;
        let plaintext = decode("plaintext", input.plaintext.as_deref().map(String::as_str))?;
        if plaintext.is_empty() || plaintext.len() > kms::MAX_PLAINTEXT {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and {}",
                kms::MAX_PLAINTEXT
            )));
        }
        let key = self.usable_key(&input.key_id)?;
        dry_run(input.dry_run)?;
        Ok(EncryptOutput {
            ciphertext_blob: self.seal_blob(&key, &input.encryption_context, &plaintext)?,
            key_id: key.arn,
            encryption_algorithm: ALGORITHM,
        })
    }

    pub(super) fn decrypt(&self, input: DecryptInput) -> Result<DecryptOutput, KmsError> {
        check_algorithm(input.encryption_algorithm.as_deref())?;
        let blob = decode("ciphertextBlob", input.ciphertext_blob.as_deref())?;
        let (key, plaintext) =
            self.open_blob(&blob, &input.encryption_context, input.key_id.as_deref())?;
        dry_run(input.dry_run)?;
        Ok(DecryptOutput {
            key_id: key.arn,
            plaintext: b64(&plaintext),
            encryption_algorithm: ALGORITHM,
        })
    }

    pub(super) fn re_encrypt(&self, input: ReEncryptInput) -> Result<ReEncryptOutput, KmsError> {
        check_algorithm(input.source_encryption_algorithm.as_deref())?;
        check_algorithm(input.destination_encryption_algorithm.as_deref())?;
        let blob = decode("ciphertextBlob", input.ciphertext_blob.as_deref())?;
        let (source, plaintext) = self.open_blob(
            &blob,
            &input.source_encryption_context,
            input.source_key_id.as_deref(),
        )?;
        let destination = self.usable_key(&input.destination_key_id)?;
        dry_run(input.dry_run)?;
        Ok(ReEncryptOutput {
            ciphertext_blob: self.seal_blob(
                &destination,
                &input.destination_encryption_context,
                &plaintext,
            )?,
            source_key_id: source.arn,
            key_id: destination.arn,
            source_encryption_algorithm: ALGORITHM,
            destination_encryption_algorithm: ALGORITHM,
        })
    }

    fn data_key(
        &self,
        input: GenerateDataKeyInput,
        with_plaintext: bool,
    ) -> Result<DataKeyOutput, KmsError> {
        let len = kms::data_key_len(input.key_spec.as_deref(), input.number_of_bytes)
            .map_err(KmsError::Validation)?;
        let key = self.usable_key(&input.key_id)?;
        dry_run(input.dry_run)?;
        let data_key = random_bytes(len)?;
        Ok(DataKeyOutput {
            ciphertext_blob: self.seal_blob(&key, &input.encryption_context, &data_key)?,
            plaintext: with_plaintext.then(|| b64(&data_key)),
            key_id: key.arn,
        })
    }

    pub(super) fn generate_data_key(
        &self,
        input: GenerateDataKeyInput,
    ) -> Result<DataKeyOutput, KmsError> {
        self.data_key(input, true)
    }

    pub(super) fn generate_data_key_without_plaintext(
        &self,
        input: GenerateDataKeyInput,
    ) -> Result<DataKeyOutput, KmsError> {
        self.data_key(input, false)
    }

    pub(super) fn generate_random(
        &self,
        input: GenerateRandomInput,
    ) -> Result<RandomOutput, KmsError> {
        if input.custom_key_store_id.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Custom key stores are not supported.".into(),
            ));
        }
        let n = input.number_of_bytes.unwrap_or(0);
        if !(1..=1024).contains(&n) {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
            )));
        }
        Ok(RandomOutput {
            plaintext: b64(&random_bytes(n as usize)?),
        })
    }
}
