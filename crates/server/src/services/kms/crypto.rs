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
use strongroom_barrier::Barrier;
use strongroom_domain::kms::{self, KeyManager};
use zeroize::Zeroizing;

use super::keys::{key_id, state_error};
use super::shapes::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, GenerateDataKeyRequest,
    GenerateDataKeyResponse, GenerateDataKeyWithoutPlaintextRequest,
    GenerateDataKeyWithoutPlaintextResponse, GenerateRandomRequest, GenerateRandomResponse,
    ReEncryptRequest, ReEncryptResponse,
};
use super::{KeyRecord, Kms, KmsError};
use crate::sensitive::Sensitive;

const ALGORITHM: &str = "SYMMETRIC_DEFAULT";

/// What GenerateDataKey and GenerateDataKeyWithoutPlaintext have in common.
struct DataKeyRequest<'a> {
    key_id: &'a str,
    context: &'a BTreeMap<String, String>,
    number_of_bytes: Option<i64>,
    key_spec: Option<&'a str>,
    dry_run: Option<bool>,
}

struct DataKey {
    ciphertext_blob: String,
    key_arn: String,
    plaintext: Zeroizing<Vec<u8>>,
}

static NO_CONTEXT: BTreeMap<String, String> = BTreeMap::new();

/// An encryption context member; absent is the empty context.
fn context(given: &Option<BTreeMap<String, String>>) -> &BTreeMap<String, String> {
    given.as_ref().unwrap_or(&NO_CONTEXT)
}

fn check_algorithm(given: Option<&str>) -> Result<(), KmsError> {
    match given {
        None | Some(ALGORITHM) => Ok(()),
        Some(other) => Err(KmsError::InvalidKeyUsage(format!(
            "The encryption algorithm {other} is not compatible with the key spec SYMMETRIC_DEFAULT."
        ))),
    }
}

pub(super) fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
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

/// Plaintext for an answer (base64 encodes into one exact allocation, which it hands over).
fn b64(bytes: &[u8]) -> Sensitive {
    Sensitive::new(B64.encode(bytes))
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

    pub(super) fn encrypt(&self, input: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        check_algorithm(input.encryption_algorithm.as_deref())?;
        let plaintext = decode("plaintext", input.plaintext.as_deref())?;
        if plaintext.is_empty() || plaintext.len() > kms::MAX_PLAINTEXT {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and {}",
                kms::MAX_PLAINTEXT
            )));
        }
        let key = self.usable_key(key_id(&input.key_id))?;
        dry_run(input.dry_run)?;
        Ok(EncryptResponse {
            ciphertext_blob: Some(self.seal_blob(
                &key,
                context(&input.encryption_context),
                &plaintext,
            )?),
            key_id: Some(key.arn),
            encryption_algorithm: Some(ALGORITHM.into()),
        })
    }

    pub(super) fn decrypt(&self, input: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        check_algorithm(input.encryption_algorithm.as_deref())?;
        let blob = decode("ciphertextBlob", input.ciphertext_blob.as_deref())?;
        let (key, plaintext) = self.open_blob(
            &blob,
            context(&input.encryption_context),
            input.key_id.as_deref(),
        )?;
        dry_run(input.dry_run)?;
        Ok(DecryptResponse {
            key_id: Some(key.arn),
            plaintext: Some(b64(&plaintext)),
            encryption_algorithm: Some(ALGORITHM.into()),
            ..DecryptResponse::default()
        })
    }

    pub(super) fn re_encrypt(
        &self,
        input: &ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        check_algorithm(input.source_encryption_algorithm.as_deref())?;
        check_algorithm(input.destination_encryption_algorithm.as_deref())?;
        let blob = decode("ciphertextBlob", input.ciphertext_blob.as_deref())?;
        let (source, plaintext) = self.open_blob(
            &blob,
            context(&input.source_encryption_context),
            input.source_key_id.as_deref(),
        )?;
        let destination = self.usable_key(key_id(&input.destination_key_id))?;
        dry_run(input.dry_run)?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Some(self.seal_blob(
                &destination,
                context(&input.destination_encryption_context),
                &plaintext,
            )?),
            source_key_id: Some(source.arn),
            key_id: Some(destination.arn),
            source_encryption_algorithm: Some(ALGORITHM.into()),
            destination_encryption_algorithm: Some(ALGORITHM.into()),
            ..ReEncryptResponse::default()
        })
    }

    /// A new data key sealed under the named key: (the ciphertext blob, the key's ARN, the
    /// data key itself).
    fn data_key(&self, input: DataKeyRequest<'_>) -> Result<DataKey, KmsError> {
        let len = kms::data_key_len(input.key_spec, input.number_of_bytes)
            .map_err(KmsError::Validation)?;
        let key = self.usable_key(input.key_id)?;
        dry_run(input.dry_run)?;
        let data_key = random_bytes(len)?;
        Ok(DataKey {
            ciphertext_blob: self.seal_blob(&key, input.context, &data_key)?,
            key_arn: key.arn,
            plaintext: data_key,
        })
    }

    pub(super) fn generate_data_key(
        &self,
        input: &GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let key = self.data_key(DataKeyRequest {
            key_id: key_id(&input.key_id),
            context: context(&input.encryption_context),
            number_of_bytes: input.number_of_bytes,
            key_spec: input.key_spec.as_deref(),
            dry_run: input.dry_run,
        })?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Some(key.ciphertext_blob),
            plaintext: Some(b64(&key.plaintext)),
            key_id: Some(key.key_arn),
            ..GenerateDataKeyResponse::default()
        })
    }

    pub(super) fn generate_data_key_without_plaintext(
        &self,
        input: &GenerateDataKeyWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        let key = self.data_key(DataKeyRequest {
            key_id: key_id(&input.key_id),
            context: context(&input.encryption_context),
            number_of_bytes: input.number_of_bytes,
            key_spec: input.key_spec.as_deref(),
            dry_run: input.dry_run,
        })?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: Some(key.ciphertext_blob),
            key_id: Some(key.key_arn),
            ..GenerateDataKeyWithoutPlaintextResponse::default()
        })
    }

    pub(super) fn generate_random(
        &self,
        input: &GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
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
        Ok(GenerateRandomResponse {
            plaintext: Some(b64(&random_bytes(n as usize)?)),
            ciphertext_for_recipient: None,
        })
    }
}
