//! Measures what the harness costs: building one tiny package of each kind
//! and creating each kind of node root (the figures in the crate docs).
//! `cargo run -p patchline-testkit --example timings` (as root).

use std::time::{Duration, Instant};

use patchline_testkit::{
    AptRoot, AptRootOptions, DebPackage, DnfRoot, DnfRootOptions, Result, RpmPackage, ZypperRoot,
    ZypperRootOptions,
};

const ROUNDS: u32 = 10;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(label: &str, mut step: impl FnMut(u32) -> Result<()>) -> Result<()> {
    let mut samples = Vec::new();
    for round in 0..ROUNDS {
        let start = Instant::now();
        step(round)?;
        samples.push(start.elapsed());
    }
    println!(
        "{label:<28} median {:>7.1} ms over {ROUNDS}",
        median(samples).as_secs_f64() * 1e3
    );
    Ok(())
}

fn main() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|source| patchline_testkit::TestkitError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let out = dir.path();
    measure("build .deb (1 file, postinst)", |round| {
        DebPackage::new("kit-timing", format!("1.{round}"))
            .file("/usr/share/kit/file", "x\n")
            .postinst("true")
            .build(&out.join("debs"))
            .map(drop)
    })?;
    measure("build .rpm (1 file, %post)", |round| {
        RpmPackage::new("kit-timing", format!("1.{round}"))
            .file("/usr/share/kit/file", "x\n")
            .post("true")
            .build(&out.join("rpms"))
            .map(drop)
    })?;
    measure("create AptRoot", |round| {
        AptRoot::create(out.join(format!("apt{round}")), &AptRootOptions::default()).map(drop)
    })?;
    measure("create DnfRoot", |round| {
        DnfRoot::create(out.join(format!("dnf{round}")), &DnfRootOptions::default()).map(drop)
    })?;
    measure("create ZypperRoot", |round| {
        ZypperRoot::create(
            out.join(format!("zypper{round}")),
            &ZypperRootOptions::default(),
        )
        .map(drop)
    })?;
    Ok(())
}
