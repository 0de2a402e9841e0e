//! The time-dependent KMS rules on a manual clock: automatic rotation when due, deletion when
//! the waiting period ends (and what that does to ciphertexts), and persistence across a
//! restart (materials and aliases reload from the store).

use crate::pipeline::Operation as _;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use strongroom_barrier::{Barrier, RootKey};
use strongroom_domain::secret::MS_PER_DAY;
use strongroom_store::Store;

use super::shapes::Input;
use super::{Kms, KmsError};
use crate::clock::{Clock, ManualClock};

use crate::test_support as ts;

async fn load(store: Arc<dyn Store>, root: &RootKey, clock: Arc<ManualClock>) -> Kms {
    Kms::load(
        store,
        Arc::new(Barrier::new(root)),
        clock,
        ts::REGION.into(),
        ts::ACCOUNT.into(),
    )
    .await
    .unwrap()
}

async fn call(kms: &Kms, op: &str, body: Value) -> Result<Value, KmsError> {
    let op = super::ops::Op::from_name(op).expect("a KMS operation");
    let input = Input::parse(op, body.to_string().as_bytes()).map_err(KmsError::Serialization)?;
    let out = kms.dispatch(&input, &mut Vec::new()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

async fn encrypt(kms: &Kms, key: &str, text: &str) -> String {
    call(
        kms,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": B64.encode(text)}),
    )
    .await
    .unwrap()["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn decrypt(kms: &Kms, blob: &str) -> Result<String, KmsError> {
    let out = call(kms, "Decrypt", json!({"CiphertextBlob": blob})).await?;
    Ok(String::from_utf8(B64.decode(out["Plaintext"].as_str().unwrap()).unwrap()).unwrap())
}

#[tokio::test]
async fn managed_keys_exist_once_and_survive_a_restart_with_rotations_and_aliases() {
    let root = RootKey::generate().unwrap();
    let (store, clock) = (ts::store().await, ts::clock());
    let kms = load(store.clone(), &root, clock.clone()).await;
    assert_eq!(kms.count(), 2, "aws/secretsmanager and aws/ssm");
    let key = call(&kms, "CreateKey", json!({})).await.unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &kms,
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": key}),
    )
    .await
    .unwrap();
    let before = encrypt(&kms, "alias/app", "before rotation").await;
    call(&kms, "RotateKeyOnDemand", json!({"KeyId": key}))
        .await
        .unwrap();
    let after = encrypt(&kms, "alias/app", "after rotation").await;

    let restarted = load(store, &root, clock).await;
    assert_eq!(restarted.count(), 3, "no second set of managed keys");
    assert_eq!(
        decrypt(&restarted, &before).await.unwrap(),
        "before rotation"
    );
    assert_eq!(decrypt(&restarted, &after).await.unwrap(), "after rotation");
    let rotations = call(
        &restarted,
        "ListKeyRotations",
        json!({"KeyId": "alias/app"}),
    )
    .await
    .unwrap();
    assert_eq!(rotations["Rotations"][0]["RotationType"], "ON_DEMAND");
}

#[tokio::test]
async fn automatic_rotation_runs_when_due_and_reschedules() {
    let root = RootKey::generate().unwrap();
    let (store, clock) = (ts::store().await, ts::clock());
    let kms = load(store, &root, clock.clone()).await;
    let key = call(&kms, "CreateKey", json!({})).await.unwrap()["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &kms,
        "EnableKeyRotation",
        json!({"KeyId": key, "RotationPeriodInDays": 90}),
    )
    .await
    .unwrap();
    let old = encrypt(&kms, &key, "old").await;
    clock.advance(89 * MS_PER_DAY);
    assert!(kms.rotate_due().await.is_empty(), "not due yet");
    clock.advance(MS_PER_DAY);
    let events = kms.rotate_due().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].name, events[0].key_arn.as_str()),
        ("RotateKey", key.as_str())
    );
    let status = call(&kms, "GetKeyRotationStatus", json!({"KeyId": key}))
        .await
        .unwrap();
    let next = status["NextRotationDate"].as_f64().unwrap();
    assert_eq!(next, (clock.now_ms() + 90 * MS_PER_DAY) as f64 / 1000.0);
    assert!(kms.rotate_due().await.is_empty(), "rescheduled");
    assert_eq!(decrypt(&kms, &old).await.unwrap(), "old");
    let new = encrypt(&kms, &key, "new").await;
    assert_ne!(
        B64.decode(&old).unwrap()[..50],
        B64.decode(&new).unwrap()[..50],
        "new ciphertexts name the new material"
    );
}

#[tokio::test]
async fn a_key_is_deleted_when_its_waiting_period_ends_not_before() {
    let root = RootKey::generate().unwrap();
    let (store, clock) = (ts::store().await, ts::clock());
    let kms = load(store.clone(), &root, clock.clone()).await;
    let key = call(&kms, "CreateKey", json!({})).await.unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &kms,
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": key}),
    )
    .await
    .unwrap();
    let blob = encrypt(&kms, &key, "data").await;
    call(
        &kms,
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    )
    .await
    .unwrap();
    clock.advance(7 * MS_PER_DAY - 1);
    assert!(kms.delete_due().await.is_empty());
    // Cancelled and rescheduled: the window starts again.
    call(&kms, "CancelKeyDeletion", json!({"KeyId": key}))
        .await
        .unwrap();
    call(
        &kms,
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    )
    .await
    .unwrap();
    clock.advance(2);
    assert!(kms.delete_due().await.is_empty());
    clock.advance(7 * MS_PER_DAY);
    let events = kms.delete_due().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "DeleteKey");
    assert!(matches!(
        call(&kms, "DescribeKey", json!({"KeyId": key})).await,
        Err(KmsError::NotFound(_))
    ));
    assert!(matches!(
        call(&kms, "DescribeKey", json!({"KeyId": "alias/doomed"})).await,
        Err(KmsError::NotFound(_))
    ));
    assert!(
        decrypt(&kms, &blob).await.is_err(),
        "its ciphertexts are lost"
    );
    // Gone from the store too: a restart does not bring it back.
    let restarted = load(store, &root, clock).await;
    assert_eq!(restarted.count(), 2);
}

#[tokio::test]
async fn grants_survive_a_restart_and_name_their_grantees_in_the_checks() {
    let root = RootKey::generate().unwrap();
    let (store, clock) = (ts::store().await, ts::clock());
    let kms = load(store.clone(), &root, clock.clone()).await;
    let key = call(&kms, "CreateKey", json!({})).await.unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let user = format!("arn:aws:iam::{}:user/app", ts::ACCOUNT);
    let g = call(
        &kms,
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": user, "Operations": ["Encrypt"],
               "Constraints": {"EncryptionContextEquals": {"app": "x"}}}),
    )
    .await
    .unwrap();
    let kms = load(store, &root, clock).await;
    let listed = call(&kms, "ListGrants", json!({"KeyId": key}))
        .await
        .unwrap();
    assert_eq!(listed["Grants"][0]["GrantId"], g["GrantId"]);
    assert_eq!(listed["Grants"][0]["GranteePrincipal"], json!(user));

    let grantees = |body: Value| {
        let input = Input::parse(super::ops::Op::Encrypt, body.to_string().as_bytes()).unwrap();
        kms.authorization_checks(super::ops::Op::Encrypt, &input)
            .remove(0)
            .grantees
    };
    let plaintext = B64.encode("x");
    assert_eq!(
        grantees(json!({"KeyId": key, "Plaintext": plaintext,
                        "EncryptionContext": {"app": "x"}})),
        vec![user.clone()]
    );
    assert!(grantees(json!({"KeyId": key, "Plaintext": plaintext})).is_empty());
    assert!(
        grantees(json!({"KeyId": key, "Plaintext": plaintext,
                        "EncryptionContext": {"app": "x", "more": "y"}}))
        .is_empty()
    );
    // Revoked: gone from the checks at once.
    call(
        &kms,
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": g["GrantId"]}),
    )
    .await
    .unwrap();
    assert!(
        grantees(json!({"KeyId": key, "Plaintext": plaintext,
                        "EncryptionContext": {"app": "x"}}))
        .is_empty()
    );
    assert!(matches!(
        call(
            &kms,
            "RevokeGrant",
            json!({"KeyId": key, "GrantId": g["GrantId"]})
        )
        .await,
        Err(KmsError::NotFound(_))
    ));
}
