//! Fuzzes the streaming primary.xml reader, decompression included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchline_metadata::compression::open_with_limit;
use patchline_metadata::rpm::primary::PrimaryReader;

const LIMIT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = open_with_limit(data, LIMIT) else {
        return;
    };
    for package in PrimaryReader::new(input) {
        let Ok(package) = package else { break };
        assert!(!package.name.is_empty());
        let _ = package.nevra();
        for dependency in package.provides.iter().chain(&package.requires) {
            let _ = dependency.to_string();
        }
    }
});
