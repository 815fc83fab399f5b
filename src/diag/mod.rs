//! Diagnostics: the one error/warning type every stage reports, and its renderer.
//!
//! A [`Span`] names a [`Source`] (a repo-relative path and its text, shared by
//! `Arc`) and a byte range in it, so a diagnostic carries everything it needs to
//! print `--> file:line:col` and a snippet, whichever stage produced it.
//! Stages collect diagnostics into a [`Diags`] and the caller decides the exit
//! code at the end ("collect, then fail").

use std::fmt::Write as _;
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Element, Group, Level, Origin, Renderer, Snippet};

mod code;
pub mod format;
pub use code::Code;

/// A named text that spans point into: an input file, or a template's rendered output.
#[derive(Debug)]
pub struct Source {
    /// Repo-relative path shown to the user.
    pub path: String,
    /// The text; for binary or undecodable input, empty.
    pub text: Arc<str>,
    /// Extra words after the path, e.g. "rendered for cluster prod-1".
    pub note: Option<String>,
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<Source> {
        Arc::new(Source {
            path: path.into(),
            text: text.into(),
            note: None,
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A byte range in a [`Source`].
#[derive(Clone, Debug)]
pub struct Span {
    pub src: Arc<Source>,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(src: &Arc<Source>, start: usize, end: usize) -> Span {
        Span {
            src: src.clone(),
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    /// A span covering a whole file's first position (used when no finer location exists).
    pub fn file(src: &Arc<Source>) -> Span {
        Span::new(src, 0, 0)
    }

    pub fn path(&self) -> &str {
        &self.src.path
    }

    pub fn line(&self) -> usize {
        self.src.line_col(self.start as usize).0
    }

    /// `file:line:col`.
    pub fn location(&self) -> String {
        let (l, c) = self.src.line_col(self.start as usize);
        format!("{}:{l}:{c}", self.src.path)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in the input.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    /// What kind of problem it is (stable; `error[code]:`).
    pub code: Code,
    pub message: String,
    /// The primary location, if the problem has one.
    pub span: Option<Span>,
    /// The label under the primary location.
    pub label: Option<String>,
    /// Secondary locations (e.g. "the other definition is here").
    pub related: Vec<(Span, String)>,
    pub help: Option<String>,
    /// Lines that must be redacted in the snippet (secret values).
    pub redact: bool,
    /// Clusters the problem shows up on (the same problem on many clusters is reported once).
    pub clusters: Vec<String>,
    /// The rendered object the problem is about, if it is about one.
    pub object: Option<ObjectRef>,
    /// The field of that object (`spec.template.spec.containers[name=web].image`).
    pub field: Option<String>,
    /// The Kubernetes versions (minors, `1.30`) of the clusters it happens on,
    /// when the problem depends on them.
    pub kubernetes: Vec<String>,
    /// The admission policy and rule that found the problem.
    pub policy: Option<(String, String)>,
}

/// A Kubernetes object, as a diagnostic names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: None,
            related: Vec::new(),
            help: None,
            redact: false,
            clusters: Vec::new(),
            object: None,
            field: None,
            kubernetes: Vec::new(),
            policy: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, span: &Span) -> Self {
        self.span = Some(span.clone());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn related(mut self, span: &Span, label: impl Into<String>) -> Self {
        self.related.push((span.clone(), label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Show the location but never the source text (the snippet would reveal a secret).
    pub fn redacted(mut self) -> Self {
        self.redact = true;
        self
    }

    /// Record that the problem happens on `cluster`.
    pub fn on_cluster(mut self, cluster: &str) -> Self {
        self.clusters.push(cluster.to_string());
        self
    }

    /// Record the field of the object the problem is about.
    /// Record the admission policy and rule that found the problem.
    pub fn policy(mut self, policy: impl Into<String>, rule: impl Into<String>) -> Self {
        self.policy = Some((policy.into(), rule.into()));
        self
    }

    pub fn field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(path.into());
        self
    }

    /// Record the Kubernetes version of the cluster it happens on.
    pub fn on_kubernetes(mut self, minor: impl Into<String>) -> Self {
        self.kubernetes.push(minor.into());
        self
    }

    /// Record the rendered object the problem is about.
    pub fn object(mut self, o: ObjectRef) -> Self {
        self.object = Some(o);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A stable key to sort and de-duplicate diagnostics: file, offset, message.
    fn sort_key(&self) -> (String, u32, String) {
        match &self.span {
            Some(s) => (s.src.path.clone(), s.start, self.message.clone()),
            None => (String::new(), 0, self.message.clone()),
        }
    }

    /// Render as cargo-style text: `error: msg`, `--> file:line:col`, snippet, `help:`.
    pub fn render(&self, color: bool) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut groups: Vec<Group<'_>> = Vec::new();
        let mut first: Vec<Element<'_>> = Vec::new();
        if let Some(span) = &self.span {
            first.push(self.snippet(span, self.label.as_deref().unwrap_or(""), true));
            for (s, l) in &self.related {
                first.push(self.snippet(s, l, false));
            }
        }
        let mut group = Group::with_title(
            level
                .primary_title(self.message.as_str())
                .id(self.code.as_str()),
        );
        for s in first {
            group = group.element(s);
        }
        if self.span.is_none() {
            for (s, l) in &self.related {
                group = group.element(self.snippet(s, l, false));
            }
        }
        let on = self.clusters_note();
        if let Some(n) = &on {
            group = group.element(Level::NOTE.message(n.as_str()));
        }
        if let Some(h) = &self.help {
            group = group.element(Level::HELP.message(h.as_str()));
        }
        groups.push(group);
        let mut out = renderer.render(&groups);
        // annotate-snippets trims nothing we rely on; make sure every diagnostic ends cleanly.
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    pub(crate) fn clusters_note(&self) -> Option<String> {
        const SHOWN: usize = 8;
        match self.clusters.len() {
            0 => None,
            1 => Some(format!("on cluster {}", self.clusters[0])),
            n if n <= SHOWN => Some(format!("on {n} clusters: {}", self.clusters.join(", "))),
            n => Some(format!(
                "on {n} clusters: {}, and {} more",
                self.clusters[..SHOWN].join(", "),
                n - SHOWN
            )),
        }
    }

    fn snippet<'a>(&self, span: &'a Span, label: &'a str, primary: bool) -> Element<'a> {
        let text: &str = &span.src.text;
        let start = floor_char_boundary(text, span.start as usize);
        let end = floor_char_boundary(text, (span.end as usize).max(start));
        let path: String = match &span.src.note {
            Some(n) => format!("{} ({n})", span.src.path),
            None => span.src.path.clone(),
        };
        let redact = self.redact || mentions_secret(text);
        if text.is_empty() && !redact {
            // A file-level problem (unreadable, too large, a link, an
            // encrypted file): name the file, no snippet.
            return Origin::path(path).line(1).char_column(1).into();
        }
        if redact {
            // Show a one-line stand-in so the location is still printed.
            let (line, col) = span.src.line_col(start);
            let stand_in = format!("{}<redacted>", " ".repeat(col.saturating_sub(1)));
            let len = stand_in.len();
            return Snippet::source(stand_in)
                .line_start(line)
                .path(path)
                .annotation(kind(primary).span(col.saturating_sub(1)..len).label(label))
                .into();
        }
        // Cut the snippet to the lines the span touches (plus nothing else).
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let mut line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        // Cap very long spans to a few lines.
        let max_lines = 6;
        if text[line_start..line_end].lines().count() > max_lines {
            let mut e = line_start;
            for _ in 0..max_lines {
                e = text[e..].find('\n').map_or(text.len(), |i| e + i + 1);
            }
            line_end = e.saturating_sub(1).max(line_start);
        }
        let (line, _) = span.src.line_col(start);
        let local = &text[line_start..line_end];
        let a = start - line_start;
        let b = (end.min(line_end)).saturating_sub(line_start).max(a);
        Snippet::source(local.to_string())
            .line_start(line)
            .path(path)
            .annotation(kind(primary).span(a..b).label(label))
            .into()
    }
}

/// A count and the noun that goes with it: `plural(1, "cluster", "clusters")`
/// is "1 cluster", and 0 or 2 are "0 clusters", "2 clusters" (for every
/// message that counts something, so none says "1 clusters").
pub fn plural<N>(n: N, one: &str, many: &str) -> String
where
    N: Copy + PartialEq + From<u8> + std::fmt::Display,
{
    format!("{n} {}", if n == N::from(1) { one } else { many })
}

/// Could this file hold a Secret (`kind: Secret`, however quoted or laid
/// out)? Its lines are then never shown in a snippet, whatever the problem:
/// a syntax error or a template error on a Secret's value line would print
/// the value. Errs on the side of hiding (`kind: SecretStore` counts too).
pub fn mentions_secret(text: &str) -> bool {
    if !text.contains("Secret") {
        return false;
    }
    let squeezed: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '"' | '\''))
        .collect();
    squeezed.contains("kind:Secret")
}

fn kind(primary: bool) -> AnnotationKind {
    if primary {
        AnnotationKind::Primary
    } else {
        AnnotationKind::Context
    }
}

/// `1.9` before `1.30`.
fn minor_key(v: &str) -> (u64, u64) {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A collection of diagnostics built up by a stage.
#[derive(Default, Debug, Clone)]
pub struct Diags {
    pub items: Vec<Diagnostic>,
}

impl Diags {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: Diags) {
        self.items.extend(other.items);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Sort by file and position and fold repeats (the same problem on several
    /// clusters becomes one diagnostic listing them), so output is stable
    /// whatever order parallel stages produced them in.
    pub fn normalize(&mut self) {
        self.items.sort_by_key(|d| d.sort_key());
        let mut out: Vec<Diagnostic> = Vec::with_capacity(self.items.len());
        for d in self.items.drain(..) {
            match out.last_mut() {
                Some(last)
                    if last.sort_key() == d.sort_key()
                        && last.severity == d.severity
                        && last.help == d.help =>
                {
                    last.clusters.extend(d.clusters);
                    last.kubernetes.extend(d.kubernetes);
                }
                _ => out.push(d),
            }
        }
        for d in &mut out {
            d.clusters.sort();
            d.clusters.dedup();
            d.kubernetes.sort_by_key(|v| minor_key(v));
            d.kubernetes.dedup();
        }
        self.items = out;
    }

    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.items {
            let _ = write!(out, "{}", d.render(color));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_agrees_with_the_count() {
        assert_eq!(plural(1usize, "cluster", "clusters"), "1 cluster");
        assert_eq!(plural(0usize, "cluster", "clusters"), "0 clusters");
        assert_eq!(plural(2usize, "cluster", "clusters"), "2 clusters");
        assert_eq!(plural(1u64, "byte", "bytes"), "1 byte");
        assert_eq!(plural(11u64, "policy", "policies"), "11 policies");
    }
}
