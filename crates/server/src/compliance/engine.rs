//! [`ComplianceEngine`]: evaluates nodes after check-ins, and the whole
//! fleet after policy changes and at each UTC day change, once per
//! distinct [`EvaluationKey`].
//!
//! A pass reads its nodes in one query and resolves their baselines in
//! memory. Each distinct key is then looked up in the in-memory result
//! cache, then among the day's stored results; only the rest are
//! evaluated: their inventories are read in one query, then decoded,
//! evaluated and encoded for storage on blocking threads spread over the
//! cores. Summaries, results and history rows are written in one
//! transaction of multi-row statements.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use jiff::Timestamp;
use patchline_api::auth::TagScope;
use patchline_api::checkin::Inventory;
use patchline_api::compliance::{EvaluationStats, SummaryBy};
use patchline_api::nodes::NodeComplianceSummary;
use patchline_core::baseline::BaselineError;
use patchline_core::compliance::{EvaluationError, EvaluationInput, Evaluator, utc_day};
use patchline_core::os::OsFamily;

use super::cache::ResultCache;
use super::codec::{self, CodecError, Report};
use super::fleet_view::FleetViewCache;
use super::key::{EvaluationKey, group_by_key};
use super::report::StatusCount;
use super::resolve::BaselineCatalog;
use crate::store::compliance::{
    ComplianceWrite, FleetNode, GroupingTags, HistoryRow, NewResult, NodeResultRow, ResultSummary,
    decode_inventory,
};
use crate::store::records::BaselineRecord;
use crate::store::{Store, StoreError};

/// Distinct result summaries kept in memory by default (a few hundred
/// bytes each): a fleet's distinct inventories times the baselines in use,
/// with room for a day change.
pub const DEFAULT_RESULT_CACHE: usize = 8192;

/// Why an evaluation could not complete.
#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("baseline {name} version {version} does not compile: {source}")]
    Baseline {
        name: String,
        version: i64,
        source: Box<BaselineError>,
    },
    #[error("inventory {hash} is not stored")]
    MissingInventory { hash: String },
    #[error("inventory {hash} against baseline {baseline}: {source}")]
    Evaluation {
        hash: String,
        baseline: String,
        source: EvaluationError,
    },
    #[error("encoding the result of inventory {hash} against baseline {baseline}: {source}")]
    Encoding {
        hash: String,
        baseline: String,
        source: CodecError,
    },
    #[error("an evaluation worker failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The compliance engine; cheap to clone (the state is shared).
#[derive(Clone)]
pub struct ComplianceEngine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    results: ResultCache,
    /// Compiled baselines by (name, version): a version never changes.
    evaluators: Mutex<HashMap<(String, i64), Arc<Evaluator>>>,
    /// The OS family of each inventory hash seen (an inventory is content-
    /// addressed, so its family never changes): resolution then needs no
    /// decoding for known inventories.
    families: Mutex<HashMap<String, OsFamily>>,
    evaluations: AtomicU64,
    /// One fleet pass at a time (two would evaluate the same new keys),
    /// holding the last pass's statistics.
    fleet: tokio::sync::Mutex<Option<EvaluationStats>>,
    /// The in-memory view summaries are folded from.
    fleet_view: FleetViewCache,
    /// The last history row written per node (rows are per node and day).
    history_written: Mutex<HashMap<String, HistoryRow>>,
    /// The policy and the `policy_generation` it was read at.
    policy: tokio::sync::Mutex<Option<(i64, Arc<Policy>)>>,
}

/// The policy of one pass: resolution data and the baseline documents.
struct Policy {
    catalog: BaselineCatalog,
    baselines: HashMap<String, BaselineRecord>,
}

/// Where a worker gets an inventory: already decoded, or its stored
/// (encoding, body), shared by the keys of several baselines; `None` when
/// it has vanished from the store.
enum InventorySource {
    Decoded(Arc<Inventory>),
    Stored(Option<Arc<(String, String)>>),
}

/// One distinct key to evaluate.
struct Job {
    key: EvaluationKey,
    evaluator: Arc<Evaluator>,
    inventory: InventorySource,
}

impl std::fmt::Debug for ComplianceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComplianceEngine")
            .field("evaluations", &self.evaluations())
            .field("cached_results", &self.inner.results.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is one map operation: a panic elsewhere
    // cannot leave a map half-updated.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ComplianceEngine {
    pub fn new(store: Store) -> ComplianceEngine {
        let capacity = NonZeroUsize::new(DEFAULT_RESULT_CACHE).unwrap_or(NonZeroUsize::MIN);
        ComplianceEngine::with_cache_capacity(store, capacity)
    }

    /// An engine keeping at most `capacity` distinct result summaries.
    pub fn with_cache_capacity(store: Store, capacity: NonZeroUsize) -> ComplianceEngine {
        ComplianceEngine {
            inner: Arc::new(Inner {
                store,
                results: ResultCache::new(capacity),
                evaluators: Mutex::new(HashMap::new()),
                families: Mutex::new(HashMap::new()),
                evaluations: AtomicU64::new(0),
                fleet: tokio::sync::Mutex::new(None),
                fleet_view: FleetViewCache::default(),
                history_written: Mutex::new(HashMap::new()),
                policy: tokio::sync::Mutex::new(None),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Writes one evaluation, leaving out the history rows this engine has
    /// already written with the same values (a baseline change that moves
    /// no node's status then rewrites no history).
    async fn write(&self, mut write: ComplianceWrite) -> Result<(), ComplianceError> {
        {
            let written = lock(&self.inner.history_written);
            write
                .history
                .retain(|row| written.get(&row.node_id) != Some(row));
        }
        self.inner.store.write_compliance(&write).await?;
        let mut written = lock(&self.inner.history_written);
        for row in write.history {
            written.insert(row.node_id.clone(), row);
        }
        Ok(())
    }

    /// Nodes per dimension value, status and severity, from the in-memory
    /// fleet view (reloaded only when the fleet changed).
    pub async fn status_counts(
        &self,
        by: SummaryBy,
        scope: Option<&TagScope>,
    ) -> Result<Vec<StatusCount>, ComplianceError> {
        let view = self.inner.fleet_view.get(&self.inner.store).await?;
        Ok(view.status_counts(by, scope))
    }

    /// Distinct evaluations (calls of the core's evaluator) run by this
    /// engine since it was created.
    pub fn evaluations(&self) -> u64 {
        self.inner.evaluations.load(Ordering::Relaxed)
    }

    /// The statistics of the last fleet re-evaluation, if any.
    pub async fn last_fleet_evaluation(&self) -> Option<EvaluationStats> {
        self.inner.fleet.lock().await.clone()
    }

    /// Evaluates one node after its check-in was recorded and stores its
    /// summary and today's history row. `None` when the node is unknown or
    /// has sent no inventory.
    pub async fn evaluate_node(
        &self,
        node_id: &str,
        now: Timestamp,
    ) -> Result<Option<NodeComplianceSummary>, ComplianceError> {
        let store = &self.inner.store;
        let Some(node) = store.compliance_fleet_node(node_id).await? else {
            return Ok(None);
        };
        if node.inventory_hash.is_none() {
            return Ok(None);
        }
        let policy = self.policy().await?;
        let (mut summaries, write, _) = self
            .evaluate_nodes(std::slice::from_ref(&node), &policy, now, false)
            .await?;
        self.write(write).await?;
        Ok(summaries.pop().flatten())
    }

    /// The baseline a node of `family` whose `Patch Group` tag is
    /// `patch_group` is evaluated against (the orchestrator installs
    /// exactly what it approves); `None` when no baseline applies.
    pub async fn baseline_for(
        &self,
        patch_group: Option<&str>,
        family: OsFamily,
    ) -> Result<Option<BaselineRecord>, ComplianceError> {
        let policy = self.policy().await?;
        Ok(policy
            .catalog
            .resolve(patch_group, family)
            .and_then(|resolved| policy.baselines.get(resolved.baseline))
            .cloned())
    }

    /// Re-evaluates every node: after a baseline, patch group or `Patch
    /// Group` tag change, at start-up and after each UTC midnight. The cost
    /// grows with the distinct (inventory, baseline version, day) keys
    /// that are new, not with nodes.
    pub async fn reevaluate_fleet(
        &self,
        now: Timestamp,
    ) -> Result<EvaluationStats, ComplianceError> {
        let mut last = self.inner.fleet.lock().await;
        let started = Instant::now();
        let store = &self.inner.store;
        let nodes = async { Ok::<_, ComplianceError>(store.compliance_fleet_nodes().await?) };
        let (nodes, policy, ()) = tokio::try_join!(nodes, self.policy(), self.seed_families())?;
        let read = started.elapsed();
        let (_, write, distinct_evaluations) =
            self.evaluate_nodes(&nodes, &policy, now, true).await?;
        let evaluated = started.elapsed();
        self.write(write).await?;
        tracing::debug!(
            read_ms = read.as_millis() as u64,
            evaluate_ms = (evaluated - read).as_millis() as u64,
            write_ms = (started.elapsed() - evaluated).as_millis() as u64,
            "fleet pass phases"
        );
        let stats = EvaluationStats {
            at: now,
            distinct_evaluations,
            nodes: nodes.len() as u64,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        tracing::info!(
            nodes = stats.nodes,
            distinct_evaluations = stats.distinct_evaluations,
            elapsed_ms = stats.elapsed_ms,
            "fleet compliance re-evaluated"
        );
        *last = Some(stats.clone());
        Ok(stats)
    }

    /// Every package line of a distinct result (stored; never re-evaluated).
    pub async fn report(&self, key: &EvaluationKey) -> Result<Option<Report>, ComplianceError> {
        Ok(self.inner.store.compliance_report(key).await?)
    }

    /// The current policy: one tiny query when no baseline, patch group or
    /// governance setting changed since it was read (every check-in asks),
    /// a reload otherwise.
    /// The generation is read first, so a change during the reload makes
    /// the next caller reload again.
    async fn policy(&self) -> Result<Arc<Policy>, ComplianceError> {
        let generation = self.inner.store.policy_generation().await?;
        let mut cached = self.inner.policy.lock().await;
        if let Some((seen, policy)) = cached.as_ref()
            && *seen >= generation
        {
            return Ok(Arc::clone(policy));
        }
        let policy = Arc::new(self.load_policy().await?);
        *cached = Some((generation, Arc::clone(&policy)));
        Ok(policy)
    }

    async fn load_policy(&self) -> Result<Policy, ComplianceError> {
        let store = &self.inner.store;
        let (baselines, groups, governance) = tokio::try_join!(
            store.list_baselines(),
            store.list_patch_groups(),
            store.governance_settings()
        )?;
        let mut catalog = BaselineCatalog::default();
        catalog.set_default_patch_group(governance.default_patch_group);
        for record in &baselines {
            catalog.add_baseline(
                &record.name,
                record.os_family,
                record.version,
                record.default_for_family,
            );
        }
        for group in groups {
            catalog.add_patch_group(&group.name, group.baselines);
        }
        let baselines = baselines
            .into_iter()
            .map(|record| (record.name.clone(), record))
            .collect();
        Ok(Policy { catalog, baselines })
    }

    /// Fills the hash → family map from stored summaries once, so a fresh
    /// engine resolves known inventories without decoding them.
    async fn seed_families(&self) -> Result<(), ComplianceError> {
        if !lock(&self.inner.families).is_empty() {
            return Ok(());
        }
        let known = self.inner.store.compliance_inventory_families().await?;
        lock(&self.inner.families).extend(known);
        Ok(())
    }

    fn evaluator(
        &self,
        policy: &Policy,
        name: &str,
        version: i64,
    ) -> Result<Arc<Evaluator>, ComplianceError> {
        let cache_key = (name.to_owned(), version);
        if let Some(evaluator) = lock(&self.inner.evaluators).get(&cache_key) {
            return Ok(Arc::clone(evaluator));
        }
        let record = policy
            .baselines
            .get(name)
            .filter(|record| record.version == version)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("baseline {name} version {version}"),
            })?;
        let evaluator =
            Evaluator::new(&record.baseline).map_err(|source| ComplianceError::Baseline {
                name: name.to_owned(),
                version,
                source: Box::new(source),
            })?;
        let evaluator = Arc::new(evaluator);
        let mut evaluators = lock(&self.inner.evaluators);
        // Older versions of this baseline are not current any more.
        evaluators
            .retain(|(cached, cached_version), _| cached != name || *cached_version == version);
        evaluators.insert(cache_key, Arc::clone(&evaluator));
        Ok(evaluator)
    }

    /// Decodes the inventories whose family is unknown (new hashes),
    /// returning them for evaluation.
    async fn learn_families(
        &self,
        nodes: &[FleetNode],
    ) -> Result<HashMap<String, Arc<Inventory>>, ComplianceError> {
        let unknown: Vec<String> = {
            let families = lock(&self.inner.families);
            let mut seen = HashSet::new();
            nodes
                .iter()
                .filter_map(|node| node.inventory_hash.as_deref())
                .filter(|hash| !families.contains_key(*hash) && seen.insert(*hash))
                .map(str::to_owned)
                .collect()
        };
        if unknown.is_empty() {
            return Ok(HashMap::new());
        }
        let bodies = self.inner.store.inventory_bodies(&unknown).await?;
        let decoded = in_parallel(bodies, |(hash, encoding, body)| {
            decode_inventory(hash, encoding, body).map(|inventory| (hash.clone(), inventory))
        })
        .await?;
        let mut inventories = HashMap::with_capacity(decoded.len());
        let mut families = lock(&self.inner.families);
        for outcome in decoded {
            match outcome {
                Ok((hash, inventory)) => {
                    families.insert(hash.clone(), inventory.os.family);
                    inventories.insert(hash, Arc::new(inventory));
                }
                // One corrupt inventory leaves its nodes unreported, not
                // the fleet unevaluated.
                Err(error) => tracing::warn!(%error, "stored inventory does not decode"),
            }
        }
        Ok(inventories)
    }

    /// Resolves, evaluates (each new distinct key once) and prepares the
    /// write for `nodes`. Returns each node's summary in order, the write,
    /// and the number of distinct evaluations run.
    async fn evaluate_nodes(
        &self,
        nodes: &[FleetNode],
        policy: &Policy,
        now: Timestamp,
        fleet: bool,
    ) -> Result<(Vec<Option<NodeComplianceSummary>>, ComplianceWrite, u64), ComplianceError> {
        let day = utc_day(now);
        let mut decoded = self.learn_families(nodes).await?;

        // Every node to a key, or to "unreported" (index, family, baseline).
        let mut keyed: Vec<(EvaluationKey, (usize, OsFamily))> = Vec::with_capacity(nodes.len());
        let mut unreported: Vec<(usize, Option<OsFamily>, Option<String>)> = Vec::new();
        {
            let families = lock(&self.inner.families);
            for (index, node) in nodes.iter().enumerate() {
                let Some(hash) = node.inventory_hash.as_deref() else {
                    unreported.push((index, None, None));
                    continue;
                };
                let Some(&family) = families.get(hash) else {
                    unreported.push((index, None, None));
                    continue;
                };
                match policy
                    .catalog
                    .resolve(node.tags.patch_group.as_deref(), family)
                {
                    Some(resolved) => keyed.push((
                        EvaluationKey {
                            inventory_hash: hash.to_owned(),
                            baseline: resolved.baseline.to_owned(),
                            baseline_version: resolved.version,
                            day,
                        },
                        (index, family),
                    )),
                    None => {
                        tracing::warn!(node = node.id, %family, "no baseline for the node's OS family");
                        unreported.push((index, Some(family), None));
                    }
                }
            }
        }
        let groups = group_by_key(keyed);

        // Known results: memory first, then the day's stored rows.
        let mut summaries: HashMap<EvaluationKey, Arc<ResultSummary>> = HashMap::new();
        for (key, _) in &groups {
            if let Some(summary) = self.inner.results.get(key) {
                summaries.insert(key.clone(), summary);
            }
        }
        if summaries.len() < groups.len() {
            for (key, summary) in self.inner.store.compliance_result_summaries(day).await? {
                let summary = Arc::new(summary);
                self.inner.results.put(key.clone(), Arc::clone(&summary));
                summaries.entry(key).or_insert(summary);
            }
        }

        // The rest: one job per key.
        let mut jobs = Vec::new();
        let mut to_read = Vec::new();
        for (key, _) in &groups {
            if summaries.contains_key(key) {
                continue;
            }
            let evaluator = match self.evaluator(policy, &key.baseline, key.baseline_version) {
                Ok(evaluator) => evaluator,
                Err(error) => {
                    tracing::warn!(baseline = key.baseline, %error, "baseline unusable");
                    continue;
                }
            };
            let inventory = match decoded.get(&key.inventory_hash) {
                Some(inventory) => InventorySource::Decoded(Arc::clone(inventory)),
                None => {
                    to_read.push(key.inventory_hash.clone());
                    InventorySource::Stored(None)
                }
            };
            jobs.push(Job {
                key: key.clone(),
                evaluator,
                inventory,
            });
        }
        decoded.clear();
        if !to_read.is_empty() {
            to_read.sort_unstable();
            to_read.dedup();
            let bodies: HashMap<String, Arc<(String, String)>> = self
                .inner
                .store
                .inventory_bodies(&to_read)
                .await?
                .into_iter()
                .map(|(hash, encoding, body)| (hash, Arc::new((encoding, body))))
                .collect();
            for job in &mut jobs {
                if let InventorySource::Stored(stored) = &mut job.inventory
                    && let Some(body) = bodies.get(&job.key.inventory_hash)
                {
                    *stored = Some(Arc::clone(body));
                }
            }
        }
        let distinct_evaluations = jobs.len() as u64;
        let workers_started = Instant::now();
        let outcomes = in_parallel(jobs, run_job).await?;
        tracing::debug!(
            jobs = distinct_evaluations,
            workers_ms = workers_started.elapsed().as_millis() as u64,
            "decoded, evaluated and encoded"
        );

        let mut write = ComplianceWrite {
            prune: fleet,
            ..ComplianceWrite::default()
        };
        for (key, outcome) in outcomes {
            self.inner.evaluations.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Ok((mut summary, patches, report)) => {
                    summary.evaluated_at = now;
                    let summary = Arc::new(summary);
                    self.inner.results.put(key.clone(), Arc::clone(&summary));
                    summaries.insert(key.clone(), Arc::clone(&summary));
                    write.results.push(NewResult {
                        key,
                        summary: (*summary).clone(),
                        patches,
                        report,
                    });
                }
                Err(error) => tracing::warn!(%error, "evaluation failed"),
            }
        }

        // Node rows and history rows.
        let mut node_summaries: Vec<Option<NodeComplianceSummary>> = vec![None; nodes.len()];
        for (key, members) in groups {
            let Some(summary) = summaries.get(&key) else {
                for (index, family) in members {
                    unreported.push((index, Some(family), Some(key.baseline.clone())));
                }
                continue;
            };
            for (index, family) in members {
                let node = &nodes[index];
                let scanned_at = node.scanned_at.unwrap_or(now);
                node_summaries[index] = Some(summary.for_node(&key, scanned_at));
                write.history.push(HistoryRow {
                    day,
                    node_id: node.id.clone(),
                    status: Some(summary.status),
                    severity: summary.severity,
                    baseline: Some(key.baseline.clone()),
                    os_family: Some(family),
                    tags: reported_tags(node, &policy.catalog),
                });
                // A fleet pass rewrites only summaries whose result changed
                // (a check-in always rewrites: the scan time moved).
                if !fleet || node.current.as_ref() != Some(&key) {
                    write.nodes.push(NodeResultRow {
                        node_id: node.id.clone(),
                        key: key.clone(),
                        os_family: family,
                        summary: Arc::clone(summary),
                        scanned_at,
                    });
                }
            }
        }
        for (index, family, baseline) in unreported {
            let node = &nodes[index];
            if node.current.is_some() {
                write.cleared_nodes.push(node.id.clone());
            }
            write.history.push(HistoryRow {
                day,
                node_id: node.id.clone(),
                status: None,
                severity: None,
                baseline,
                os_family: family,
                tags: reported_tags(node, &policy.catalog),
            });
        }
        Ok((node_summaries, write, distinct_evaluations))
    }
}

/// Decodes (if needed), evaluates and encodes one distinct key.
/// The grouping tags a history row records: the node's, with its effective
/// patch group (the tag, else the default group in force).
fn reported_tags(node: &FleetNode, catalog: &BaselineCatalog) -> GroupingTags {
    let mut tags = node.tags.clone();
    if tags.patch_group.is_none() {
        tags.patch_group = catalog.effective_patch_group(None).map(str::to_owned);
    }
    tags
}

fn run_job(
    job: &Job,
) -> (
    EvaluationKey,
    Result<(ResultSummary, String, String), ComplianceError>,
) {
    let outcome = (|| {
        let stored;
        let inventory = match &job.inventory {
            InventorySource::Decoded(inventory) => &**inventory,
            InventorySource::Stored(None) => {
                return Err(ComplianceError::MissingInventory {
                    hash: job.key.inventory_hash.clone(),
                });
            }
            InventorySource::Stored(Some(body)) => {
                let (encoding, body) = &**body;
                stored = decode_inventory(&job.key.inventory_hash, encoding, body)?;
                &stored
            }
        };
        let input = EvaluationInput {
            os: &inventory.os,
            installed: &inventory.installed,
            updates: &inventory.updates,
            failed: &inventory.failed,
            pending_reboot: &inventory.pending_reboot,
            today: job.key.day,
        };
        let result =
            job.evaluator
                .evaluate(&input)
                .map_err(|source| ComplianceError::Evaluation {
                    hash: job.key.inventory_hash.clone(),
                    baseline: job.key.baseline.clone(),
                    source,
                })?;
        let encoding_error = |source| ComplianceError::Encoding {
            hash: job.key.inventory_hash.clone(),
            baseline: job.key.baseline.clone(),
            source,
        };
        let patches =
            codec::encode_patch_lines(&codec::patch_lines(&result)).map_err(encoding_error)?;
        let report = codec::encode_report(&result).map_err(encoding_error)?;
        Ok((
            ResultSummary::of(&result, Timestamp::UNIX_EPOCH),
            patches,
            report,
        ))
    })();
    (job.key.clone(), outcome)
}

/// Maps `work` over `items` on blocking threads, one per core, in order.
/// Decoding and evaluating are CPU-bound and must not stall the runtime.
async fn in_parallel<T, R>(items: Vec<T>, work: fn(&T) -> R) -> Result<Vec<R>, ComplianceError>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
{
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(items.len());
    let results = tokio::task::spawn_blocking(move || {
        // Interleaved (item i to thread i mod n) so expensive neighbours
        // spread over the threads.
        let mut outputs: Vec<Option<R>> =
            std::iter::repeat_with(|| None).take(items.len()).collect();
        std::thread::scope(|scope| {
            let items = &items;
            let workers: Vec<_> = (0..threads)
                .map(|first| {
                    scope.spawn(move || {
                        (first..items.len())
                            .step_by(threads)
                            .map(|index| (index, work(&items[index])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(done) => {
                        for (index, output) in done {
                            outputs[index] = Some(output);
                        }
                    }
                    // Re-raised on the blocking task, reported as a JoinError.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        outputs.into_iter().flatten().collect::<Vec<R>>()
    })
    .await?;
    Ok(results)
}
