//! Baseline evaluation of one node: 2,000 installed packages, about 300 of
//! them with 1–3 candidate updates of mixed classifications, severities and
//! release dates, against the example Prod baseline extended with globs in
//! its approved and rejected lists, for a Debian and an RPM node. The
//! target is < 5 ms per node.
//!
//! Run: `cargo bench -p patchline-core --bench evaluate`

use divan::Bencher;
use jiff::civil::{Date, date};
use patchline_core::baseline::{Baseline, RejectedAction};
use patchline_core::compliance::{EvaluationInput, Evaluator};
use patchline_core::os::OsInfo;
use patchline_core::package::{
    Classification, DebPriority, InstalledPackage, PackageRef, Severity, Update,
};

fn main() {
    divan::main();
}

const INSTALLED: usize = 2_000;
const TODAY: Date = date(2025, 6, 30);

/// A small deterministic generator (SplitMix64), so every run sees the same node.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Node {
    os: OsInfo,
    installed: Vec<InstalledPackage>,
    updates: Vec<Update>,
    failed: Vec<PackageRef>,
    pending_reboot: Vec<PackageRef>,
}

impl Node {
    fn input(&self) -> EvaluationInput<'_> {
        EvaluationInput {
            os: &self.os,
            installed: &self.installed,
            updates: &self.updates,
            failed: &self.failed,
            pending_reboot: &self.pending_reboot,
            today: TODAY,
        }
    }
}

const PREFIXES: [&str; 6] = ["lib", "python3-", "perl-", "golang-", "fonts-", ""];

fn generate(rpm: bool) -> Node {
    let mut rng = Rng(if rpm { 0x5eed_0002 } else { 0x5eed_0001 });
    let (arch, other_arch, independent) = if rpm {
        ("x86_64", "i686", "noarch")
    } else {
        ("amd64", "i386", "all")
    };
    let version = |rng: &mut Rng, revision: u64| {
        let (major, minor, patch) = (rng.below(10), rng.below(30), rng.below(100));
        let epoch = if rng.below(20) == 0 { "1:" } else { "" };
        if rpm {
            format!("{epoch}{major}.{minor}.{patch}-{revision}.el9")
        } else {
            format!("{epoch}{major}.{minor}.{patch}-{revision}+deb12u1")
        }
    };
    let mut installed = Vec::with_capacity(INSTALLED);
    let mut updates = Vec::new();
    for i in 0..INSTALLED {
        let name = format!("{}pkg{i:04}", PREFIXES[i % PREFIXES.len()]);
        let package_arch = match rng.below(10) {
            0 => independent,
            1 => other_arch,
            _ => arch,
        };
        let base = version(&mut rng, 3);
        installed.push(InstalledPackage {
            name: name.clone(),
            arch: package_arch.to_owned(),
            version: base.clone(),
            source: None,
        });
        // About 300 packages have candidates: the installed version itself
        // (sometimes) and 1–3 newer revisions.
        if i % 20 < 3 {
            let stem = base
                .rsplit_once('-')
                .map_or(base.as_str(), |(stem, _)| stem);
            let known_current = rng.below(3) == 0;
            let newer = 1 + rng.below(3);
            for step in u64::from(!known_current)..=newer {
                let revision = 3 + step;
                let suffix = if rpm { ".el9" } else { "+deb12u1" };
                let classification = match rng.below(4) {
                    0 => Classification::Security,
                    1 => Classification::Bugfix,
                    2 => Classification::Enhancement,
                    _ => Classification::Other,
                };
                let severity = Severity::ALL[rng.below(5) as usize];
                updates.push(Update {
                    name: name.clone(),
                    arch: package_arch.to_owned(),
                    version: format!("{stem}-{revision}{suffix}"),
                    classification,
                    severity: if rpm { severity } else { Severity::Unspecified },
                    release_date: TODAY
                        .checked_sub(jiff::Span::new().days(rng.below(40) as i64))
                        .unwrap_or(TODAY),
                    advisory_id: Some(format!("ADV-2025:{i:04}")),
                    cves: Vec::new(),
                    repository: None,
                    priority: (!rpm).then_some(DebPriority::ALL[rng.below(5) as usize]),
                    section: (!rpm).then(|| "libs".to_owned()),
                    reboot_suggested: false,
                });
            }
        }
    }
    // A few approved updates for packages this node does not have.
    for i in 0..20 {
        updates.push(Update {
            name: format!("absent{i:02}"),
            arch: arch.to_owned(),
            version: "1.0-1".to_owned(),
            classification: Classification::Security,
            severity: Severity::Critical,
            release_date: TODAY,
            advisory_id: None,
            cves: Vec::new(),
            repository: None,
            priority: None,
            section: None,
            reboot_suggested: false,
        });
    }
    let failed = (0..5)
        .map(|i| PackageRef::named(installed[i * 40].name.clone()))
        .collect();
    let pending_reboot = (0..10)
        .map(|i| PackageRef::named(installed[i * 60 + 1].name.clone()))
        .collect();
    let os = if rpm {
        OsInfo::from_os_release([("ID", "rocky"), ("VERSION_ID", "9.3")])
    } else {
        OsInfo::from_os_release([("ID", "debian"), ("VERSION_ID", "12")])
    };
    Node {
        os: os.unwrap_or_else(|e| panic!("{e}")),
        installed,
        updates,
        failed,
        pending_reboot,
    }
}

fn prod_baseline(rpm: bool) -> Baseline {
    let text = if rpm {
        include_str!("../../../examples/baselines/rhel-prod.yaml")
    } else {
        include_str!("../../../examples/baselines/debian-prod.yaml")
    };
    let mut baseline = Baseline::from_yaml(text).unwrap_or_else(|e| panic!("{e}"));
    baseline.approved_patches.patches = ["fonts-*", "libpkg00*", "perl-pkg0013=*"]
        .map(String::from)
        .to_vec();
    baseline.rejected_patches.patches = ["golang-pkg01*", "python3-pkg0{2,3}*", "pkg0005=*-4*"]
        .map(String::from)
        .to_vec();
    baseline.rejected_patches.action = RejectedAction::Block;
    baseline
}

fn evaluator(rpm: bool) -> Evaluator {
    prod_baseline(rpm)
        .evaluator()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[divan::bench(args = ["debian", "rpm"])]
fn evaluate_node(bencher: Bencher, family: &str) {
    let rpm = family == "rpm";
    let node = generate(rpm);
    let evaluator = evaluator(rpm);
    bencher.bench_local(|| {
        evaluator
            .evaluate(divan::black_box(&node.input()))
            .map(|report| report.packages.len())
    });
}

#[divan::bench(args = ["debian", "rpm"])]
fn compile_baseline(family: &str) -> Evaluator {
    evaluator(divan::black_box(family == "rpm"))
}
