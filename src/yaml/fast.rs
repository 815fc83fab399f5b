//! A fast reader for the plain block YAML that templates and tools emit.
//!
//! Most of fleetc's time at fleet scale goes into parsing rendered
//! manifests, and nearly all of them use a small part of YAML: block
//! mappings and sequences, single-line plain and quoted scalars, literal
//! block scalars, `[]`/`{}`, comments and `---`. This reader handles exactly
//! that part, several times faster than the general parser, and gives up
//! (returns `None`) on anything else — anchors, tags, flow collections,
//! folded or multi-line scalars, escapes, tabs, non-ASCII text, duplicate
//! keys, budgets exceeded. The caller then parses the whole text with the
//! general parser, which also produces every error message; so this reader
//! never reports an error and never accepts what the general one rejects.
//!
//! It builds the same tree with the same spans as [`super::yaml`]'s event
//! builder (collections start at their first key, `-` or first item, and end
//! where the next token starts; empty values sit just after their `:` or
//! `-`; block scalars run from their first content character to the next
//! line's first character); a differential test over every YAML file of the
//! repository and mutations of them holds it to that.

use std::sync::Arc;

use super::{key_name, resolve_plain, Budget, Key, Map, Node, Value};
use crate::diag::{Source, Span};

/// Parse `src` if it stays within the supported subset; `None` otherwise.
pub fn parse(src: &Arc<Source>, budget: &Budget) -> Option<Vec<Node>> {
    let t = src.text.as_bytes();
    // Tabs, carriage returns, other controls, non-ASCII, directives and document-end markers: general parser.
    if t.iter().any(|&b| (b < 0x20 && b != b'\n') || b >= 0x7f) {
        return None;
    }
    let mut p = P {
        t,
        src,
        budget,
        nodes: 0,
        depth: 0,
        pos: 0,
    };
    p.documents()
}

struct P<'a> {
    t: &'a [u8],
    src: &'a Arc<Source>,
    budget: &'a Budget,
    nodes: usize,
    depth: usize,
    /// Start of the current line.
    pos: usize,
}

/// The next line holding a token: its start, indentation and first character.
#[derive(Clone, Copy)]
struct Line {
    start: usize,
    indent: usize,
    /// `---` at column 0 (a document boundary), or end of text.
    boundary: bool,
}

impl Line {
    fn first(&self) -> usize {
        if self.boundary {
            self.start
        } else {
            self.start + self.indent
        }
    }
}

type R<T> = Option<T>;

impl<'a> P<'a> {
    fn span(&self, s: usize, e: usize) -> Span {
        Span::new(self.src, s, e)
    }

    fn count(&mut self) -> R<()> {
        self.nodes += 1;
        (self.nodes <= self.budget.max_nodes).then_some(())
    }

    fn line_end(&self, from: usize) -> usize {
        memchr(b'\n', &self.t[from..]).map_or(self.t.len(), |i| from + i)
    }

    /// Skip blank and comment-only lines from `self.pos`; return the next line with a token.
    fn next_line(&mut self) -> R<Line> {
        loop {
            let start = self.pos;
            if start >= self.t.len() {
                return Some(Line {
                    start: self.t.len(),
                    indent: 0,
                    boundary: true,
                });
            }
            let end = self.line_end(start);
            let line = &self.t[start..end];
            let indent = line.iter().take_while(|&&b| b == b' ').count();
            if indent == line.len() || line[indent] == b'#' {
                self.pos = (end + 1).min(self.t.len());
                continue;
            }
            if indent == 0 && line.starts_with(b"---") {
                // Only a bare marker is handled.
                if line.len() == 3 || line[3..].iter().all(|&b| b == b' ') {
                    return Some(Line {
                        start,
                        indent: 0,
                        boundary: true,
                    });
                }
                return None;
            }
            if indent == 0 && (line.starts_with(b"...") || line[0] == b'%') {
                return None;
            }
            return Some(Line {
                start,
                indent,
                boundary: false,
            });
        }
    }

    fn documents(&mut self) -> R<Vec<Node>> {
        let mut docs = Vec::new();
        loop {
            let l = self.next_line()?;
            if l.boundary {
                if l.start >= self.t.len() {
                    return Some(docs);
                }
                // `---`: the document starts on the next line.
                self.pos = (self.line_end(l.start) + 1).min(self.t.len());
                continue;
            }
            if docs.len() >= self.budget.max_documents {
                return None;
            }
            let first = l.first();
            let node = if self.is_item(first) {
                self.seq(l.indent, first, false)?
            } else {
                self.map(l.indent, first)?
            };
            docs.push(node);
            // The document must end here.
            let l = self.next_line()?;
            if !l.boundary {
                return None;
            }
        }
    }

    /// `-` followed by a space or the end of the line.
    fn is_item(&self, at: usize) -> bool {
        self.t[at] == b'-' && matches!(self.t.get(at + 1), None | Some(b' ' | b'\n'))
    }

    fn enter(&mut self) -> R<()> {
        if self.depth >= self.budget.max_depth {
            return None;
        }
        self.depth += 1;
        self.count()
    }

    /// A block mapping whose keys sit at column `indent`; the first key starts at `first`.
    fn map(&mut self, indent: usize, first: usize) -> R<Node> {
        self.enter()?;
        let mut map = Map::new();
        let mut at = first;
        let end = loop {
            let (key, after) = self.key(at)?;
            if key.name == "<<" || map.contains_key(key.name.as_str()) {
                return None;
            }
            let value = self.value_after(after, indent, true)?;
            map.insert(key, value);
            let l = self.next_line()?;
            if l.boundary || l.indent < indent {
                break l.first();
            }
            if l.indent > indent || self.is_item(l.first()) {
                return None;
            }
            at = l.first();
        };
        self.depth -= 1;
        Some(Node::new(Value::Map(map), self.span(first, end)))
    }

    /// A block sequence whose `-` sit at column `indent`; `first` is the first `-`.
    /// An indentless sequence (a mapping value at the key's own column) starts at its
    /// first item's content, as the general parser has it.
    fn seq(&mut self, indent: usize, first: usize, indentless: bool) -> R<Node> {
        self.enter()?;
        let mut items = Vec::new();
        let mut dash = first;
        let mut start = first;
        let end = loop {
            let (item, content) = self.item(dash, indent)?;
            if indentless && items.is_empty() {
                start = content?;
            }
            items.push(item);
            let l = self.next_line()?;
            if l.boundary || l.indent < indent {
                break l.first();
            }
            if l.indent > indent {
                return None;
            }
            if !self.is_item(l.first()) {
                // An indentless sequence ends where its mapping's next key starts.
                if indentless {
                    break l.first();
                }
                return None;
            }
            dash = l.first();
        };
        self.depth -= 1;
        Some(Node::new(Value::Seq(items), self.span(start, end)))
    }

    /// One sequence item at `dash`; also where its content starts (None when on a later line).
    fn item(&mut self, dash: usize, indent: usize) -> R<(Node, Option<usize>)> {
        let eol = self.line_end(dash);
        let mut c = dash + 1;
        while c < eol && self.t[c] == b' ' {
            c += 1;
        }
        if c >= eol || self.t[c] == b'#' {
            if c < eol {
                return None; // `- # comment`
            }
            // Content on the following lines, or nothing: then the empty value sits at the line's end.
            self.pos = (eol + 1).min(self.t.len());
            let node = self.block_value(c, indent, false)?;
            let content = node.is_null().then_some(c);
            return Some((node, content));
        }
        if self.is_item(c) {
            return None; // `- - x`
        }
        if self.key_line(c, eol) {
            let col = c - self.line_start(c);
            return Some((self.map(col, c)?, Some(c)));
        }
        Some((self.inline(c, eol, indent)?, Some(c)))
    }

    fn line_start(&self, at: usize) -> usize {
        self.t[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    }

    /// Does the content from `c` to `eol` start with a mapping key (`key:` then space or end)?
    fn key_line(&self, c: usize, eol: usize) -> bool {
        match self.t[c] {
            b'"' | b'\'' => {
                let q = self.t[c];
                let mut i = c + 1;
                while i < eol {
                    if self.t[i] == q {
                        if q == b'\'' && self.t.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        return self.t.get(i + 1) == Some(&b':')
                            && matches!(self.t.get(i + 2), None | Some(b' ' | b'\n'));
                    }
                    i += 1;
                }
                false
            }
            _ => {
                let mut i = c;
                while i < eol {
                    match self.t[i] {
                        b':' if i + 1 >= eol || self.t[i + 1] == b' ' => return true,
                        b'#' if i > c && self.t[i - 1] == b' ' => return false,
                        _ => {}
                    }
                    i += 1;
                }
                false
            }
        }
    }

    /// The key starting at `at`; returns it and the position just after its `:`.
    fn key(&mut self, at: usize) -> R<(Key, usize)> {
        let eol = self.line_end(at);
        let (v, span_end, colon) = match self.t[at] {
            b'"' | b'\'' => {
                let (v, close) = self.quoted(at, eol)?;
                if self.t.get(close) != Some(&b':')
                    || !matches!(self.t.get(close + 1), None | Some(b' ' | b'\n'))
                {
                    return None;
                }
                (v, close, close)
            }
            b => {
                if is_indicator(b) && !(b == b'-' || b == b':' || b == b'?') {
                    return None;
                }
                if (b == b'-' || b == b'?' || b == b':')
                    && matches!(self.t.get(at + 1), None | Some(b' ' | b'\n'))
                {
                    return None;
                }
                let mut i = at;
                loop {
                    if i >= eol {
                        return None;
                    }
                    if self.t[i] == b':' && (i + 1 >= eol || self.t[i + 1] == b' ') {
                        break;
                    }
                    if self.t[i] == b'#' && i > at && self.t[i - 1] == b' ' {
                        return None;
                    }
                    i += 1;
                }
                if self.t[i - 1] == b' ' {
                    return None;
                }
                let text = self.str(at, i);
                (resolve_plain(text), i, i)
            }
        };
        self.count()?;
        let name = key_name(&v)?;
        Some((
            Key {
                name,
                span: self.span(at, span_end),
            },
            colon + 1,
        ))
    }

    fn str(&self, s: usize, e: usize) -> &'a str {
        // The text is ASCII (checked in `parse`), so every offset is a boundary.
        std::str::from_utf8(&self.t[s..e]).unwrap_or_default()
    }

    /// A quoted scalar on one line without escapes: its value and the position after the closing quote.
    fn quoted(&self, at: usize, eol: usize) -> R<(Value, usize)> {
        let q = self.t[at];
        let mut i = at + 1;
        let mut out = String::new();
        let mut from = i;
        loop {
            if i >= eol {
                return None;
            }
            let b = self.t[i];
            if q == b'"' && b == b'\\' {
                return None;
            }
            if b == q {
                if q == b'\'' && self.t.get(i + 1) == Some(&b'\'') {
                    out.push_str(self.str(from, i + 1));
                    i += 2;
                    from = i;
                    continue;
                }
                out.push_str(self.str(from, i));
                return Some((Value::Str(out), i + 1));
            }
            i += 1;
        }
    }

    /// The value after a mapping key's `:` at `after` (exclusive); `indent` is the key's column.
    fn value_after(&mut self, after: usize, indent: usize, in_map: bool) -> R<Node> {
        let eol = self.line_end(after);
        let mut c = after;
        while c < eol && self.t[c] == b' ' {
            c += 1;
        }
        if c >= eol || self.t[c] == b'#' {
            if c < eol && c == after {
                return None;
            }
            self.pos = (eol + 1).min(self.t.len());
            // An empty value sits on the `:` itself.
            return self.block_value(after - 1, indent, in_map);
        }
        self.inline(c, eol, indent)
    }

    /// A value that starts on the line after its key or dash: a nested collection, or null.
    /// `empty_at` is where an empty value's span sits; `indent` is the parent's column.
    fn block_value(&mut self, empty_at: usize, indent: usize, in_map: bool) -> R<Node> {
        let save = self.pos;
        let l = self.next_line()?;
        if !l.boundary && l.indent > indent {
            let first = l.first();
            return if self.is_item(first) {
                self.seq(l.indent, first, false)
            } else {
                let eol = self.line_end(first);
                if !self.key_line(first, eol) {
                    return None; // a scalar on its own line
                }
                self.map(l.indent, first)
            };
        }
        if in_map && !l.boundary && l.indent == indent && self.is_item(l.first()) {
            return self.seq(l.indent, l.first(), true);
        }
        self.pos = save;
        self.count()?;
        Some(Node::new(Value::Null, self.span(empty_at, empty_at)))
    }

    /// A value starting at `c` on its key's or dash's line; `indent` is the parent's column.
    fn inline(&mut self, c: usize, eol: usize, indent: usize) -> R<Node> {
        let b = self.t[c];
        let node = match b {
            b'|' => return self.literal(c, eol, indent),
            b'"' | b'\'' => {
                let (v, close) = self.quoted(c, eol)?;
                self.rest_is_comment(close, eol)?;
                Node::new(v, self.span(c, close))
            }
            b'[' | b'{' => {
                let close = if b == b'[' { b']' } else { b'}' };
                if self.t.get(c + 1) != Some(&close) {
                    return None;
                }
                self.rest_is_comment(c + 2, eol)?;
                self.enter()?;
                self.depth -= 1;
                let v = if b == b'[' {
                    Value::Seq(Vec::new())
                } else {
                    Value::Map(Map::new())
                };
                self.pos = (eol + 1).min(self.t.len());
                return Some(Node::new(v, self.span(c, c + 2)));
            }
            _ => {
                if is_indicator(b) && !(b == b'-' || b == b':' || b == b'?') {
                    return None;
                }
                if matches!(b, b'-' | b'?' | b':')
                    && matches!(self.t.get(c + 1), None | Some(b' ' | b'\n'))
                {
                    return None;
                }
                let mut i = c;
                let mut end = c;
                while i < eol {
                    let x = self.t[i];
                    if x == b'#' && self.t[i - 1] == b' ' {
                        break;
                    }
                    if x == b':' && (i + 1 >= eol || self.t[i + 1] == b' ') {
                        return None;
                    }
                    if x != b' ' {
                        end = i + 1;
                    }
                    i += 1;
                }
                Node::new(resolve_plain(self.str(c, end)), self.span(c, end))
            }
        };
        self.count()?;
        self.pos = (eol + 1).min(self.t.len());
        Some(node)
    }

    /// After a closed scalar: nothing but spaces and an optional comment.
    fn rest_is_comment(&self, from: usize, eol: usize) -> R<()> {
        let mut i = from;
        while i < eol && self.t[i] == b' ' {
            i += 1;
        }
        (i >= eol || (self.t[i] == b'#' && i > from)).then_some(())
    }

    /// A literal block scalar (`|`, `|-`, `|+`) whose header is at `c`; `indent` is the parent's column.
    fn literal(&mut self, c: usize, eol: usize, indent: usize) -> R<Node> {
        let mut h = c + 1;
        let chomp = match self.t.get(h) {
            Some(b'-') => {
                h += 1;
                b'-'
            }
            Some(b'+') => {
                h += 1;
                b'+'
            }
            _ => b' ',
        };
        self.rest_is_comment(h, eol)?;
        // Content lines: the first one sets the indentation; no blank lines before it.
        let mut pos = (eol + 1).min(self.t.len());
        let first_end = self.line_end(pos);
        let ind = self.t[pos..first_end]
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
        if pos >= self.t.len() || ind <= indent || ind == first_end - pos {
            return None;
        }
        let start = pos + ind;
        let mut text = String::new();
        let mut trailing_breaks = 0usize;
        let end;
        loop {
            if pos >= self.t.len() {
                end = self.t.len();
                break;
            }
            let le = self.line_end(pos);
            let line = &self.t[pos..le];
            let sp = line.iter().take_while(|&&b| b == b' ').count();
            if sp == line.len() {
                // A blank line: part of the scalar (as a line break) unless it is longer than the indentation.
                if sp > ind {
                    return None;
                }
                trailing_breaks += 1;
                pos = le + 1;
                continue;
            }
            if sp < ind {
                end = pos + sp;
                break;
            }
            for _ in 0..trailing_breaks {
                text.push('\n');
            }
            text.push_str(self.str(pos + ind, le));
            if le >= self.t.len() {
                // The last line has no line break: left to the general parser.
                return None;
            }
            trailing_breaks = 1;
            pos = le + 1;
        }
        match chomp {
            b'-' => {}
            b'+' => {
                for _ in 0..trailing_breaks {
                    text.push('\n');
                }
            }
            _ => {
                if trailing_breaks > 0 {
                    text.push('\n');
                }
            }
        }
        self.count()?;
        self.pos = pos.min(self.t.len());
        Some(Node::new(Value::Str(text), self.span(start, end)))
    }
}

/// Characters that cannot start a plain scalar (some can when a non-space follows).
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::super::parse_general;
    use super::*;
    use std::path::Path;

    /// Same values, same spans, same key spans and key order.
    fn same(a: &Node, b: &Node, at: &str) -> Result<(), String> {
        if (a.span.start, a.span.end) != (b.span.start, b.span.end) {
            return Err(format!(
                "{at}: span {}..{} vs {}..{}",
                a.span.start, a.span.end, b.span.start, b.span.end
            ));
        }
        match (&a.v, &b.v) {
            (Value::Map(x), Value::Map(y)) => {
                if x.len() != y.len() {
                    return Err(format!("{at}: {} keys vs {}", x.len(), y.len()));
                }
                for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                    if ka.name != kb.name
                        || (ka.span.start, ka.span.end) != (kb.span.start, kb.span.end)
                    {
                        return Err(format!(
                            "{at}: key {:?}@{}..{} vs {:?}@{}..{}",
                            ka.name,
                            ka.span.start,
                            ka.span.end,
                            kb.name,
                            kb.span.start,
                            kb.span.end
                        ));
                    }
                    same(va, vb, &format!("{at}.{}", ka.name))?;
                }
                Ok(())
            }
            (Value::Seq(x), Value::Seq(y)) => {
                if x.len() != y.len() {
                    return Err(format!("{at}: {} items vs {}", x.len(), y.len()));
                }
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    same(p, q, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            (Value::Float(x), Value::Float(y)) if x.is_nan() && y.is_nan() => Ok(()),
            (x, y) => {
                if format!("{x:?}") == format!("{y:?}") {
                    Ok(())
                } else {
                    Err(format!("{at}: {x:?} vs {y:?}"))
                }
            }
        }
    }

    /// When the fast path accepts a text, the general parser reads the same tree.
    fn check(text: &str, name: &str) -> Result<bool, String> {
        let src = Source::new(name, text);
        let budget = Budget::default();
        let Some(fast) = parse(&src, &budget) else {
            return Ok(false);
        };
        let general = parse_general(&src, &budget).map_err(|e| {
            format!(
                "{name}: fast path accepted what the parser rejects: {}",
                e.message
            )
        })?;
        if fast.len() != general.len() {
            return Err(format!(
                "{name}: {} documents vs {}",
                fast.len(),
                general.len()
            ));
        }
        for (i, (a, b)) in fast.iter().zip(&general).enumerate() {
            same(a, b, &format!("{name}#{i}"))?;
        }
        Ok(true)
    }

    fn yaml_files(dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
            {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    out.push((p.display().to_string(), t));
                }
            }
        }
    }

    fn corpus() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        // tests/ includes tests/fixtures/ (the project's Kyverno policies).
        for d in ["golden", "examples", "tests", "fleet-schema"] {
            yaml_files(&root.join(d), &mut files);
        }
        files
    }

    const SAMPLES: &[&str] = &[
        "a: 1\nb:\n  c: \"x y\"\n  d: |\n    l1\n    l2\n  e:\n  - f\n  - g: h\n    i: j\n  k: []\n  l: {}\n  m: 'q' # c\n---\nx: y\n",
        "a:\n  b: c\n# comment\n\nd:\ne: |\n  x\n\n# z\nh:\n  - i\n  # c\n",
        "- a\n- b: c\n  d: e\n-\n- x\n",
        "a:   # c\nb: x\nc:\n  - p\nd: []\n",
        "---\n# only\n---\na: 1\n",
        "a:\n- x\n-   y\n- z: 1\nb: |-\n    t\n",
        "a:\n- x\nb: 1\nc: |+\n  k\n\n\nd: 'it''s'\ne: \"\"\n'q': 1\n\"r s\": 2\n1: x\ntrue: y\n~: z\n",
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        args:\n        - --log-level=info\n        env:\n        - name: X\n          value: \"1\"\n",
        "a: |\n    indented more\n  less\n",
        "a: |\n  x\n   y\n\n  z\nb: 2\n",
        "k: v\n---\n---\nk: w\n",
        "  a: 1\n  b: 2\n",
        "a: http://x:80/y\nb: a#b\nc: x # y\nd: -1\ne: 0x1F\nf: 1.5e3\ng: .inf\nh: null\n",
    ];

    #[test]
    fn fast_path_reads_what_the_parser_reads() {
        let mut accepted = 0;
        for (i, s) in SAMPLES.iter().enumerate() {
            if check(s, &format!("sample{i}")).unwrap() {
                accepted += 1;
            }
        }
        assert!(
            accepted >= SAMPLES.len() - 2,
            "only {accepted} samples took the fast path"
        );
        let files = corpus();
        assert!(files.len() > 500, "corpus of {} files", files.len());
        let mut took = 0;
        let mut golden = (0, 0);
        for (name, text) in &files {
            let fast = check(text, name).unwrap();
            took += usize::from(fast);
            if name.contains("/golden/") && name.contains("/components/") {
                golden.0 += 1;
                golden.1 += usize::from(fast);
            }
        }
        // The point of the fast path: rendered manifests take it.
        assert!(
            golden.1 * 10 >= golden.0 * 9,
            "only {} of {} rendered manifests took the fast path",
            golden.1,
            golden.0
        );
        assert!(took > 0);
    }

    /// Mutations of real files: whatever the fast path accepts, the parser reads the same way.
    #[test]
    fn fast_path_never_disagrees_on_mutations() {
        let files = corpus();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        const PIECES: &[&str] = &[
            ":", ": ", "-", "- ", "#", " #", "'", "\"", "|", "|-", ">", "\n", "\n  ", "  ", "[",
            "]", "{}", "[]", "---\n", "&a ", "*a", "!t ", "? ", "\\", "\n- ", "x: ", "...\n", ",",
            "\t",
        ];
        let mut accepted = 0;
        let step = (files.len() / 400).max(1);
        for (name, text) in files.iter().step_by(step) {
            if text.len() > 20_000 || text.is_empty() {
                continue;
            }
            for _ in 0..40 {
                let mut t = text.clone().into_bytes();
                for _ in 0..=next(3) {
                    let at = next(t.len() + 1);
                    match next(4) {
                        0 if at < t.len() => {
                            t.remove(at);
                        }
                        1 => {
                            let p = PIECES[next(PIECES.len())];
                            t.splice(at..at, p.bytes());
                        }
                        2 => {
                            // Re-indent a line.
                            let ls = t[..at]
                                .iter()
                                .rposition(|&b| b == b'\n')
                                .map_or(0, |i| i + 1);
                            if next(2) == 0 {
                                t.insert(ls, b' ');
                            } else if t.get(ls) == Some(&b' ') {
                                t.remove(ls);
                            }
                        }
                        _ => {
                            // Duplicate a line.
                            let ls = t[..at]
                                .iter()
                                .rposition(|&b| b == b'\n')
                                .map_or(0, |i| i + 1);
                            let le = t[at..]
                                .iter()
                                .position(|&b| b == b'\n')
                                .map_or(t.len(), |i| at + i);
                            let line: Vec<u8> = t[ls..le].to_vec();
                            t.splice(ls..ls, line.into_iter().chain([b'\n']));
                        }
                    }
                }
                let Ok(s) = String::from_utf8(t) else {
                    continue;
                };
                match check(&s, name) {
                    Ok(true) => accepted += 1,
                    Ok(false) => {}
                    Err(e) => panic!("{e}\n--- text ---\n{s}"),
                }
            }
        }
        assert!(
            accepted > 100,
            "only {accepted} mutations took the fast path"
        );
    }
}
