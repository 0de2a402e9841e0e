//! The root key sealed by a KMS key of another Strongroom (issue 11): the seal's AWS SDK client
//! against a real server's KMS. Only that key, with this deployment's encryption context and
//! working credentials, gives the root key back; every refusal says why.

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use strongroom_barrier::seal::awskms::KmsSeal;
use strongroom_barrier::seal::{AWSKMS, Seal, SealSpec};
use strongroom_barrier::{RootKey, RootKeyFile};

use crate::common::{ACCESS_KEY, SECRET_KEY, TestServer, temp_dir};

fn loader(access: &str, secret: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new(access, secret, None, None, "test"))
}

async fn seal(key: &str, endpoint: &str, deployment: &str, secret: &str) -> KmsSeal {
    // As `--seal` gives it: the region from the ARN, else region=.
    let region = if key.starts_with("arn:") {
        ""
    } else {
        ";region=us-east-1"
    };
    let SealSpec::AwsKms(spec) =
        SealSpec::parse(&format!("awskms:{key}{region};endpoint={endpoint}")).unwrap()
    else {
        panic!("an awskms spec")
    };
    KmsSeal::connect_with(&spec, deployment, loader(ACCESS_KEY, secret))
        .await
        .expect("the seal is configured")
}

fn err<T>(r: Result<T, strongroom_barrier::BarrierError>) -> String {
    match r {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_root_key_sealed_by_another_strongrooms_kms_key() {
    let mut kms_server = TestServer::start("seal-kms").await;
    let endpoint = kms_server.endpoint();
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    let kms = aws_sdk_kms::Client::from_conf(conf);
    let arn = |k: aws_sdk_kms::operation::create_key::CreateKeyOutput| {
        k.key_metadata.unwrap().arn.unwrap()
    };
    let key = arn(kms.create_key().send().await.unwrap());
    let other = arn(kms.create_key().send().await.unwrap());
    assert!(key.starts_with("arn:aws:kms:us-east-1:"), "{key}");

    let dir = temp_dir("seal-node");
    let path = dir.join("root.key");
    let sealed = seal(&key, &endpoint, "111122223333", SECRET_KEY).await;
    let (root, created) = RootKey::load_or_create(&path, Some(&sealed)).await.unwrap();
    assert!(created);
    let RootKeyFile::Sealed(info) = RootKey::file_kind(&path).unwrap() else {
        panic!("sealed")
    };
    assert_eq!(info.kind, AWSKMS);
    assert_eq!(info.param("key"), Some(key.as_str()));
    assert_eq!(info.param("region"), Some("us-east-1"));
    assert_eq!(info.param("endpoint"), Some(endpoint.as_str()));
    assert_eq!(info.param("context-deployment"), Some("111122223333"));

    // A restart (a new client, by the ARN's alias-free id as well) opens the same key.
    let again = seal(&key, &endpoint, "111122223333", SECRET_KEY).await;
    assert!(
        RootKey::load(&path, Some(&again))
            .await
            .unwrap()
            .same_as(&root)
    );
    let by_alias = {
        kms.create_alias()
            .alias_name("alias/strongroom-root")
            .target_key_id(&key)
            .send()
            .await
            .unwrap();
        seal("alias/strongroom-root", &endpoint, "x", SECRET_KEY).await
    };
    assert!(
        RootKey::load(&path, Some(&by_alias))
            .await
            .unwrap()
            .same_as(&root),
        "Decrypt uses the recorded encryption context, not the opener's deployment"
    );

    // Without a seal, the file says which it needs.
    let e = err(RootKey::load(&path, None).await);
    assert!(
        e.contains(&format!("sealed by the AWS KMS key {key}")) && e.contains("--seal 'awskms:"),
        "{e}"
    );
    // Another key of the same KMS: refused, naming the key that sealed it.
    let e = err(RootKey::load(
        &path,
        Some(&seal(&other, &endpoint, "111122223333", SECRET_KEY).await),
    )
    .await);
    assert!(
        e.contains("IncorrectKeyException") && e.contains("does not open the root key"),
        "{e}"
    );
    // Wrong credentials: KMS's own refusal, without the secret.
    let e = err(RootKey::load(
        &path,
        Some(
            &seal(
                &key,
                &endpoint,
                "111122223333",
                "wrong/secret/key/0123456789abcdefghijk",
            )
            .await,
        ),
    )
    .await);
    assert!(
        e.contains("KMS Decrypt with the key") && e.contains("Signature"),
        "{e}"
    );
    assert!(!e.contains("wrong/secret"), "{e}");
    // Another deployment's context: the ciphertext does not open for it.
    let mut tampered = std::fs::read_to_string(&path).unwrap();
    tampered = tampered.replace(
        "\"context-deployment\":\"111122223333\"",
        "\"context-deployment\":\"999999999999\"",
    );
    let copy = dir.join("copied.key");
    std::fs::write(&copy, tampered).unwrap();
    let e = err(RootKey::load(&copy, Some(&again)).await);
    assert!(e.contains("InvalidCiphertextException"), "{e}");
    // A disabled key: KMS says so, the server would refuse to start with that reason.
    kms.disable_key().key_id(&key).send().await.unwrap();
    let e = err(RootKey::load(&path, Some(&again)).await);
    assert!(e.contains("DisabledException"), "{e}");
    kms.enable_key().key_id(&key).send().await.unwrap();
    assert!(
        RootKey::load(&path, Some(&again))
            .await
            .unwrap()
            .same_as(&root)
    );

    // The KMS gone: a refusal in bounded time, not a hang.
    kms_server.stop().await;
    let started = std::time::Instant::now();
    let e = err(RootKey::load(&path, Some(&again)).await);
    assert!(e.contains("KMS Decrypt with the key"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(again.kind(), AWSKMS);
    let _ = std::fs::remove_dir_all(&dir);
}
