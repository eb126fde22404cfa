//! Fuzzes Release/InRelease parsing and the checksum-list iterators.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchline_metadata::apt_release::parse_release;

fuzz_target!(|data: &[u8]| {
    let Ok(release) = parse_release(data) else {
        return;
    };
    let _ = release.is_security();
    let algorithms: Vec<_> = release.checksum_algorithms().collect();
    for algorithm in algorithms {
        for entry in release.checksum_entries(algorithm) {
            if let Ok(entry) = entry {
                assert_eq!(entry.digest.len(), algorithm.hex_len());
            }
        }
    }
});
