//! Fuzzes the repomd.xml reader, decompression included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchline_metadata::compression::open_with_limit;
use patchline_metadata::rpm::repomd::read_repomd;

const LIMIT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = open_with_limit(data, LIMIT) else {
        return;
    };
    if let Ok(repomd) = read_repomd(input) {
        for data in &repomd.data {
            assert!(repomd.get(&data.data_type).is_some());
        }
    }
});
