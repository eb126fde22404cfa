//! The `patchline` binary run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn patchline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchline"))
        .args(args)
        .output()
        .expect("the patchline binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/baselines")
}

#[test]
fn checks_the_example_baselines() {
    let mut files: Vec<String> = std::fs::read_dir(examples())
        .unwrap()
        .map(|entry| entry.unwrap().path().display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 6);
    let args: Vec<&str> = ["baseline", "check"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let output = patchline(&args);
    assert!(output.status.success(), "{}", stdout(&output));
    assert_eq!(stdout(&output).matches("ok ").count(), files.len());
}

#[test]
fn an_invalid_baseline_is_reported_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nos-family: debian\napproval-rules:\n  - approve-after-days: 400\n    compliance-level: high\n",
    )
    .unwrap();
    let output = patchline(&["baseline", "check", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("invalid") && text.contains("400"), "{text}");
}

#[test]
fn built_in_baselines_print_as_valid_yaml() {
    let dir = tempfile::tempdir().unwrap();
    for (family, emergency) in [
        ("debian", false),
        ("rhel-compatible", false),
        ("suse", true),
    ] {
        let mut args = vec!["baseline", "show", family];
        if emergency {
            args.push("--emergency");
        }
        let output = patchline(&args);
        assert!(output.status.success());
        let file = dir.path().join(format!("{family}.yaml"));
        std::fs::write(&file, &output.stdout).unwrap();
        let check = patchline(&["baseline", "check", file.to_str().unwrap()]);
        assert!(check.status.success(), "{}", stdout(&check));
    }
}

#[test]
fn schedule_preview_crosses_the_spring_dst_change() {
    // 02:30 every day in New York; 2026-03-08 has no 02:30 (02:00 -> 03:00).
    let output = patchline(&[
        "schedule",
        "next",
        "cron(0 30 2 * * ?)",
        "--tz",
        "America/New_York",
        "--after",
        "2026-03-06T12:00:00Z",
        "-n",
        "3",
        "--duration",
        "4",
    ]);
    assert!(output.status.success());
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains("2026-03-07T07:30:00Z"), "{text}");
    assert!(lines[1].contains("2026-03-08T07:00:00Z"), "{text}");
    assert!(lines[2].contains("2026-03-09T06:30:00Z"), "{text}");
    assert!(lines[2].contains("last task start 05:30"), "{text}");
}

#[test]
fn schedule_errors_name_the_field() {
    let output = patchline(&["schedule", "next", "cron(0 0 25 * * ?)"]);
    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("hour"), "{error}");
}

#[test]
fn compares_versions_like_the_real_tools() {
    let deb = patchline(&["version", "compare", "1.0~rc1", "1.0"]);
    assert_eq!(stdout(&deb).trim(), "1.0~rc1 < 1.0");
    let rpm = patchline(&["version", "compare", "--scheme", "rpm", "1.0^git1", "1.0"]);
    assert_eq!(stdout(&rpm).trim(), "1.0^git1 > 1.0");
    let invalid = patchline(&["version", "compare", "1.0 beta", "1.0"]);
    assert_eq!(invalid.status.code(), Some(2));
}

#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // As `patchline ... | head -1`: the pipe closes while output remains.
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchline"))
        .args(["schedule", "next", "rate(1 hours)", "-n", "200000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the patchline binary runs");
    let mut first = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a first line");
    assert!(first.contains("UTC"), "{first}");
    let output = child.wait_with_output().expect("patchline finishes");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
}

#[test]
fn bad_work_ready_settings_are_refused_before_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    for (flag, value, reason) in [
        ("--work-ready-recheck", "0", "must be at least 1 second"),
        ("--work-ready-waiters", "0", "must be at least 1"),
    ] {
        let output = patchline(&[
            "server",
            "--data-dir",
            data_dir,
            "--listen",
            "127.0.0.1:0",
            flag,
            value,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '{flag}")),
            "{stderr}"
        );
        assert!(stderr.contains(reason), "{stderr}");
    }
    // Refused at parsing: nothing was created in the data directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
