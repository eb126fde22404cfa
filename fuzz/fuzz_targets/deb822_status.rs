//! Fuzzes the deb822 reader, clearsign stripping and the dpkg status parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchline_metadata::deb822::{Paragraphs, strip_clearsign};
use patchline_metadata::dpkg_status::parse_status;

fuzz_target!(|data: &[u8]| {
    if let Ok(paragraphs) = Paragraphs::from_bytes(data) {
        for paragraph in paragraphs {
            let Ok(paragraph) = paragraph else { break };
            assert!(paragraph.line() >= 1);
            for field in paragraph.fields() {
                assert!(!field.name().is_empty());
                assert!(field.line() >= paragraph.line());
                let _ = field.folded();
                let _ = field.first_line();
                let _ = field.continuation_lines().count();
            }
        }
    }
    let _ = strip_clearsign(data);
    if let Ok(packages) = parse_status(data) {
        for package in packages {
            let _ = package.source_name();
            let _ = package.status.is_interrupted();
            let _ = package.into_owned();
        }
    }
});
