//! The regions one deployment serves (`--regions`, issue 14). Each region has its own store —
//! its own secrets, parameters, KMS keys and aliases, alarms and metrics — as AWS regions are
//! isolated from one another: a region is a set of services over its store. IAM and STS are
//! global, as in AWS: their directory lives in the home region's store.
//!
//! The home region (the first configured) keeps the data directory's own store, so a
//! single-region data directory is the home region of a multi-region one unchanged; another
//! region's store is `regions/<name>/` inside it. On PostgreSQL (`--store postgres://...`)
//! each region is a schema of the one database, named the same way (see [`open_store`]).

use std::path::Path;
use std::sync::Arc;

use strongroom_barrier::Barrier;
use strongroom_store::Store;
use strongroom_store::cache::CachedStore;
use strongroom_store::postgres::PostgresStore;
use strongroom_store::sqlite::SqliteStore;

use crate::config::StoreLocation;

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

/// The store of region `name`. SQLite: the home region's is the data directory's own
/// `strongroom.db`, another's `regions/<name>/` inside it; memory in dev mode. PostgreSQL: the
/// home region's schema is `strongroom`, another's `strongroom_<name, - as _>`.
pub async fn open_store(
    data_dir: Option<&Path>,
    location: &StoreLocation,
    name: &str,
    home: bool,
    cache_entries: usize,
) -> Result<Arc<dyn Store>, String> {
    let failed = |e: strongroom_store::StoreError| format!("region {name}: {e}");
    let store: Arc<dyn Store> = match (location, data_dir) {
        (StoreLocation::Postgres { url, password_file }, _) => {
            let options = StoreLocation::postgres_options_for(url, password_file.as_deref())?;
            let schema = strongroom_store::postgres::schema_for_region(name, home);
            let store = PostgresStore::open_with(options, &schema)
                .await
                .map_err(failed)?;
            tracing::info!(region = name, schema, store = ?location, "region store on PostgreSQL");
            let cached = CachedStore::with_capacity(store, cache_entries);
            // Other nodes may write here: no copies are served until their changes are heard
            // (crate::cluster).
            cached.hearing_others(false);
            Arc::new(cached)
        }
        (StoreLocation::Sqlite, Some(dir)) => {
            let dir = if home {
                dir.to_path_buf()
            } else {
                // Owner-only, as the data directory itself.
                let regions = dir.join("regions");
                crate::server::prepare_data_dir(&regions)?;
                let dir = regions.join(name);
                crate::server::prepare_data_dir(&dir)?;
                dir
            };
            Arc::new(CachedStore::with_capacity(
                SqliteStore::open(&dir).await.map_err(failed)?,
                cache_entries,
            ))
        }
        (StoreLocation::Sqlite, None) => Arc::new(CachedStore::with_capacity(
            SqliteStore::in_memory().await.map_err(failed)?,
            cache_entries,
        )),
    };
    Ok(store)
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
