//! Checks our version ordering against the real package managers.
//!
//! A seeded generator produces thousands of version pairs biased toward the
//! parts of the grammars that implementations get wrong (epochs with leading
//! zeros, `~`/`^` runs, digit runs longer than any machine integer, hyphens
//! inside upstream, odd separators). Every answer is checked against
//! `dpkg --compare-versions` and rpm's own lua `rpm.vercmp`. The seed is
//! random per run and printed on failure; set `ORACLE_SEED` to replay one.
//!
//! The tools are required: a missing `dpkg` or `rpm` fails the test.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::process::Command;

use patchline_core::version::{VersionScheme, deb, rpm};

const DEB_MUTATED_PAIRS: usize = 4_000;
const DEB_NEIGHBOUR_PAIRS: usize = 1_500;
const RPM_EVR_PAIRS: usize = 16_000;
const RPM_NEIGHBOUR_PAIRS: usize = 4_000;
const RPM_VERSION_ONLY_PAIRS: usize = 8_000;

/// SplitMix64: tiny, seedable, good enough to drive a test generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn seed() -> u64 {
    if let Some(seed) = std::env::var("ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// A digit run: mostly short, sometimes with leading zeros, sometimes far
/// longer than u64 can hold.
fn digits(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.percent(15) {
        s.push_str(&"0".repeat(1 + rng.below(3)));
    }
    let len = match rng.below(20) {
        0 => 21 + rng.below(20),
        1..=3 => 4 + rng.below(5),
        _ => 1 + rng.below(3),
    };
    for _ in 0..len {
        s.push(char::from(b'0' + rng.below(10) as u8));
    }
    s
}

fn letters(rng: &mut Rng) -> String {
    if rng.percent(40) {
        return rng
            .pick(&[
                "rc", "beta", "alpha", "deb", "ubuntu", "git", "dfsg", "really", "el", "fc", "p",
                "a", "b", "Z", "build",
            ])
            .to_owned();
    }
    (0..1 + rng.below(3))
        .map(|_| rng.pick(&["a", "b", "c", "x", "y", "z", "A", "B", "Z"]))
        .collect()
}

/// Appends fewer than `max` alternating tokens: a separator chosen from
/// `separators`, then digits or letters, occasionally nothing after it.
fn push_tokens(rng: &mut Rng, s: &mut String, separators: &[&str], max: usize) {
    for _ in 0..rng.below(max) {
        if rng.percent(80) {
            s.push_str(rng.pick(separators));
        }
        match rng.below(10) {
            0 => {}
            1..=3 => s.push_str(&letters(rng)),
            _ => s.push_str(&digits(rng)),
        }
    }
}

fn deb_version(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.percent(30) {
        s.push_str(&digits(rng));
        s.push(':');
    }
    let has_revision = rng.percent(70);
    if rng.percent(90) {
        s.push_str(&digits(rng));
    } else {
        s.push_str(&letters(rng));
    }
    let mut upstream_separators = vec![".", ".", ".", "+", "~", "~~", "~", "+~"];
    if has_revision {
        upstream_separators.push("-");
    }
    if s.contains(':') {
        upstream_separators.push(":");
    }
    push_tokens(rng, &mut s, &upstream_separators, 6);
    if rng.percent(8) {
        s.push_str(rng.pick(&["~", "~~", "+", "."]));
    }
    if has_revision {
        s.push('-');
        if rng.percent(80) {
            s.push_str(&digits(rng));
        } else {
            s.push_str(&letters(rng));
        }
        push_tokens(rng, &mut s, &[".", "+", "~", "~~"], 5);
        if rng.percent(5) {
            s.push('~');
        }
    }
    s
}

fn rpm_version_part(rng: &mut Rng, separators: &[&str]) -> String {
    let mut s = String::new();
    match rng.below(10) {
        0 => s.push_str(rng.pick(separators)),
        1 => s.push_str(&letters(rng)),
        _ => s.push_str(&digits(rng)),
    }
    push_tokens(rng, &mut s, separators, 7);
    s
}

const RPM_SEPARATORS: &[&str] = &[
    ".", ".", ".", "_", "+", "~", "~~", "^", "~^", "^~", "%", "#", "é", "/", "*", " ", ",", ":",
];

fn rpm_evr(rng: &mut Rng) -> String {
    let mut s = String::new();
    match rng.below(10) {
        0 => s.push(':'),
        1..=3 => {
            s.push_str(&digits(rng));
            s.push(':');
        }
        _ => {}
    }
    s.push_str(&rpm_version_part(rng, RPM_SEPARATORS));
    match rng.below(10) {
        0..=5 => {
            s.push('-');
            s.push_str(&rpm_version_part(rng, RPM_SEPARATORS));
        }
        6 => s.push('-'),
        7 => {
            // A hyphen inside the version: only the last one starts the release.
            s.push('-');
            s.push_str(&rpm_version_part(rng, RPM_SEPARATORS));
            s.push('-');
            s.push_str(&rpm_version_part(rng, RPM_SEPARATORS));
        }
        _ => {}
    }
    s
}

/// Derives a second version from `a` so that pairs mostly share a prefix,
/// like real update checks, with edits that land on every kind of token.
fn mutate(rng: &mut Rng, a: &str, fresh: &mut dyn FnMut(&mut Rng) -> String) -> String {
    let chars: Vec<char> = a.chars().collect();
    let at = rng.below(chars.len() + 1);
    let (head, tail): (String, String) =
        (chars[..at].iter().collect(), chars[at..].iter().collect());
    match rng.below(14) {
        0 => a.to_owned(),
        1 | 2 => fresh(rng),
        // Replace one character with a digit or one of the special ones.
        3 | 4 if !tail.is_empty() => {
            let replacement = rng.pick(&["0", "1", "9", "~", "+", ".", "a", "^", "_", "-"]);
            format!(
                "{head}{replacement}{}",
                &tail[tail.chars().next().map_or(0, char::len_utf8)..]
            )
        }
        // Leading zeros in front of a digit run: numerically equal.
        5 | 6 => {
            match chars
                .iter()
                .enumerate()
                .skip(at)
                .find(|(i, c)| c.is_ascii_digit() && (*i == 0 || !chars[*i - 1].is_ascii_digit()))
            {
                Some((i, _)) => {
                    let (h, t): (String, String) =
                        (chars[..i].iter().collect(), chars[i..].iter().collect());
                    format!("{h}0{t}")
                }
                None => format!("{a}0"),
            }
        }
        7 => format!(
            "{head}{}",
            rng.pick(&["~", "~~", "^", "~^", "+", ".", "-", ":", "_"])
        ),
        8 => format!(
            "{a}{}",
            rng.pick(&["~", "~~", "^", "~rc1", "^git1", "+b1", ".1", "-1", "a"])
        ),
        9 => head,
        10 => format!("{}{a}", rng.pick(&["0:", "1:", "00:", ":"])),
        11 => format!("{head}{}{tail}", digits(rng)),
        _ => format!("{head}{}{tail}", letters(rng)),
    }
}

/// Dpkg's own syntax rules beyond [`deb::validate`]'s: nothing to add today,
/// but pairs are only kept when both sides are versions dpkg accepts.
fn deb_pairs(rng: &mut Rng, count: usize) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(count);
    while pairs.len() < count {
        let a = deb_version(rng);
        let b = mutate(rng, &a, &mut deb_version);
        if deb::validate(&a).is_ok() && deb::validate(&b).is_ok() {
            pairs.push((a, b));
        }
    }
    pairs
}

fn rpm_pairs(rng: &mut Rng, count: usize, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(count);
    while pairs.len() < count {
        let a = rpm_evr(rng);
        let b = mutate(rng, &a, &mut rpm_evr);
        if keep(&a) && keep(&b) {
            pairs.push((a, b));
        }
    }
    pairs
}

/// Merge sort that, unlike the standard sort, never panics on an
/// inconsistent comparator, so the check below can name the culprits.
fn merge_sort(mut items: Vec<&str>, compare: fn(&str, &str) -> Ordering) -> Vec<&str> {
    if items.len() <= 1 {
        return items;
    }
    let right = items.split_off(items.len() / 2);
    let (left, right) = (merge_sort(items, compare), merge_sort(right, compare));
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        if compare(r, l) == Ordering::Less {
            merged.push(*r);
            right.next();
        } else {
            merged.push(*l);
            left.next();
        }
    }
    merged.extend(left);
    merged.extend(right);
    merged
}

/// Sorts every version of `pairs` with `compare`, checks that sampled
/// pairs respect the sorted order (transitivity), and returns neighbours
/// in that order: the closest, hardest pairs.
fn sorted_neighbours(
    rng: &mut Rng,
    pairs: &[(String, String)],
    count: usize,
    compare: fn(&str, &str) -> Ordering,
) -> Vec<(String, String)> {
    let all: Vec<&str> = pairs
        .iter()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    let all = merge_sort(all, compare);
    let mut broken = Vec::new();
    for _ in 0..20_000 {
        let (i, j) = (rng.below(all.len()), rng.below(all.len()));
        let (i, j) = (i.min(j), i.max(j));
        if compare(all[i], all[j]) == Ordering::Greater && broken.len() < 20 {
            broken.push(format!("{:?} (#{i}) > {:?} (#{j})", all[i], all[j]));
        }
    }
    assert!(
        broken.is_empty(),
        "order not transitive, sorted earlier yet greater:\n{}",
        broken.join("\n")
    );
    let step = (all.len() / count).max(1);
    all.windows(2)
        .step_by(step)
        .take(count)
        .map(|w| (w[0].to_owned(), w[1].to_owned()))
        .collect()
}

fn check_antisymmetry(pairs: &[(String, String)], compare: impl Fn(&str, &str) -> Ordering) {
    let broken: Vec<_> = pairs
        .iter()
        .filter(|(a, b)| {
            compare(a, b) != compare(b, a).reverse()
                || compare(a, a) != Ordering::Equal
                || compare(b, b) != Ordering::Equal
        })
        .collect();
    assert!(
        broken.is_empty(),
        "antisymmetry/reflexivity broken for {broken:#?}"
    );
}

fn require_tool(program: &str, arg: &str, package: &str) {
    match Command::new(program).arg(arg).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{program} {arg}` failed ({}): {}; install it with `apt-get install {package}`",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => panic!(
            "cannot run `{program}` ({err}): the version oracle needs the real tool; \
             install it with `apt-get install {package}`"
        ),
    }
}

fn relation(order: Ordering) -> &'static str {
    match order {
        Ordering::Less => "lt",
        Ordering::Equal => "eq",
        Ordering::Greater => "gt",
    }
}

fn dpkg_holds(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let out = Command::new("dpkg")
        .args(["--compare-versions", "--", a, op, b])
        .output()
        .map_err(|err| format!("cannot run dpkg: {err}"))?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "dpkg --compare-versions {a:?} {op} {b:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Asks dpkg, one process per pair, whether the relation we computed holds.
/// The three relations exclude each other, so one `yes` proves agreement;
/// on `no` dpkg is asked for its actual answer to report it.
fn dpkg_disagreements(pairs: &[(String, String)]) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let chunk = pairs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = pairs
            .chunks(chunk)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut problems = Vec::new();
                    for (a, b) in chunk {
                        let ours = VersionScheme::Deb.compare(a, b);
                        match dpkg_holds(a, relation(ours), b) {
                            Ok(true) => {}
                            Ok(false) => {
                                let dpkg = ["lt", "eq", "gt"]
                                    .into_iter()
                                    .find(|op| dpkg_holds(a, op, b) == Ok(true))
                                    .unwrap_or("no answer");
                                problems.push(format!(
                                    "{a:?} vs {b:?}: ours {}, dpkg {dpkg}",
                                    relation(ours)
                                ));
                            }
                            Err(err) => problems.push(err),
                        }
                    }
                    problems
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec!["worker panicked".to_owned()])
            })
            .collect()
    })
}

#[test]
fn deb_ordering_matches_dpkg() {
    require_tool("dpkg", "--version", "dpkg");
    let seed = seed();
    let mut rng = Rng(seed);
    let mut pairs = deb_pairs(&mut rng, DEB_MUTATED_PAIRS);
    check_antisymmetry(&pairs, deb::compare);
    let neighbours = sorted_neighbours(&mut rng, &pairs, DEB_NEIGHBOUR_PAIRS, deb::compare);
    pairs.extend(neighbours);
    assert!(pairs.len() >= 5_000, "only {} pairs generated", pairs.len());

    let problems = dpkg_disagreements(&pairs);
    assert!(
        problems.is_empty(),
        "{} of {} pairs disagree with dpkg (ORACLE_SEED={seed}):\n{}",
        problems.len(),
        pairs.len(),
        problems.join("\n")
    );
}

fn hex(s: &str) -> String {
    s.bytes()
        .fold(String::with_capacity(s.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Runs `rpm.vercmp` on every pair inside one rpm process. The strings
/// travel hex-encoded through a file, so no quoting can go wrong.
fn rpm_vercmp_all(pairs: &[(String, String)]) -> Vec<i32> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let input = dir.path().join("pairs.txt");
    let output = dir.path().join("answers.txt");
    let script = dir.path().join("vercmp.lua");
    let lines: String = pairs
        .iter()
        .map(|(a, b)| format!("{} {}\n", hex(a), hex(b)))
        .collect();
    let lua = format!(
        r#"local function unhex(h) return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
local answers = {{}}
for line in io.lines({input:?}) do
  local a, b = line:match("^(%x*) (%x*)$")
  answers[#answers + 1] = tostring(rpm.vercmp(unhex(a), unhex(b)))
end
local f = assert(io.open({output:?}, "w"))
f:write(table.concat(answers, "\n"), "\n")
f:close()
"#
    );
    for (path, text) in [(&input, &lines), (&script, &lua)] {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    }
    let macro_text = format!("%{{lua: dofile({script:?})}}");
    let out = Command::new("rpm")
        .args(["--eval", &macro_text])
        .output()
        .unwrap_or_else(|e| panic!("cannot run rpm ({e}); install it with `apt-get install rpm`"));
    let answers = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(
        out.status.success() && !answers.is_empty(),
        "rpm lua failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<i32> = answers
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|e| panic!("rpm answered {l:?}: {e}"))
        })
        .collect();
    assert_eq!(
        answers.len(),
        pairs.len(),
        "rpm answered a different number of pairs"
    );
    answers
}

fn rpm_disagreements(
    pairs: &[(String, String)],
    ours: impl Fn(&str, &str) -> Ordering,
) -> Vec<String> {
    pairs
        .iter()
        .zip(rpm_vercmp_all(pairs))
        .filter(|((a, b), rpm)| ours(a, b) as i32 != *rpm)
        .map(|((a, b), rpm)| format!("{a:?} vs {b:?}: ours {}, rpm {rpm}", ours(a, b) as i32))
        .collect()
}

#[test]
fn rpm_ordering_matches_rpm_vercmp() {
    require_tool("rpm", "--version", "rpm");
    let seed = seed();
    let mut rng = Rng(seed);
    // rpm.vercmp rejects empty strings; C strings end at NUL.
    let mut pairs = rpm_pairs(&mut rng, RPM_EVR_PAIRS, |s| {
        !s.is_empty() && !s.contains('\0')
    });
    check_antisymmetry(&pairs, rpm::compare_evr);
    let neighbours = sorted_neighbours(&mut rng, &pairs, RPM_NEIGHBOUR_PAIRS, rpm::compare_evr);
    pairs.extend(neighbours);
    assert!(
        pairs.len() >= 20_000,
        "only {} pairs generated",
        pairs.len()
    );

    let problems = rpm_disagreements(&pairs, |a, b| VersionScheme::Rpm.compare(a, b));
    assert!(
        problems.is_empty(),
        "{} of {} EVR pairs disagree with rpm.vercmp (ORACLE_SEED={seed}):\n{}",
        problems.len(),
        pairs.len(),
        problems.join("\n")
    );
}

/// Without `-` and without a leading `digits:`, `rpm.vercmp` is plain
/// `rpmvercmp`, so this checks [`rpm::vercmp`] on its own.
#[test]
fn rpm_segment_compare_matches_rpmvercmp() {
    require_tool("rpm", "--version", "rpm");
    let seed = seed();
    let mut rng = Rng(seed);
    let version_only =
        |s: &str| !s.is_empty() && !s.contains(['-', '\0']) && rpm::Evr::split(s).epoch.is_none();
    let mut pairs = rpm_pairs(&mut rng, RPM_VERSION_ONLY_PAIRS, version_only);
    check_antisymmetry(&pairs, rpm::vercmp);
    let neighbours = sorted_neighbours(&mut rng, &pairs, RPM_VERSION_ONLY_PAIRS / 4, rpm::vercmp);
    pairs.extend(neighbours);

    let problems = rpm_disagreements(&pairs, rpm::vercmp);
    assert!(
        problems.is_empty(),
        "{} of {} version pairs disagree with rpmvercmp (ORACLE_SEED={seed}):\n{}",
        problems.len(),
        pairs.len(),
        problems.join("\n")
    );
}

/// The shared-prefix fast paths must answer exactly like comparing the
/// split parts from scratch; without process spawns this runs on many more
/// pairs than the oracles can.
#[test]
fn fast_paths_match_split_comparison() {
    let seed = seed();
    let mut rng = Rng(seed);
    let mismatches = |pairs: &[(String, String)],
                      fast: fn(&str, &str) -> Ordering,
                      slow: &dyn Fn(&str, &str) -> Ordering| {
        pairs
            .iter()
            .filter(|(a, b)| fast(a, b) != slow(a, b))
            .take(20)
            .map(|(a, b)| {
                format!(
                    "{a:?} vs {b:?}: fast {:?}, split {:?}",
                    fast(a, b),
                    slow(a, b)
                )
            })
            .collect::<Vec<_>>()
    };

    let deb_pairs = deb_pairs(&mut rng, 50_000);
    let broken = mismatches(&deb_pairs, deb::compare, &|a, b| {
        deb::compare_parts(&deb::DebVersion::split(a), &deb::DebVersion::split(b))
    });
    assert!(
        broken.is_empty(),
        "deb (ORACLE_SEED={seed}):\n{}",
        broken.join("\n")
    );

    let rpm_pairs = rpm_pairs(&mut rng, 50_000, |s| !s.is_empty());
    let broken = mismatches(&rpm_pairs, rpm::compare_evr, &|a, b| {
        rpm::compare_parts(&rpm::Evr::split(a), &rpm::Evr::split(b))
    });
    assert!(
        broken.is_empty(),
        "rpm (ORACLE_SEED={seed}):\n{}",
        broken.join("\n")
    );
}
