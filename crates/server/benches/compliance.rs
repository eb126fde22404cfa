//! Compliance engine benchmark on SQLite (a `harness = false` bench, run
//! with `cargo bench -p patchline-server --bench compliance`).
//!
//! Builds a fleet of `PATCHLINE_BENCH_NODES` nodes (default 10,000) sharing
//! `PATCHLINE_BENCH_DISTINCT` inventories (default 500) shaped like Debian
//! servers (1,500 installed packages, about 190 candidate updates), then
//! measures:
//! - the first fleet evaluation (every distinct key new);
//! - re-evaluation after a baseline rule change (the target: < 1 s);
//! - a no-change re-evaluation and a UTC day change;
//! - the summary query for every dimension (the target: p99 < 50 ms), the
//!   node listing and the per-patch report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use patchline_api::checkin::{Inventory, NodeFacts};
use patchline_api::compliance::SummaryBy;
use patchline_api::nodes::tag_keys;
use patchline_core::baseline::{ApprovalRule, Baseline, ComplianceLevel, FilterKey};
use patchline_core::compliance::{ComplianceStatus, utc_day};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::{Classification, InstalledPackage, Severity, Update};
use patchline_server::compliance::ComplianceEngine;
use patchline_server::compliance::report::{aggregate_patches, fold_summaries};
use patchline_server::store::Store;
use patchline_server::store::compliance::ComplianceNodeFilter;
use patchline_server::store::records::{CheckinRecord, NewEnrolmentSecret, NewNode};

const SECRET_HASH: &str = "00000000000000000000000000000000000000000000000000000000000000be";
const INSTALLED: usize = 1500;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: the same fleet on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn debian12() -> OsInfo {
    OsInfo {
        family: OsFamily::Debian,
        id: "debian".into(),
        version_id: "12".into(),
        product: "Debian12".into(),
    }
}

/// Variant `variant`: shares most packages with the others, lags on a few.
fn inventory(variant: usize, today: Date) -> Inventory {
    let mut base = Rng(0x5eed);
    let mut own = Rng(0xabcd_0000 + variant as u64);
    let mut installed = Vec::with_capacity(INSTALLED);
    let mut updates = Vec::new();
    for index in 0..INSTALLED {
        let name = format!("pkg{index:05}");
        let (major, minor) = (base.below(10), base.below(30));
        let revision = if own.below(40) == 0 { 1 } else { 2 };
        installed.push(InstalledPackage {
            name: name.clone(),
            arch: "amd64".into(),
            version: format!("{major}.{minor}-{revision}"),
            source: None,
        });
        if base.below(8) == 0 {
            let (classification, severity) = match base.below(4) {
                0 => (Classification::Security, Severity::Critical),
                1 => (Classification::Security, Severity::Important),
                2 => (Classification::Bugfix, Severity::Unspecified),
                _ => (Classification::Enhancement, Severity::Unspecified),
            };
            updates.push(Update {
                name,
                arch: "amd64".into(),
                version: format!("{major}.{minor}-3"),
                classification,
                severity,
                release_date: today.saturating_sub((base.below(30) as i64).days()),
                advisory_id: Some(format!("DSA-{index}")),
                cves: Vec::new(),
                repository: Some("bookworm-security".into()),
                priority: None,
                section: None,
                reboot_suggested: false,
            });
        }
    }
    let mut inventory = Inventory {
        os: debian12(),
        installed,
        updates,
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    };
    inventory.normalise();
    inventory
}

fn baseline(name: &str, days: u32) -> Baseline {
    Baseline {
        name: name.into(),
        description: String::new(),
        os_family: OsFamily::Debian,
        approval_rules: vec![ApprovalRule::after_days(
            days,
            ComplianceLevel::High,
            true,
            [(FilterKey::Classification, &["security", "bugfix"][..])],
        )],
        approved_patches: Default::default(),
        rejected_patches: Default::default(),
        available_security_updates_compliance: ComplianceStatus::Compliant,
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(samples: &mut [Duration], quantile: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * quantile).round() as usize;
    samples[index.min(samples.len() - 1)]
}

async fn build_fleet(store: &Store, nodes: usize, distinct: usize, now: Timestamp) {
    store
        .insert_enrolment_secret(
            "system",
            NewEnrolmentSecret {
                id: "bench".into(),
                name: "bench".into(),
                secret_hash: SECRET_HASH.into(),
                max_uses: None,
                expires_at: None,
                tags: BTreeMap::new(),
            },
        )
        .await
        .expect("enrolment secret");
    let inventories: Vec<Inventory> = (0..distinct)
        .map(|variant| inventory(variant, utc_day(now)))
        .collect();
    let hashes: Vec<_> = inventories.iter().map(Inventory::content_hash).collect();
    for (hash, inventory) in hashes.iter().zip(&inventories) {
        store
            .put_inventory(hash, inventory)
            .await
            .expect("inventory");
    }
    let groups = ["dev", "test", "prod"];
    for node in 0..nodes {
        let facts = NodeFacts {
            hostname: format!("bench-{node:05}"),
            os: debian12(),
            arch: "amd64".into(),
            kernel: None,
            reboot_required: false,
            agent_version: "bench".into(),
            addresses: Vec::new(),
        };
        let tags = BTreeMap::from([
            (
                tag_keys::PATCH_GROUP.to_string(),
                groups[node % 3].to_string(),
            ),
            (
                tag_keys::ENVIRONMENT.to_string(),
                groups[node % 3].to_string(),
            ),
            (
                tag_keys::ZONE.to_string(),
                format!("zone-{}", (node / 3) % 3),
            ),
            (
                tag_keys::APPLICATION.to_string(),
                format!("app-{:02}", node % 40),
            ),
        ]);
        let id = format!("node-{node:05}");
        store
            .enrol_node(
                SECRET_HASH,
                now,
                NewNode {
                    id: id.clone(),
                    facts: facts.clone(),
                    agent_tags: tags.clone(),
                    credential_hash: format!("{:0>64}", hex::encode(&id)),
                },
            )
            .await
            .expect("enrol");
        store
            .record_checkin(
                &id,
                &CheckinRecord {
                    facts,
                    agent_tags: tags,
                    inventory_hash: hashes[node % distinct].clone(),
                    scanned_at: now,
                    now,
                },
            )
            .await
            .expect("check-in");
    }
}

async fn run() {
    let nodes = env_number("PATCHLINE_BENCH_NODES", 10_000);
    let distinct = env_number("PATCHLINE_BENCH_DISTINCT", 500);
    let rounds = env_number("PATCHLINE_BENCH_ROUNDS", 5);
    let queries = env_number("PATCHLINE_BENCH_QUERIES", 200);
    let dir = tempfile::tempdir().expect("temporary directory");
    // PATCHLINE_BENCH_DB keeps the database for inspection (a new file).
    let path = std::env::var("PATCHLINE_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("bench.db"));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect(&url).await.expect("store");
    let now: Timestamp = "2026-11-25T12:00:00Z".parse().expect("timestamp");

    let started = Instant::now();
    build_fleet(&store, nodes, distinct, now).await;
    println!(
        "fleet: {nodes} nodes, {distinct} distinct inventories of {INSTALLED} packages (setup {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let default = store
        .default_baseline(OsFamily::Debian)
        .await
        .expect("default baseline")
        .expect("a default Debian baseline");
    store
        .put_baseline("user:bench", &baseline(&default.name, 7), true, now)
        .await
        .expect("baseline");

    let engine = ComplianceEngine::new(store.clone());
    let started = Instant::now();
    let stats = engine
        .reevaluate_fleet(now)
        .await
        .expect("first evaluation");
    println!(
        "first fleet evaluation        {:>8.1} ms ({} distinct evaluations, {} nodes)",
        millis(started.elapsed()),
        stats.distinct_evaluations,
        stats.nodes
    );

    let mut changes = Vec::new();
    for round in 0..rounds {
        // A real rule change (the delay alternates), so every key is new.
        let days = if round % 2 == 0 { 3 } else { 7 };
        let at = now + (round as i64 + 1).minutes();
        store
            .put_baseline("user:bench", &baseline(&default.name, days), true, at)
            .await
            .expect("baseline change");
        let started = Instant::now();
        let stats = engine.reevaluate_fleet(at).await.expect("re-evaluation");
        let elapsed = started.elapsed();
        assert_eq!(stats.distinct_evaluations as usize, distinct);
        changes.push(elapsed);
    }
    let worst = changes.iter().max().copied().unwrap_or_default();
    println!(
        "after a baseline change       {:>8.1} ms median, {:.1} ms max over {rounds} changes ({distinct} distinct evaluations, {nodes} nodes each)",
        millis(percentile(&mut changes, 0.5)),
        millis(worst)
    );

    let started = Instant::now();
    let stats = engine
        .reevaluate_fleet(now + 1.hours())
        .await
        .expect("no change");
    println!(
        "no change                     {:>8.1} ms ({} distinct evaluations)",
        millis(started.elapsed()),
        stats.distinct_evaluations
    );
    let restarted = ComplianceEngine::new(store.clone());
    let started = Instant::now();
    let stats = restarted
        .reevaluate_fleet(now + 1.hours())
        .await
        .expect("restart");
    println!(
        "no change, fresh engine       {:>8.1} ms ({} distinct evaluations)",
        millis(started.elapsed()),
        stats.distinct_evaluations
    );
    let started = Instant::now();
    let stats = engine
        .reevaluate_fleet(now + 24.hours())
        .await
        .expect("day change");
    println!(
        "UTC day change                {:>8.1} ms ({} distinct evaluations)",
        millis(started.elapsed()),
        stats.distinct_evaluations
    );

    for by in SummaryBy::ALL {
        let mut samples = Vec::with_capacity(queries);
        for _ in 0..queries {
            let started = Instant::now();
            let counts = store
                .compliance_status_counts(by, None)
                .await
                .expect("summary");
            let lines = fold_summaries(counts);
            samples.push(started.elapsed());
            assert!(!lines.is_empty());
        }
        println!(
            "summary by {:<12}       {:>8.2} ms p50, {:.2} ms p99 ({queries} queries)",
            by.as_str(),
            millis(percentile(&mut samples, 0.5)),
            millis(percentile(&mut samples, 0.99))
        );
    }
    let started = Instant::now();
    let listed = store
        .compliance_node_summaries(&ComplianceNodeFilter::default())
        .await
        .expect("node listing");
    println!(
        "node listing                  {:>8.1} ms ({} rows)",
        millis(started.elapsed()),
        listed.len()
    );
    let mut samples = Vec::with_capacity(20);
    let mut patches = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let weights = store
            .compliance_patch_weights(None)
            .await
            .expect("patch weights");
        let rows = aggregate_patches(weights.iter().map(|(lines, count)| (&lines[..], *count)));
        samples.push(started.elapsed());
        patches = rows.len();
    }
    println!(
        "patch report                  {:>8.1} ms p50, {:.1} ms max ({patches} patches)",
        millis(percentile(&mut samples, 0.5)),
        millis(percentile(&mut samples, 1.0))
    );
    let (key, _) = store
        .node_compliance("node-00042")
        .await
        .expect("node compliance")
        .expect("evaluated");
    let started = Instant::now();
    let report = engine.report(&key).await.expect("report").expect("stored");
    println!(
        "one node's detail             {:>8.1} ms ({} package lines)",
        millis(started.elapsed()),
        report.packages.len()
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less args;
    // only a real `cargo bench` (which passes `--bench`) runs the fleet.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("compliance bench: run with `cargo bench -p patchline-server --bench compliance`");
        return;
    }
    // RUST_LOG=patchline_server=debug shows each fleet pass's phases.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}
