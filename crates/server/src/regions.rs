//! The regions one deployment serves (`--regions`, issue 14). Each region has its own store —
//! its own secrets, parameters, KMS keys and aliases, alarms and metrics — as AWS regions are
//! isolated from one another: a region is a set of services over its store. IAM and STS are
//! global, as in AWS: their directory lives in the home region's store.
//!
//! The home region (the first configured) keeps the data directory's own store, so a
//! single-region data directory is the home region of a multi-region one unchanged; another
//! region's store is `regions/<name>/` inside it.

use std::path::Path;
use std::sync::Arc;

use strongroom_barrier::Barrier;
use strongroom_store::Store;
use strongroom_store::cache::CachedStore;
use strongroom_store::sqlite::SqliteStore;

use crate::audit::Auditor;
use crate::clock::Clock;
use crate::services::cloudtrail::CloudTrail;
use crate::services::cloudwatch::{CloudWatch, Webhook};
use crate::services::kms::Kms;
use crate::services::secretsmanager::SecretsManager;
use crate::services::ssm::Ssm;

/// One region's services.
pub struct Region {
    pub name: String,
    pub store: Arc<dyn Store>,
    pub kms: Arc<Kms>,
    pub secretsmanager: Arc<SecretsManager>,
    pub ssm: Ssm,
    pub cloudwatch: Arc<CloudWatch>,
    pub cloudtrail: CloudTrail,
}

/// What every region's services share.
pub struct Shared<'a> {
    pub barrier: &'a Arc<Barrier>,
    pub clock: &'a Arc<dyn Clock>,
    pub account_id: &'a str,
    pub audit: &'a Arc<Auditor>,
    pub webhooks: &'a [Webhook],
}

impl Region {
    /// The services of region `name` over `store`. `data_dir`: the home region's, for the
    /// alarms it kept in a file before they moved into the store.
    pub async fn open(
        name: &str,
        store: Arc<dyn Store>,
        shared: &Shared<'_>,
        data_dir: Option<&Path>,
    ) -> Result<Self, String> {
        let (clock, account_id) = (shared.clock, shared.account_id.to_string());
        let kms = Arc::new(
            Kms::load(
                store.clone(),
                shared.barrier.clone(),
                clock.clone(),
                name.to_string(),
                account_id.clone(),
            )
            .await
            .map_err(|e| format!("region {name}: {e}"))?,
        );
        let default_key_id = kms
            .managed_key_id(crate::services::kms::SECRETS_MANAGER_KEY)
            .ok_or_else(|| {
                format!("region {name}: the managed key aws/secretsmanager is missing")
            })?;
        let secretsmanager = Arc::new(SecretsManager::new(
            store.clone(),
            shared.barrier.clone(),
            clock.clone(),
            name.to_string(),
            account_id.clone(),
            default_key_id,
            kms.clone(),
        ));
        let ssm = Ssm::new(
            store.clone(),
            shared.barrier.clone(),
            kms.clone(),
            secretsmanager.clone(),
            clock.clone(),
            name.to_string(),
            account_id.clone(),
        );
        let cloudwatch = Arc::new(
            CloudWatch::load(
                clock.clone(),
                name.to_string(),
                account_id,
                shared.webhooks.to_vec(),
                shared.audit.clone(),
                store.clone(),
                data_dir,
            )
            .await?,
        );
        Ok(Self {
            name: name.to_string(),
            store,
            kms,
            secretsmanager,
            ssm,
            cloudwatch,
            cloudtrail: CloudTrail::new(shared.audit.clone(), name.to_string()),
        })
    }
}

/// The store of a region other than the home one: `regions/<name>/` in the data directory,
/// or memory in dev mode.
pub async fn open_store(data_dir: Option<&Path>, name: &str) -> Result<Arc<dyn Store>, String> {
    let store = match data_dir {
        Some(dir) => {
            // Owner-only, as the data directory itself.
            let regions = dir.join("regions");
            crate::server::prepare_data_dir(&regions)?;
            let dir = regions.join(name);
            crate::server::prepare_data_dir(&dir)?;
            SqliteStore::open(&dir).await
        }
        None => SqliteStore::in_memory().await,
    }
    .map_err(|e| format!("region {name}: {e}"))?;
    Ok(Arc::new(CachedStore::new(store)))
}

/// Every region served, the home region first.
pub struct Regions(Vec<Arc<Region>>);

impl Regions {
    pub fn new(home: Region, others: Vec<Region>) -> Self {
        let mut all = vec![Arc::new(home)];
        all.extend(others.into_iter().map(Arc::new));
        Self(all)
    }

    pub fn home(&self) -> &Arc<Region> {
        &self.0[0]
    }

    /// The region a request was signed for, if served here.
    pub fn get(&self, name: &str) -> Option<&Arc<Region>> {
        self.0.iter().find(|r| r.name == name)
    }

    /// The region a request signed for `name` is served in: global services (IAM, signed
    /// for us-east-1 whatever the home region) in the home region.
    pub fn for_request(&self, name: &str) -> &Arc<Region> {
        self.get(name).unwrap_or_else(|| self.home())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Region>> {
        self.0.iter()
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|r| r.name.clone()).collect()
    }
}
