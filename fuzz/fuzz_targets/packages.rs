//! Fuzzes Packages index reading, decompression (gz, xz, lz4, zst) included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchline_metadata::apt_packages::PackagesIndex;
use patchline_metadata::compression::check_name;

/// Keeps decompression bombs from turning into out-of-memory reports.
const LIMIT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = check_name("Packages.xz", data);
    let Ok(index) = PackagesIndex::from_bytes_with_limit(data, LIMIT) else {
        return;
    };
    for entry in index.entries() {
        let Ok(entry) = entry else { break };
        assert!(!entry.package.is_empty() && !entry.version.is_empty());
        let _ = entry.source_version();
        let _ = entry.into_owned();
    }
});
