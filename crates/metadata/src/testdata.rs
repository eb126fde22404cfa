//! Deterministic generators of realistic metadata, for benchmarks, fuzz
//! seeds and tests on machines without real samples.
//!
//! Owns nothing the readers depend on; compiled only for tests or with the
//! `testdata` feature. Field sets, value shapes and lengths follow real
//! Debian bookworm and Rocky Linux 9 files (long Description continuation
//! lines included), so parse timings mean something.

use std::fmt::Write as _;

/// A tiny deterministic PRNG (SplitMix64): same seed, same files.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Starts a sequence.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// One element of a non-empty slice.
    pub fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut out = String::with_capacity(digits);
        while out.len() < digits {
            let _ = write!(out, "{:016x}", self.next_u64());
        }
        out.truncate(digits);
        out
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "ri", "mo", "lu", "te", "so", "gna", "pa", "xi", "dor", "vel", "qu", "bra", "ton", "mi",
    "sel", "ux", "fra", "ne", "zo", "hal", "pri", "gio", "cur",
];
const WORDS: &[&str] = &[
    "library",
    "support",
    "the",
    "for",
    "and",
    "utilities",
    "daemon",
    "runtime",
    "files",
    "with",
    "development",
    "network",
    "protocol",
    "implementation",
    "shared",
    "data",
    "configuration",
    "provides",
    "package",
    "this",
    "contains",
    "command-line",
    "tools",
    "module",
    "bindings",
    "Python",
    "Perl",
    "GNOME",
    "KDE",
    "server",
    "client",
    "documentation",
    "manipulating",
    "format",
    "high-performance",
    "secure",
    "compression",
    "graphical",
    "interface",
    "kernel",
];
const SECTIONS: &[&str] = &[
    "libs", "utils", "admin", "net", "devel", "python", "perl", "doc", "text", "web", "x11",
    "sound", "graphics", "misc", "shells", "database", "science", "games", "java", "golang",
];
const PRIORITIES: &[&str] = &[
    "optional",
    "optional",
    "optional",
    "optional",
    "standard",
    "important",
    "required",
    "extra",
];
const ARCHES: &[&str] = &["amd64", "amd64", "amd64", "all", "all"];
const MAINTAINERS: &[&str] = &[
    "Debian Python Team <team+python@tracker.debian.org>",
    "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
    "Debian Perl Group <pkg-perl-maintainers@lists.alioth.debian.org>",
    "Josué Ortega <josue@debian.org>",
    "Debian QA Group <packages@qa.debian.org>",
];

fn name(rng: &mut Rng, index: usize) -> String {
    let mut name = String::new();
    if rng.chance(40) {
        name.push_str("lib");
    }
    for _ in 0..rng.between(2, 4) {
        name.push_str(rng.pick(SYLLABLES));
    }
    if rng.chance(20) {
        name.push_str(rng.pick(&["-dev", "-doc", "-common", "-data", "-utils", "-perl"]));
    }
    // Unique per index while keeping realistic shapes.
    let _ = write!(name, "{index}");
    name
}

fn deb_version(rng: &mut Rng) -> String {
    let mut version = String::new();
    if rng.chance(8) {
        let _ = write!(version, "{}:", rng.between(1, 3));
    }
    let _ = write!(version, "{}.{}", rng.between(0, 12), rng.between(0, 40));
    if rng.chance(60) {
        let _ = write!(version, ".{}", rng.between(0, 30));
    }
    if rng.chance(10) {
        version.push_str(rng.pick(&["~rc1", "+dfsg", "+ds", "~beta2", "+git20230105"]));
    }
    let _ = write!(version, "-{}", rng.between(1, 9));
    if rng.chance(15) {
        let _ = write!(version, "+deb12u{}", rng.between(1, 5));
    }
    version
}

fn relations(rng: &mut Rng, count: u64) -> String {
    let mut out = String::new();
    for index in 0..count {
        if index > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "lib{}{}", rng.pick(SYLLABLES), rng.pick(SYLLABLES));
        if rng.chance(50) {
            let _ = write!(out, " (>= {})", deb_version(rng));
        }
        if rng.chance(10) {
            let _ = write!(out, " | {}{}", rng.pick(SYLLABLES), rng.pick(SYLLABLES));
        }
    }
    out
}

fn sentence(rng: &mut Rng, target_len: usize) -> String {
    let mut out = String::with_capacity(target_len + 16);
    while out.len() < target_len {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
    }
    out
}

fn description(rng: &mut Rng, out: &mut String) {
    let _ = writeln!(out, "Description: {}", sentence(rng, 45));
    for paragraph in 0..rng.between(1, 3) {
        if paragraph > 0 {
            out.push_str(" .\n");
        }
        for _ in 0..rng.between(2, 5) {
            let _ = writeln!(out, " {}", sentence(rng, 68));
        }
    }
}

/// A dpkg status file of `packages` stanzas (mostly installed, a few
/// config-files and half-configured), like a server's /var/lib/dpkg/status.
pub fn dpkg_status(packages: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(packages * 1100);
    for index in 0..packages {
        let name = name(&mut rng, index);
        let _ = writeln!(out, "Package: {name}");
        let status = match rng.below(100) {
            0 => "deinstall ok config-files",
            1 => "install ok half-configured",
            2 => "hold ok installed",
            _ => "install ok installed",
        };
        let _ = writeln!(out, "Status: {status}");
        let _ = writeln!(out, "Priority: {}", rng.pick(PRIORITIES));
        let _ = writeln!(out, "Section: {}", rng.pick(SECTIONS));
        let _ = writeln!(out, "Installed-Size: {}", rng.between(8, 90_000));
        let _ = writeln!(out, "Maintainer: {}", rng.pick(MAINTAINERS));
        let _ = writeln!(out, "Architecture: {}", rng.pick(ARCHES));
        if rng.chance(40) {
            let _ = writeln!(
                out,
                "Multi-Arch: {}",
                rng.pick(&["same", "foreign", "allowed"])
            );
        }
        let version = deb_version(&mut rng);
        if rng.chance(35) {
            if rng.chance(20) {
                let _ = writeln!(
                    out,
                    "Source: {}src ({})",
                    rng.pick(SYLLABLES),
                    deb_version(&mut rng)
                );
            } else {
                let _ = writeln!(
                    out,
                    "Source: {}{}",
                    rng.pick(SYLLABLES),
                    rng.pick(SYLLABLES)
                );
            }
        }
        let _ = writeln!(out, "Version: {version}");
        if rng.chance(10) {
            let _ = writeln!(out, "Provides: {}", {
                let count = rng.between(1, 3);
                relations(&mut rng, count)
            });
        }
        if rng.chance(15) {
            let _ = writeln!(out, "Pre-Depends: {}", {
                let count = rng.between(1, 2);
                relations(&mut rng, count)
            });
        }
        let count = rng.between(1, 9);
        let _ = writeln!(out, "Depends: {}", relations(&mut rng, count));
        if rng.chance(30) {
            let _ = writeln!(out, "Recommends: {}", {
                let count = rng.between(1, 4);
                relations(&mut rng, count)
            });
        }
        if rng.chance(20) {
            out.push_str("Conffiles:\n");
            for _ in 0..rng.between(1, 4) {
                let _ = writeln!(
                    out,
                    " /etc/{name}/{}.conf {}",
                    rng.pick(SYLLABLES),
                    rng.hex(32)
                );
            }
        }
        description(&mut rng, &mut out);
        if rng.chance(60) {
            let _ = writeln!(
                out,
                "Homepage: https://{}{}.org/",
                rng.pick(SYLLABLES),
                rng.pick(SYLLABLES)
            );
        }
        out.push('\n');
    }
    out
}

/// An apt Packages index of `entries` stanzas with long descriptions
/// (third-party repositories inline them; Debian's own move them to
/// Translation files), about 1.1 KB per entry.
pub fn packages_index(entries: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(entries * 1200);
    let mut index = 0;
    while index < entries {
        let name = name(&mut rng, index);
        // Some packages appear with two versions, as in -updates suites.
        let versions = if rng.chance(5) { 2 } else { 1 };
        for _ in 0..versions.min(entries - index) {
            index += 1;
            let version = deb_version(&mut rng);
            let architecture = rng.pick(ARCHES);
            let _ = writeln!(out, "Package: {name}");
            let source = if rng.chance(40) {
                let source = format!("{}{}", rng.pick(SYLLABLES), rng.pick(SYLLABLES));
                let _ = writeln!(out, "Source: {source}");
                source
            } else {
                name.clone()
            };
            let _ = writeln!(out, "Version: {version}");
            let _ = writeln!(out, "Installed-Size: {}", rng.between(8, 90_000));
            let _ = writeln!(out, "Maintainer: {}", rng.pick(MAINTAINERS));
            let _ = writeln!(out, "Architecture: {architecture}");
            if rng.chance(10) {
                let _ = writeln!(out, "Provides: {}", {
                    let count = rng.between(1, 3);
                    relations(&mut rng, count)
                });
            }
            let count = rng.between(1, 10);
            let _ = writeln!(out, "Depends: {}", relations(&mut rng, count));
            if rng.chance(10) {
                let _ = writeln!(out, "Pre-Depends: {}", relations(&mut rng, 1));
            }
            if rng.chance(30) {
                let _ = writeln!(out, "Recommends: {}", {
                    let count = rng.between(1, 4);
                    relations(&mut rng, count)
                });
            }
            description(&mut rng, &mut out);
            let _ = writeln!(
                out,
                "Homepage: https://{}{}.org/",
                rng.pick(SYLLABLES),
                rng.pick(SYLLABLES)
            );
            let _ = writeln!(out, "Description-md5: {}", rng.hex(32));
            if rng.chance(40) {
                let _ = writeln!(
                    out,
                    "Multi-Arch: {}",
                    rng.pick(&["same", "foreign", "allowed"])
                );
            }
            let _ = writeln!(out, "Section: {}", rng.pick(SECTIONS));
            let _ = writeln!(out, "Priority: {}", rng.pick(PRIORITIES));
            let first = source.chars().next().unwrap_or('x');
            let _ = writeln!(
                out,
                "Filename: pool/main/{first}/{source}/{name}_{}_{architecture}.deb",
                version.rsplit(':').next().unwrap_or(&version)
            );
            let _ = writeln!(out, "Size: {}", rng.between(1_000, 40_000_000));
            let _ = writeln!(out, "MD5sum: {}", rng.hex(32));
            let _ = writeln!(out, "SHA256: {}", rng.hex(64));
            out.push('\n');
        }
    }
    out
}

fn rpm_version(rng: &mut Rng) -> (u64, String, String) {
    let epoch = if rng.chance(10) { rng.between(1, 3) } else { 0 };
    let version = format!(
        "{}.{}.{}",
        rng.between(0, 9),
        rng.between(0, 30),
        rng.between(0, 20)
    );
    let release = format!(
        "{}.el9{}",
        rng.between(1, 40),
        if rng.chance(30) { "_3" } else { "" }
    );
    (epoch, version, release)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A primary.xml of `packages` packages shaped like Rocky Linux 9 BaseOS
/// (provides, requires with versioned and pre entries, a few files).
pub fn primary_xml(packages: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(packages * 2600);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{packages}\">\n"
    );
    for index in 0..packages {
        let name = name(&mut rng, index);
        let arch = rng.pick(&["x86_64", "x86_64", "noarch", "i686"]);
        let (epoch, version, release) = rpm_version(&mut rng);
        let _ = write!(
            out,
            "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>{arch}</arch>\n  \
             <version epoch=\"{epoch}\" ver=\"{version}\" rel=\"{release}\"/>\n  \
             <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n  <summary>{}</summary>\n  \
             <description>{}</description>\n  \
             <packager>Rocky Linux Build System (Peridot) &lt;releng@rockylinux.org&gt;</packager>\n  \
             <url>https://{}.org/</url>\n  <time file=\"{}\" build=\"{}\"/>\n  \
             <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>\n  \
             <location href=\"Packages/{}/{name}-{version}-{release}.{arch}.rpm\"/>\n  <format>\n    \
             <rpm:license>GPLv3+ and BSD</rpm:license>\n    <rpm:vendor>Rocky Enterprise Software Foundation</rpm:vendor>\n    \
             <rpm:group>Unspecified</rpm:group>\n    <rpm:buildhost>pb-{}.rockylinux.org</rpm:buildhost>\n    \
             <rpm:sourcerpm>{name}-{version}-{release}.src.rpm</rpm:sourcerpm>\n    \
             <rpm:header-range start=\"4504\" end=\"{}\"/>\n    <rpm:provides>\n",
            rng.hex(64),
            xml_escape(&sentence(&mut rng, 40)),
            xml_escape(&sentence(&mut rng, 300)),
            rng.pick(SYLLABLES),
            rng.between(1_690_000_000, 1_720_000_000),
            rng.between(1_680_000_000, 1_690_000_000),
            rng.between(5_000, 30_000_000),
            rng.between(10_000, 90_000_000),
            rng.between(10_000, 90_000_000),
            name.chars().next().unwrap_or('x'),
            rng.hex(8),
            rng.between(10_000, 500_000),
        );
        let _ = writeln!(
            out,
            "      <rpm:entry name=\"{name}\" flags=\"EQ\" epoch=\"{epoch}\" ver=\"{version}\" rel=\"{release}\"/>"
        );
        let _ = writeln!(
            out,
            "      <rpm:entry name=\"{name}({arch})\" flags=\"EQ\" epoch=\"{epoch}\" ver=\"{version}\" rel=\"{release}\"/>"
        );
        for _ in 0..rng.between(0, 4) {
            let _ = writeln!(
                out,
                "      <rpm:entry name=\"lib{}{}.so.{}()(64bit)\"/>",
                rng.pick(SYLLABLES),
                rng.pick(SYLLABLES),
                rng.between(0, 9)
            );
        }
        out.push_str("    </rpm:provides>\n    <rpm:requires>\n");
        for _ in 0..rng.between(2, 14) {
            match rng.below(4) {
                0 => {
                    let (epoch, version, _) = rpm_version(&mut rng);
                    let _ = writeln!(
                        out,
                        "      <rpm:entry name=\"{}{}\" flags=\"GE\" epoch=\"{epoch}\" ver=\"{version}\"{}/>",
                        rng.pick(SYLLABLES),
                        rng.pick(SYLLABLES),
                        if rng.chance(20) { " pre=\"1\"" } else { "" }
                    );
                }
                1 => {
                    let _ = writeln!(
                        out,
                        "      <rpm:entry name=\"libc.so.6(GLIBC_2.{})(64bit)\"/>",
                        rng.between(2, 34)
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "      <rpm:entry name=\"lib{}{}.so.{}()(64bit)\"/>",
                        rng.pick(SYLLABLES),
                        rng.pick(SYLLABLES),
                        rng.between(0, 9)
                    );
                }
            }
        }
        out.push_str("    </rpm:requires>\n");
        for _ in 0..rng.between(0, 3) {
            let _ = writeln!(
                out,
                "    <file>/usr/bin/{name}{}</file>",
                rng.pick(SYLLABLES)
            );
        }
        out.push_str("  </format>\n</package>\n");
    }
    out.push_str("</metadata>\n");
    out
}

/// An updateinfo.xml of `advisories` updates mixing Rocky- and SUSE-style
/// advisories (all date formats, optional severity, several references).
pub fn updateinfo_xml(advisories: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n");
    for index in 0..advisories {
        let kind = rng.pick(&[
            "security",
            "security",
            "bugfix",
            "enhancement",
            "newpackage",
            "recommended",
        ]);
        let date = match rng.below(4) {
            0 => "2023-05-10 00:00:00".to_owned(),
            1 => "2023-05-10".to_owned(),
            2 => "2023-05-10T00:00:00Z".to_owned(),
            _ => rng.between(1_600_000_000, 1_720_000_000).to_string(),
        };
        let _ = writeln!(
            out,
            "  <update from=\"releng@rockylinux.org\" status=\"final\" type=\"{kind}\" version=\"2\">\n    \
             <id>RLSA-2023:{index}</id>\n    <title>{}</title>\n    <issued date=\"{date}\"/>\n    \
             <updated date=\"{date}\"/>",
            xml_escape(&sentence(&mut rng, 40))
        );
        if rng.chance(70) {
            let _ = writeln!(
                out,
                "    <severity>{}</severity>",
                rng.pick(&["Critical", "Important", "Moderate", "Low"])
            );
        }
        let _ = writeln!(
            out,
            "    <summary>{}</summary>\n    <description>{}</description>\n    <references>",
            xml_escape(&sentence(&mut rng, 60)),
            xml_escape(&sentence(&mut rng, 400))
        );
        for _ in 0..rng.between(0, 4) {
            let cve = format!("CVE-20{}-{}", rng.between(18, 24), rng.between(1000, 49999));
            let _ = writeln!(
                out,
                "      <reference href=\"https://access.redhat.com/security/cve/{cve}\" id=\"{cve}\" type=\"cve\" title=\"{cve}\"/>"
            );
        }
        out.push_str("    </references>\n    <pkglist>\n      <collection short=\"baseos\">\n        <name>BaseOS</name>\n");
        for _ in 0..rng.between(1, 4) {
            let (epoch, version, release) = rpm_version(&mut rng);
            let name = name(&mut rng, index);
            let _ = writeln!(
                out,
                "        <package name=\"{name}\" version=\"{version}\" release=\"{release}\" epoch=\"{epoch}\" arch=\"x86_64\" \
                 src=\"{name}-{version}-{release}.src.rpm\">\n          <filename>{name}-{version}-{release}.x86_64.rpm</filename>\n          \
                 <sum type=\"sha256\">{}</sum>",
                rng.hex(64)
            );
            if rng.chance(10) {
                out.push_str("          <reboot_suggested>True</reboot_suggested>\n");
            }
            out.push_str("        </package>\n");
        }
        out.push_str("      </collection>\n    </pkglist>\n  </update>\n");
    }
    out.push_str("</updates>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic() {
        assert_eq!(dpkg_status(20, 7), dpkg_status(20, 7));
        assert_ne!(dpkg_status(20, 7), dpkg_status(20, 8));
    }

    #[test]
    fn generated_files_parse_completely() {
        let status = dpkg_status(300, 1);
        assert_eq!(
            crate::dpkg_status::parse_status(status.as_bytes())
                .unwrap()
                .len(),
            300
        );
        let index = packages_index(500, 2);
        assert_eq!(
            crate::apt_packages::read_packages(index.as_bytes())
                .unwrap()
                .len(),
            500
        );
        let primary = primary_xml(200, 3);
        assert_eq!(
            crate::rpm::primary::parse_primary(primary.as_bytes())
                .unwrap()
                .len(),
            200
        );
        let updateinfo = updateinfo_xml(100, 4);
        assert_eq!(
            crate::rpm::updateinfo::parse_updateinfo(updateinfo.as_bytes())
                .unwrap()
                .len(),
            100
        );
    }
}
