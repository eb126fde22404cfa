//! The names a generated server certificate is for: parsing and
//! validating `--tls-name` values, the default names (loopback and this
//! machine's hostname), and comparing them with the names a stored
//! certificate already carries.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One name a client may use to reach the server: a DNS name (kept in
/// lower case, without a trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlsName {
    Dns(String),
    Ip(IpAddr),
}

/// A `--tls-name` value that is neither an IP address nor a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is neither an IP address nor a DNS name{hint} \
     (expected e.g. patch.example.com, 10.0.0.5 or fd00::5)"
)]
pub struct InvalidTlsName {
    pub text: String,
    hint: &'static str,
}

impl FromStr for TlsName {
    type Err = InvalidTlsName;

    fn from_str(text: &str) -> Result<TlsName, InvalidTlsName> {
        let invalid = |hint| InvalidTlsName {
            text: text.to_string(),
            hint,
        };
        // `[fd00::5]` is how IPv6 addresses appear in URLs.
        let unbracketed = text
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(TlsName::Ip(ip));
        }
        if text.contains('*') {
            return Err(invalid(" (wildcards are not issued: name each address)"));
        }
        if text.contains("://") || text.contains('/') || text.contains(':') {
            return Err(invalid(
                " (give the bare name, without scheme, port or path)",
            ));
        }
        let name = text.strip_suffix('.').unwrap_or(text);
        // rustls' own validator, so every accepted name is one the agents'
        // TLS client can match (it also refuses all-numeric names such as
        // 10.0.0.300, which are neither an address nor a host).
        match rustls_pki_types::DnsName::try_from(name) {
            Ok(_) if !name.ends_with('.') => Ok(TlsName::Dns(name.to_ascii_lowercase())),
            _ => Err(invalid("")),
        }
    }
}

impl fmt::Display for TlsName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsName::Dns(name) => formatter.write_str(name),
            TlsName::Ip(ip) => write!(formatter, "{ip}"),
        }
    }
}

/// The names every generated certificate carries: `localhost`,
/// `127.0.0.1` and `::1`.
pub fn loopback_names() -> Vec<TlsName> {
    vec![
        TlsName::Dns("localhost".to_string()),
        TlsName::Ip(IpAddr::from([127, 0, 0, 1])),
        TlsName::Ip(IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])),
    ]
}

/// This machine's hostname when it is a valid DNS name (a container's
/// random or odd hostname is skipped rather than failing start-up).
pub fn hostname() -> Option<TlsName> {
    let text = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    text.trim().parse().ok()
}

/// `wanted` minus what `present` already covers, in `wanted`'s order.
pub fn missing_from<'a>(wanted: &'a [TlsName], present: &[TlsName]) -> Vec<&'a TlsName> {
    wanted
        .iter()
        .filter(|name| !present.contains(name))
        .collect()
}

/// `first` then the names of `rest` not already listed.
pub fn merged(first: &[TlsName], rest: &[TlsName]) -> Vec<TlsName> {
    let mut names = first.to_vec();
    for name in rest {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// `a, b, c` for messages.
pub fn listed<'a>(names: impl IntoIterator<Item = &'a TlsName>) -> String {
    names
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TlsName, InvalidTlsName> {
        text.parse()
    }

    #[test]
    fn addresses_and_dns_names_parse_into_their_kind() {
        assert_eq!(
            parse("10.0.0.5"),
            Ok(TlsName::Ip(IpAddr::from([10, 0, 0, 5])))
        );
        assert_eq!(
            parse("[fd00::5]"),
            Ok(TlsName::Ip("fd00::5".parse().expect("literal")))
        );
        // Spellings of one IPv6 address are one name.
        assert_eq!(parse("0:0:0:0:0:0:0:1"), parse("::1"));
        assert_eq!(
            parse("Patch.Example.COM."),
            Ok(TlsName::Dns("patch.example.com".into()))
        );
        assert_eq!(parse("patchline"), Ok(TlsName::Dns("patchline".into())));
    }

    #[test]
    fn nonsense_is_refused_with_the_value_and_a_hint() {
        for nonsense in [
            "",
            "patch example.com",
            "-patch.example.com",
            "patch..example.com",
            "10.0.0.300",
            "é.example.com",
            "patch.example.com..",
        ] {
            let error = parse(nonsense).expect_err(nonsense);
            assert!(
                error.to_string().contains(&format!("{nonsense:?}")),
                "{error}"
            );
        }
        let url = parse("https://patch.example.com:8443").expect_err("a URL");
        assert!(
            url.to_string().contains("without scheme, port or path"),
            "{url}"
        );
        let wildcard = parse("*.example.com").expect_err("a wildcard");
        assert!(wildcard.to_string().contains("wildcards"), "{wildcard}");
    }

    #[test]
    fn missing_names_keep_the_wanted_order() {
        let wanted = merged(
            &loopback_names(),
            &[
                parse("b.example").expect("b"),
                parse("a.example").expect("a"),
            ],
        );
        let present = merged(&loopback_names(), &[parse("a.example").expect("a")]);
        assert_eq!(listed(missing_from(&wanted, &present)), "b.example");
        assert_eq!(
            listed(missing_from(&wanted, &loopback_names())),
            "b.example, a.example"
        );
        assert_eq!(listed(&loopback_names()), "localhost, 127.0.0.1, ::1");
        // Merging never repeats a name.
        assert_eq!(merged(&wanted, &wanted), wanted);
    }
}
