//! Throughput of version comparison on corpora shaped like real update
//! checks: installed vs candidate versions of the same package, which mostly
//! share a long prefix or are equal. Compares our Debian ordering with the
//! `debversion` crate (what a Rust user would otherwise reach for) on the
//! same pairs, both parse+compare and compare of pre-parsed values.
//!
//! Run with `cargo bench -p patchline-core --bench versions`.

use std::cmp::Ordering;
use std::str::FromStr;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use patchline_core::version::{deb, rpm};

fn main() {
    divan::main();
}

const PAIRS: usize = 4096;

/// Version shapes seen on Debian and Ubuntu fleets; each `{}` is a number.
const DEB_SHAPES: &[&str] = &[
    "2.{}-9+deb12u{}",
    "1:2.{}.{}-1ubuntu0.22.04.{}",
    "3.0.{}-1~deb12u{}",
    "1:9.{}p1-2+deb12u{}",
    "2.9.{}+dfsg-1.3~deb12u{}",
    "7.88.{}-10+deb12u{}",
    "252.{}-1~deb12u{}",
    "5.15.0-{}.{}",
    "1:8.9p1-3ubuntu0.{}",
    "2.35-0ubuntu3.{}",
    "124.0.6367.{}-1~deb12u{}",
    "0.8.5~git2023{}01.1-{}",
    "3.12.{}-1build{}",
    "1.1.1n-0+deb11u{}",
    "2.38.{}-5+deb12u{}",
    "1:2.{}.{}+dfsg-{}ubuntu{}.{}",
    "6.1.{}-1",
    "1:1.2.13.dfsg-1ubuntu{}",
    "20230311ubuntu0.22.04.{}",
    "2.{}.{}-2ubuntu4.{}",
];

/// Version shapes seen on RHEL, Fedora and SUSE fleets.
const RPM_SHAPES: &[&str] = &[
    "5.14.0-{}.{}.1.el9_{}",
    "2:8.2.{}-20.el9_{}",
    "1.2.3^git2024{}01-{}.fc40",
    "4.18.{}-{}.fc39",
    "1:1.1.1k-{}.el8_{}",
    "2.34-{}.el9_{}.{}",
    "9.{}-{}.el9",
    "1:3.0.{}-{}.el9_{}",
    "252-{}.el9_{}",
    "2.{}.{}-{}.el9",
    "1.0~rc{}-{}.fc40",
    "0.{}-{}.el9_{}.1",
    "6.{}.{}-150500.{}.1",
    "32:9.16.{}-{}.el9_{}",
];

/// SplitMix64, so the corpus is the same on every run.
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

fn fill(shape: &str, numbers: &[u64]) -> String {
    let mut out = String::with_capacity(shape.len() + 8);
    let mut numbers = numbers.iter();
    for (i, piece) in shape.split("{}").enumerate() {
        if i > 0 {
            out.push_str(&numbers.next().copied().unwrap_or(0).to_string());
        }
        out.push_str(piece);
    }
    out
}

/// Installed/candidate pairs: a third equal (already up to date), most of
/// the rest a bump of the last or another number, a few across packages.
fn corpus(shapes: &[&str], seed: u64) -> Vec<(String, String)> {
    let mut rng = Rng(seed);
    (0..PAIRS)
        .map(|_| {
            let shape = shapes[rng.below(shapes.len() as u64) as usize];
            let slots = shape.matches("{}").count();
            let installed: Vec<u64> = (0..slots)
                .map(|_| match rng.below(4) {
                    0 => rng.below(400),
                    _ => rng.below(20),
                })
                .collect();
            let mut candidate = installed.clone();
            match rng.below(20) {
                0..=6 => {}
                7..=14 => candidate[slots - 1] += 1 + rng.below(10),
                15..=17 => candidate[rng.below(slots as u64) as usize] += 1 + rng.below(3),
                _ => {
                    let other = shapes[rng.below(shapes.len() as u64) as usize];
                    let numbers: Vec<u64> = (0..8).map(|_| rng.below(30)).collect();
                    return (fill(shape, &installed), fill(other, &numbers));
                }
            }
            let (a, b) = (fill(shape, &installed), fill(shape, &candidate));
            if rng.below(2) == 0 { (a, b) } else { (b, a) }
        })
        .collect()
}

fn deb_corpus() -> Vec<(String, String)> {
    corpus(DEB_SHAPES, 0xDEB)
}

fn rpm_corpus() -> Vec<(String, String)> {
    corpus(RPM_SHAPES, 0x2B4)
}

fn sum_orders(pairs: &[(String, String)], compare: impl Fn(&str, &str) -> Ordering) -> i64 {
    pairs
        .iter()
        .map(|(a, b)| compare(black_box(a), black_box(b)) as i64)
        .sum()
}

#[divan::bench]
fn deb_ours(bencher: Bencher) {
    let pairs = deb_corpus();
    bencher
        .counter(ItemsCount::new(pairs.len()))
        .bench(|| sum_orders(&pairs, deb::compare));
}

#[divan::bench]
fn deb_debversion_parse_and_compare(bencher: Bencher) {
    let pairs = deb_corpus();
    bencher.counter(ItemsCount::new(pairs.len())).bench(|| {
        sum_orders(&pairs, |a, b| {
            match (
                debversion::Version::from_str(a),
                debversion::Version::from_str(b),
            ) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => Ordering::Equal,
            }
        })
    });
}

#[divan::bench]
fn deb_debversion_preparsed(bencher: Bencher) {
    let parsed: Vec<(debversion::Version, debversion::Version)> = deb_corpus()
        .iter()
        .filter_map(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .collect();
    bencher.counter(ItemsCount::new(parsed.len())).bench(|| {
        parsed
            .iter()
            .map(|(a, b)| black_box(a).cmp(black_box(b)) as i64)
            .sum::<i64>()
    });
}

#[divan::bench]
fn rpm_ours(bencher: Bencher) {
    let pairs = rpm_corpus();
    bencher
        .counter(ItemsCount::new(pairs.len()))
        .bench(|| sum_orders(&pairs, rpm::compare_evr));
}
