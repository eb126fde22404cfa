//! A hand tokenizer for the one thing a scan reads in a `<package>` block:
//! its children before `<format>` — name, arch, version and time.
//!
//! Hand-written for speed: quick-xml's tokenizing of these few hundred bytes
//! per package was the largest cost left in a scan. It reads only what the
//! pre-scan ([`primary_filter`](super::primary_filter)) lets through — no
//! comments, CDATA, processing instructions or nested packages — and does a
//! well-formed subset of XML strictly: end tags must match their start tags,
//! attributes are `name="value"` or `name='value'` and not repeated. It
//! gives up (`None`, and the full parser decides) on anything else it would
//! have to interpret: entity or character references, carriage returns or
//! attribute whitespace that XML normalizes, a self-closing name, arch or
//! package, text that is not UTF-8.

use super::primary_scan::PackageVersion;
use super::xml::parse_integer;

const PACKAGE_END: &[u8] = b"</package>";

/// The scan fields of one `<package>` … `</package>` block, read as the
/// full parser reads them (local names, trimmed text, the last of a
/// repeated element wins, `<format>` and what follows unread when it ends
/// the package).
pub(super) fn read_package_header(text: &[u8]) -> Option<PackageVersion> {
    let root = start_tag(text, 0)?;
    if root.self_closing || local_name(root.name) != b"package" {
        return None;
    }
    let mut package = PackageVersion::default();
    let mut has_version = false;
    // Names of the open elements below the package.
    let mut open: Vec<&[u8]> = Vec::new();
    let mut at = root.end;
    loop {
        let lt = at + memchr::memchr(b'<', text.get(at..)?)?;
        if text.get(lt + 1) == Some(&b'/') {
            let name_end = lt + 2 + memchr::memchr(b'>', &text[lt + 2..])?;
            let name = text[lt + 2..name_end].trim_ascii_end();
            match open.pop() {
                Some(expected) if expected == name => {}
                // The package's own end tag (the pre-scan ends blocks there).
                None if name == root.name && name_end + 1 == text.len() => break,
                _ => return None,
            }
            at = name_end + 1;
            continue;
        }
        let tag = start_tag(text, lt)?;
        at = tag.end;
        if !open.is_empty() {
            if !tag.self_closing {
                open.push(tag.name);
            }
            continue;
        }
        match local_name(tag.name) {
            b"name" | b"arch" if tag.self_closing => return None,
            b"name" => (package.name, at) = element_text(text, &tag)?,
            b"arch" => (package.arch, at) = element_text(text, &tag)?,
            b"version" => {
                read_version(&text[lt..tag.end], &mut package)?;
                has_version = true;
            }
            b"time" => read_time(&text[lt..tag.end], &mut package)?,
            // `<format>` (provides, requires, files) is most of a package:
            // when it closes the package, nothing after it is read.
            b"format" if !tag.self_closing && format_ends_package(text, tag.end) => break,
            _ => {}
        }
        let skips_content = !tag.self_closing && !matches!(local_name(tag.name), b"name" | b"arch");
        if skips_content {
            open.push(tag.name);
        }
    }
    let complete = !package.name.is_empty() && !package.arch.is_empty() && has_version;
    complete.then_some(package)
}

/// A start tag: its qualified name, whether it is `<…/>`, and the offset
/// after its `>`.
struct StartTag<'a> {
    name: &'a [u8],
    self_closing: bool,
    end: usize,
}

/// The start tag at `lt` (a `<`), quote-aware (`>` may appear in a value).
fn start_tag(text: &[u8], lt: usize) -> Option<StartTag<'_>> {
    let after = text.get(lt + 1..)?;
    let name_len = after
        .iter()
        .position(|&byte| matches!(byte, b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n'))?;
    let name = &after[..name_len];
    if name.is_empty() || matches!(name[0], b'!' | b'?') {
        return None;
    }
    let mut at = name_len;
    loop {
        match *after.get(at)? {
            b'>' => break,
            quote @ (b'"' | b'\'') => at += 1 + memchr::memchr(quote, &after[at + 1..])?,
            b'<' => return None,
            _ => {}
        }
        at += 1;
    }
    Some(StartTag {
        name,
        self_closing: after[..at].ends_with(b"/"),
        end: lt + 1 + at + 1,
    })
}

fn local_name(name: &[u8]) -> &[u8] {
    name.rsplit(|&byte| byte == b':').next().unwrap_or(name)
}

/// The trimmed text of a text-only element and the offset after its end
/// tag; `None` for references, markup or a carriage return in it.
fn element_text(text: &[u8], tag: &StartTag<'_>) -> Option<(String, usize)> {
    let rest = text.get(tag.end..)?;
    let text_end = memchr::memchr(b'<', rest)?;
    let content = &rest[..text_end];
    if memchr::memchr2(b'&', b'\r', content).is_some() {
        return None;
    }
    let end_tag = rest[text_end..].strip_prefix(b"</")?;
    let end_tag = end_tag.strip_prefix(tag.name)?;
    let close = memchr::memchr(b'>', end_tag)?;
    if !end_tag[..close].trim_ascii().is_empty() {
        return None;
    }
    let trimmed = std::str::from_utf8(content).ok()?.trim().to_owned();
    let after = tag.end + text_end + 2 + tag.name.len() + close + 1;
    Some((trimmed, after))
}

/// Most attributes a tag may have for the hand reader (`<version>` and
/// `<time>` have three and two); more goes to the full parser.
const MAX_ATTRIBUTES: usize = 8;

/// Calls `visit(local name, value)` for each attribute of `tag`
/// (`<name a="1" …>`); `None` on a repeated attribute, a reference, or
/// whitespace XML would normalize inside a value, or when `visit` gives up.
fn for_each_attribute<'t>(
    tag: &'t [u8],
    mut visit: impl FnMut(&'t [u8], &'t str) -> Option<()>,
) -> Option<()> {
    let inner = tag.strip_prefix(b"<")?.strip_suffix(b">")?;
    let inner = inner.strip_suffix(b"/").unwrap_or(inner);
    let name_len = inner
        .iter()
        .position(|byte| byte.is_ascii_whitespace())
        .unwrap_or(inner.len());
    let mut rest = &inner[name_len..];
    let mut seen: [&[u8]; MAX_ATTRIBUTES] = [&[]; MAX_ATTRIBUTES];
    let mut count = 0;
    loop {
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return Some(());
        }
        let equals = memchr::memchr(b'=', rest)?;
        let key = rest[..equals].trim_ascii_end();
        if key.is_empty() || key.iter().any(|byte| byte.is_ascii_whitespace()) {
            return None;
        }
        let value_part = rest[equals + 1..].trim_ascii_start();
        let quote = *value_part.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let value_len = memchr::memchr(quote, &value_part[1..])?;
        let value = &value_part[1..1 + value_len];
        if memchr::memchr3(b'&', b'<', b'\t', value).is_some()
            || memchr::memchr2(b'\r', b'\n', value).is_some()
        {
            return None;
        }
        if count == MAX_ATTRIBUTES || seen[..count].contains(&key) {
            return None;
        }
        seen[count] = key;
        count += 1;
        visit(local_name(key), std::str::from_utf8(value).ok()?)?;
        rest = &value_part[1 + value_len + 1..];
        // Attributes are separated by whitespace.
        if rest.first().is_some_and(|byte| !byte.is_ascii_whitespace()) {
            return None;
        }
    }
}

fn read_version(tag: &[u8], package: &mut PackageVersion) -> Option<()> {
    let (mut version, mut release) = (None, None);
    for_each_attribute(tag, |key, value| {
        match key {
            b"epoch" => package.epoch = epoch(value)?,
            b"ver" => version = Some(value),
            b"rel" => release = Some(value),
            _ => {}
        }
        Some(())
    })?;
    package.version = version?.to_owned();
    package.release = release?.to_owned();
    Some(())
}

/// As the full parser reads an epoch: empty is 0.
fn epoch(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() {
        return Some(0);
    }
    value.parse().ok()
}

fn read_time(tag: &[u8], package: &mut PackageVersion) -> Option<()> {
    for_each_attribute(tag, |key, value| {
        match key {
            b"file" => package.time_file = Some(parse_integer(value, "time file", "", 0).ok()?),
            // Read, not kept: the full parser fails on a bad one.
            b"build" => {
                parse_integer(value, "time build", "", 0).ok()?;
            }
            _ => {}
        }
        Some(())
    })
}

/// Whether the `<format>` start tag ending at `after` opens the package's
/// last child: no other element of that local name follows, and its end
/// tag is all that precedes `</package>`.
pub(super) fn format_ends_package(text: &[u8], after: usize) -> bool {
    let Some(rest) = text.get(after..) else {
        return false;
    };
    let Some(content) = rest.strip_suffix(PACKAGE_END) else {
        return false;
    };
    if !content.trim_ascii_end().ends_with(b"</format>") {
        return false;
    }
    // Text and attribute values hold no raw `<`: each hit starts markup.
    !memchr::memchr_iter(b'<', content).any(|at| {
        let tag = &content[at + 1..];
        let name_end = tag
            .iter()
            .position(|&byte| matches!(byte, b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n'))
            .unwrap_or(tag.len());
        local_name(&tag[..name_end]) == b"format"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpm::primary::parse_primary;

    /// A one-package primary around `children`, for the full parser.
    fn document(children: &str) -> String {
        format!(
            "<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n\
             <package type=\"rpm\">{children}</package>\n</metadata>\n"
        )
    }

    fn block(children: &str) -> String {
        format!("<package type=\"rpm\">{children}</package>")
    }

    const PLAIN: &str = "<name>bash</name><arch>x86_64</arch>\
        <version epoch=\"1\" ver=\"5.1.8\" rel=\"9.el9\"/>\
        <summary>The GNU Bourne Again shell</summary>\
        <time file=\"1700000000\" build=\"1690000000\"/>\
        <location href=\"bash.rpm\"/>\
        <format><rpm:provides><rpm:entry name=\"bash\"/></rpm:provides></format>";

    /// What the full parser reads, reduced to the scan fields.
    fn full(children: &str) -> Option<PackageVersion> {
        let packages = parse_primary(document(children).as_bytes()).ok()?;
        packages.into_iter().next().map(PackageVersion::from)
    }

    #[test]
    fn reads_what_the_full_parser_reads() {
        let read = read_package_header(block(PLAIN).as_bytes()).unwrap();
        assert_eq!(Some(read.clone()), full(PLAIN));
        assert_eq!(
            (read.name.as_str(), read.arch.as_str(), read.epoch),
            ("bash", "x86_64", 1)
        );
        assert_eq!(read.time_file, Some(1_700_000_000));
    }

    /// Legal shapes read by hand, each equal to the full parser's reading.
    #[test]
    fn legal_variations_equal_the_full_parser() {
        let variations = [
            PLAIN
                .replace("<version epoch", "<version  ver='5.1.8' epoch")
                .replace(" ver=\"5.1.8\"", ""),
            PLAIN.replace("<summary>", "<summary lang=\"a>b\">"),
            PLAIN.replace("</arch>", "</arch >"),
            PLAIN.replace("<arch>x86_64</arch>", "<arch>\n  x86_64\n</arch>"),
            PLAIN.replace("<summary>", "<description><p>x</p></description><summary>"),
            PLAIN.replace("epoch=\"1\"", "epoch = \"\""),
            PLAIN.replace(
                "<location",
                "<version epoch=\"2\" ver=\"6\" rel=\"1\"/><location",
            ),
            PLAIN
                .replace("<format>", "<rpm:format>")
                .replace("</format>", "</rpm:format>"),
        ];
        for children in &variations {
            let expected = full(children);
            assert!(expected.is_some(), "{children}");
            assert_eq!(
                read_package_header(block(children).as_bytes()),
                expected,
                "{children}"
            );
        }
    }

    /// Shapes the hand reader leaves to the full parser.
    #[test]
    fn gives_up_on_what_it_would_have_to_interpret() {
        let give_up = [
            PLAIN.replace("x86_64</arch>", "x86&#95;64</arch>"),
            PLAIN.replace("rel=\"9.el9\"", "rel=\"9.el9&amp;\""),
            PLAIN.replace("rel=\"9.el9\"", "rel=\"9.\tel9\""),
            PLAIN.replace("rel=\"9.el9\"", "rel=\"9.el9\" rel=\"1\""),
            PLAIN.replace("rel=\"9.el9\"", "rel=9.el9"),
            PLAIN.replace("</summary>", "</sumary>"),
            PLAIN.replace("<arch>x86_64</arch>", "<arch/>"),
            PLAIN.replace("<arch>x86_64</arch>", "<arch>x86_64\r\n</arch>"),
            PLAIN.replace(" rel=\"9.el9\"", ""),
            PLAIN.replace("<name>bash</name>", ""),
        ];
        for children in &give_up {
            assert_eq!(
                read_package_header(block(children).as_bytes()),
                None,
                "{children}"
            );
        }
    }

    #[test]
    fn format_is_skipped_only_when_it_ends_the_package() {
        let text = block(PLAIN);
        let after = text.find("<format>").unwrap() + "<format>".len();
        assert!(format_ends_package(text.as_bytes(), after));
        let trailing = block(&format!("{PLAIN}<url>x</url>"));
        assert!(!format_ends_package(trailing.as_bytes(), after));
        let second = block(&format!("{PLAIN}<format></format>"));
        assert!(!format_ends_package(second.as_bytes(), after));
    }
}
