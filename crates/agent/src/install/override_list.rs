//! The install-override list: an explicit `name[:arch]=version` list (one a
//! line, `#` comments) that replaces the baseline's install targets, like
//! the cloud service's `InstallOverrideList`.

use crate::driver::Target;

/// A malformed override list, naming the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("override list line {line}: {problem}: {text:?}")]
pub struct OverrideListError {
    pub line: usize,
    pub text: String,
    pub problem: &'static str,
}

/// Parses an override list; an entry without `:arch` matches any arch.
pub fn parse_override_list(text: &str) -> Result<Vec<Target>, OverrideListError> {
    let mut targets = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let entry = raw.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let error = |problem| OverrideListError {
            line: index + 1,
            text: raw.to_owned(),
            problem,
        };
        let (package, version) = entry
            .split_once('=')
            .ok_or_else(|| error("expected name=version"))?;
        let (name, arch) = package.split_once(':').unwrap_or((package, ""));
        let (name, arch, version) = (name.trim(), arch.trim(), version.trim());
        if name.is_empty() {
            return Err(error("empty package name"));
        }
        if version.is_empty() {
            return Err(error("empty version"));
        }
        if entry.contains(char::is_whitespace) && entry.split_whitespace().count() > 1 {
            return Err(error("one entry per line"));
        }
        targets.push(Target {
            name: name.to_owned(),
            arch: arch.to_owned(),
            version: version.to_owned(),
        });
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_comments_and_arches() {
        let targets =
            parse_override_list("# approved by change 42\nkit=1.0-2\nlibkit:i386=1:2.0 # why\n\n")
                .unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(
            (targets[0].name.as_str(), targets[0].arch.as_str()),
            ("kit", "")
        );
        assert_eq!(targets[1].arch, "i386");
        assert_eq!(targets[1].version, "1:2.0");
    }

    #[test]
    fn errors_name_the_line() {
        let error = parse_override_list("kit=1\nkit\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.to_string().contains("name=version"), "{error}");
        assert_eq!(
            parse_override_list("=1").unwrap_err().problem,
            "empty package name"
        );
        assert_eq!(
            parse_override_list("a=1 b=2").unwrap_err().problem,
            "one entry per line"
        );
    }
}
