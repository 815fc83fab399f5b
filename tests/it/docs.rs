//! The documentation's links: every relative link of README.md, the root
//! pages and docs/ names a file of the repository, and every `#anchor` a
//! heading of that page (GitHub's slugs); the README links only inside the
//! repository.
use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

/// GitHub's anchor of a heading: lower case, spaces to `-`, punctuation
/// other than `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The lines of a Markdown text outside code fences.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fence = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        !fence
    })
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose(text) {
        if let Some(h) = line.strip_prefix('#') {
            let h = h.trim_start_matches('#');
            let base = slug(&h.replace('`', ""));
            // Repeated headings get -1, -2, ...
            let mut s = base.clone();
            let mut i = 1;
            while !out.insert(s.clone()) {
                s = format!("{base}-{i}");
                i += 1;
            }
        }
    }
    out
}

/// The `](target)` links of a Markdown text, outside code fences.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(j) = rest.find(')') {
                out.push(rest[..j].to_string());
                rest = &rest[j..];
            }
        }
    }
    out
}

#[test]
fn every_link_of_the_docs_resolves() {
    let root = root();
    let mut pages = vec![
        root.join("README.md"),
        root.join("ARCHITECTURE.md"),
        root.join("SECURITY.md"),
        root.join("BENCHMARKS.md"),
    ];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read page");
        let dir = page.parent().expect("dir");
        for link in links(&text) {
            if link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with("mailto:")
            {
                assert!(
                    !page.ends_with("README.md") || page.parent() != Some(root.as_path()),
                    "README.md links outside the repository: {link}"
                );
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                page.clone()
            } else {
                dir.join(path)
            };
            assert!(
                target.exists(),
                "{}: link to {link}: {} does not exist",
                page.display(),
                target.display()
            );
            if !anchor.is_empty() && target.extension().is_some_and(|x| x == "md") {
                let t = std::fs::read_to_string(&target).expect("read target");
                assert!(
                    anchors(&t).contains(anchor),
                    "{}: link to {link}: no heading `#{anchor}` in {}",
                    page.display(),
                    Path::new(&target).display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} links checked");
}
