//! Small argument and display helpers shared by the server commands:
//! `KEY=VALUE` arguments and the kebab-case names of API enums.

use anyhow::{Result, bail};
use serde::Serialize;

/// Parses `KEY=VALUE` (split at the first `=`; keys may contain spaces,
/// as in `Patch Group=web`).
pub fn key_value(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.to_string(), value.to_string())),
        _ => bail!("expected KEY=VALUE, got {text:?}"),
    }
}

/// Clap value parser for `KEY=VALUE`.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    key_value(text).map_err(|error| error.to_string())
}

/// Percent-encodes a query parameter value (everything but unreserved
/// characters, as the API's path parameters are).
pub fn query_value(text: &str) -> String {
    patchline_api::routes::fill("{value}", &[text])
}

/// The wire name of a unit enum (`non-compliant`, `installed-other`).
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::compliance::ComplianceStatus;

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(
            key_value("Patch Group=web=1").unwrap(),
            ("Patch Group".to_string(), "web=1".to_string())
        );
        assert_eq!(key_value("Zone=").unwrap().1, "");
        assert!(key_value("=x").is_err());
        assert!(
            parse_key_value("novalue")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("Patch Group=web&x"), "Patch%20Group%3Dweb%26x");
    }

    #[test]
    fn enums_print_as_on_the_wire() {
        assert_eq!(wire_name(&ComplianceStatus::NonCompliant), "non-compliant");
    }
}
