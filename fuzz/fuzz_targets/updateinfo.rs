//! Fuzzes the streaming updateinfo.xml reader, dates and decompression included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchline_metadata::compression::open_with_limit;
use patchline_metadata::rpm::updateinfo::{UpdateinfoReader, parse_advisory_date};

const LIMIT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_advisory_date(text);
    }
    let Ok(input) = open_with_limit(data, LIMIT) else {
        return;
    };
    for advisory in UpdateinfoReader::new(input) {
        let Ok(advisory) = advisory else { break };
        assert!(!advisory.id.is_empty());
        let _ = advisory.cves().count();
        for package in advisory.packages() {
            let _ = package.evr();
        }
    }
});
