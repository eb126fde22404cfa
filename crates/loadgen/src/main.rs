//! `patchline-loadgen`: enrols and checks in simulated agents against a real
//! `patchline server` process over loopback TLS, then reports sustained
//! check-ins per second, latency percentiles, the server's memory, the time
//! to re-evaluate the fleet after a baseline change, and the latency of the
//! compliance summary query.
//!
//! Run: `cargo build --release -p patchline-cli -p patchline-loadgen &&
//! target/release/patchline-loadgen --nodes 10000 --distinct 500`

mod fleet;
mod server_process;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use patchline_api::Client;
use patchline_api::baselines::PutBaselineRequest;
use patchline_api::checkin::{CheckinRequest, CheckinStatus, Inventory, InventoryHash};
use patchline_api::compliance::SummaryBy;
use patchline_api::enrolment::{CreateEnrolmentSecretRequest, EnrolRequest};
use patchline_core::os::OsFamily;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::server_process::ServerProcess;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Simulated nodes.
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// Distinct inventories shared among them.
    #[arg(long, default_value_t = 500)]
    distinct: usize,
    /// Installed packages per inventory.
    #[arg(long, default_value_t = 1_500)]
    packages: usize,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of sustained check-ins after the fleet is enrolled.
    #[arg(long, default_value_t = 20)]
    sustain_seconds: u64,
    /// Summary queries to time.
    #[arg(long, default_value_t = 200)]
    summary_queries: usize,
    /// The `patchline` binary to run as the server.
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Database URL for the server (default: SQLite in its data dir).
    #[arg(long)]
    database: Option<String>,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    nodes: usize,
    distinct_inventories: usize,
    packages_per_inventory: usize,
    enrol_seconds: f64,
    first_checkin_seconds: f64,
    inventory_uploads: usize,
    sustained_checkins: u64,
    sustained_checkins_per_second: f64,
    checkin_p50_ms: f64,
    checkin_p99_ms: f64,
    server_rss_mib: f64,
    server_peak_rss_mib: f64,
    reevaluation_ms: f64,
    reevaluated_nodes: u64,
    summary_p50_ms: f64,
    summary_p99_ms: f64,
}

struct SimulatedNode {
    client: Client,
    index: usize,
    variant: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.distinct == 0 || args.nodes == 0 {
        bail!("--nodes and --distinct must be at least 1");
    }
    let data_dir = tempfile_dir()?;
    let admin_password = format!("loadgen-{}", std::process::id());
    let binary = args
        .server_binary
        .clone()
        .unwrap_or_else(server_process::default_server_binary);
    let server = ServerProcess::spawn(
        &binary,
        &data_dir,
        args.database.as_deref(),
        &admin_password,
    )
    .await?;
    let result = drive(&args, &server, &admin_password).await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let report = result?;
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("patchline-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn drive(
    args: &Args,
    server: &ServerProcess,
    admin_password: &str,
) -> anyhow::Result<Report> {
    let mut report = Report {
        nodes: args.nodes,
        distinct_inventories: args.distinct,
        packages_per_inventory: args.packages,
        ..Report::default()
    };
    let anonymous = Client::builder(&server.url)
        .ca_certificate_pem(&server.ca_pem)
        .timeout(Duration::from_secs(120))
        .build()?;
    let login = anonymous.login("admin", admin_password).await?;
    let admin = anonymous.with_bearer(login.token);
    let secret = admin
        .create_enrolment_secret(&CreateEnrolmentSecretRequest {
            name: "loadgen".into(),
            ..CreateEnrolmentSecretRequest::default()
        })
        .await?
        .secret;

    let today = jiff::Zoned::now().date();
    let inventories: Arc<Vec<(InventoryHash, Inventory)>> = Arc::new(
        (0..args.distinct)
            .map(|variant| {
                let inventory = fleet::inventory(variant, args.packages, today);
                (inventory.content_hash(), inventory)
            })
            .collect(),
    );

    // Enrolment.
    let started = Instant::now();
    let progress = bar(args.nodes as u64, "enrol");
    let nodes = Arc::new(Mutex::new(Vec::with_capacity(args.nodes)));
    run_all(args.nodes, args.concurrency, |index| {
        let anonymous = anonymous.clone();
        let secret = secret.clone();
        let nodes = nodes.clone();
        let progress = progress.clone();
        let distinct = args.distinct;
        async move {
            let enrolled = anonymous
                .enrol(&EnrolRequest {
                    secret,
                    facts: fleet::facts(index),
                    tags: fleet::tags(index),
                })
                .await?;
            nodes.lock().await.push(SimulatedNode {
                client: anonymous.with_bearer(enrolled.credential),
                index,
                variant: index % distinct,
            });
            progress.inc(1);
            Ok(())
        }
    })
    .await?;
    progress.finish_and_clear();
    report.enrol_seconds = started.elapsed().as_secs_f64();
    let nodes: Arc<Vec<SimulatedNode>> = Arc::new(std::mem::take(&mut *nodes.lock().await));

    // First check-in: each distinct inventory travels once.
    let uploads = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let progress = bar(args.nodes as u64, "first check-in");
    run_all(nodes.len(), args.concurrency, |position| {
        let nodes = nodes.clone();
        let inventories = inventories.clone();
        let uploads = uploads.clone();
        let progress = progress.clone();
        async move {
            let node = &nodes[position];
            let (hash, inventory) = &inventories[node.variant];
            if checkin(node, hash, None).await? == CheckinStatus::InventoryRequired {
                uploads.fetch_add(1, Ordering::Relaxed);
                let status = checkin(node, hash, Some(inventory)).await?;
                if status != CheckinStatus::Accepted {
                    bail!(
                        "node {} was refused after sending its inventory",
                        node.index
                    );
                }
            }
            progress.inc(1);
            Ok(())
        }
    })
    .await?;
    progress.finish_and_clear();
    report.first_checkin_seconds = started.elapsed().as_secs_f64();
    report.inventory_uploads = uploads.load(Ordering::Relaxed);

    // Sustained check-ins, every node in turn, for a fixed time.
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.sustain_seconds);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let nodes = nodes.clone();
        let inventories = inventories.clone();
        let histogram = histogram.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut local = Histogram::<u64>::new(3)?;
            while Instant::now() < deadline {
                let node = &nodes[next.fetch_add(1, Ordering::Relaxed) % nodes.len()];
                let (hash, _) = &inventories[node.variant];
                let sent = Instant::now();
                let status = checkin(node, hash, None).await?;
                local.record(sent.elapsed().as_micros() as u64)?;
                if status != CheckinStatus::Accepted {
                    bail!("a known inventory was asked for again");
                }
            }
            histogram.lock().await.add(&local)?;
            anyhow::Ok(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let histogram = histogram.lock().await;
    report.sustained_checkins = histogram.len();
    report.sustained_checkins_per_second = histogram.len() as f64 / elapsed;
    report.checkin_p50_ms = histogram.value_at_quantile(0.50) as f64 / 1000.0;
    report.checkin_p99_ms = histogram.value_at_quantile(0.99) as f64 / 1000.0;
    let (rss, peak) = server.memory_kib()?;
    report.server_rss_mib = rss as f64 / 1024.0;
    report.server_peak_rss_mib = peak as f64 / 1024.0;

    // A baseline change: the fleet is re-evaluated without any rescan.
    let mut baseline = admin
        .baselines()
        .await?
        .into_iter()
        .find(|view| view.default_for_family && view.os_family == OsFamily::Debian)
        .context("the server has no default Debian baseline")?;
    baseline.baseline.description = format!(
        "changed by the load generator at {}",
        jiff::Timestamp::now()
    );
    let started = Instant::now();
    let outcome = admin
        .put_baseline(&PutBaselineRequest {
            baseline: baseline.baseline,
            default_for_family: true,
        })
        .await?;
    report.reevaluation_ms = started.elapsed().as_secs_f64() * 1000.0;
    report.reevaluated_nodes = outcome.reevaluated_nodes;

    // The summary an operator's dashboard asks for.
    let mut summary = Histogram::<u64>::new(3)?;
    for round in 0..args.summary_queries {
        let by = SummaryBy::ALL[round % SummaryBy::ALL.len()];
        let sent = Instant::now();
        let lines = admin.compliance_summary(by).await?;
        summary.record(sent.elapsed().as_micros() as u64)?;
        if lines.is_empty() {
            bail!("the summary by {} is empty", by.as_str());
        }
    }
    report.summary_p50_ms = summary.value_at_quantile(0.50) as f64 / 1000.0;
    report.summary_p99_ms = summary.value_at_quantile(0.99) as f64 / 1000.0;
    Ok(report)
}

async fn checkin(
    node: &SimulatedNode,
    hash: &InventoryHash,
    inventory: Option<&Inventory>,
) -> anyhow::Result<CheckinStatus> {
    let answer = node
        .client
        .checkin(&CheckinRequest {
            facts: fleet::facts(node.index),
            tags: fleet::tags(node.index),
            scanned_at: jiff::Timestamp::now(),
            inventory_hash: hash.clone(),
            inventory: inventory.cloned(),
            results: Vec::new(),
        })
        .await?;
    Ok(answer.status)
}

/// Runs `job(0..count)` with at most `concurrency` in flight; the first
/// error stops the run.
async fn run_all<F, Fut>(count: usize, concurrency: usize, job: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    for index in 0..count {
        if running.len() >= concurrency.max(1)
            && let Some(joined) = running.join_next().await
        {
            joined??;
        }
        running.spawn(job(index));
    }
    while let Some(joined) = running.join_next().await {
        joined??;
    }
    Ok(())
}

fn bar(length: u64, label: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template("{msg:>15} {wide_bar} {pos}/{len} {per_sec}") {
        bar.set_style(style);
    }
    bar.set_message(label);
    bar
}

fn print_report(report: &Report) {
    println!(
        "fleet: {} nodes, {} distinct inventories of {} packages",
        report.nodes, report.distinct_inventories, report.packages_per_inventory
    );
    println!("enrol                 {:>10.2} s", report.enrol_seconds);
    println!(
        "first check-in        {:>10.2} s  ({} inventory uploads)",
        report.first_checkin_seconds, report.inventory_uploads
    );
    println!(
        "sustained check-ins   {:>10.0} /s  ({} in all; p50 {:.2} ms, p99 {:.2} ms)",
        report.sustained_checkins_per_second,
        report.sustained_checkins,
        report.checkin_p50_ms,
        report.checkin_p99_ms
    );
    println!(
        "server memory         {:>10.1} MiB RSS (peak {:.1} MiB)",
        report.server_rss_mib, report.server_peak_rss_mib
    );
    println!(
        "baseline change       {:>10.1} ms to re-evaluate {} nodes",
        report.reevaluation_ms, report.reevaluated_nodes
    );
    println!(
        "summary query         {:>10.2} ms p50, {:.2} ms p99",
        report.summary_p50_ms, report.summary_p99_ms
    );
}
