//! What a Kyverno ClusterPolicy/Policy rule reads of `object`: its
//! patterns, its `{{ }}` JMESPath variables, `foreach` lists, the Pod
//! Security checks and `validate.cel`.

use jmespath::ast::Ast;
use serde_json::Value as Json;

use super::{step, union, Alias, Aliases, Reads, Seg};

/// What a JMESPath value is: the admission context itself, its `request`,
/// or parts of the object (none: a value not made of the object).
#[derive(Clone, Debug)]
enum Cur {
    Context,
    Request,
    Object(Aliases),
}

/// Names a rule adds to the context (`element`, context variables).
type Scope = Vec<(String, Aliases)>;

struct Walk<'a> {
    out: &'a mut Reads,
    scope: Scope,
}

impl Walk<'_> {
    fn consume(&mut self, c: &Cur) {
        match c {
            Cur::Object(a) => self.out.consume(a),
            Cur::Context | Cur::Request => *self.out = Reads::all(),
        }
    }

    /// The truthiness of a value: its kind, length or keys.
    fn shape(&mut self, c: &Cur) {
        if let Cur::Object(a) = c {
            super::count(a, self.out);
        }
    }

    fn field(&mut self, cur: &Cur, name: &str) -> Cur {
        match cur {
            Cur::Context => match name {
                "request" => Cur::Request,
                "images" => {
                    images(self.out);
                    Cur::Object(Vec::new())
                }
                "elementIndex" => Cur::Object(Vec::new()),
                _ => match self.scope.iter().rev().find(|(n, _)| n == name) {
                    Some((_, a)) => Cur::Object(a.clone()),
                    None => {
                        // A variable the analysis does not know.
                        *self.out = Reads::all();
                        Cur::Object(Vec::new())
                    }
                },
            },
            Cur::Request => match name {
                "object" => Cur::Object(vec![Alias::root()]),
                // Keyed apart (the object's kind, name and namespace), or
                // constant on a CREATE.
                _ => Cur::Object(Vec::new()),
            },
            Cur::Object(a) => Cur::Object(step(a, &Seg::Field(name.to_string()))),
        }
    }

    /// The elements of a list value (touching its length).
    fn elements(&mut self, cur: &Cur) -> Aliases {
        match cur {
            Cur::Object(a) => super::elements(a, self.out),
            other => {
                self.consume(other);
                Vec::new()
            }
        }
    }

    fn list_of(&mut self, e: Cur) -> Cur {
        match e {
            Cur::Object(a) => Cur::Object(super::wrapped(a)),
            other => {
                self.consume(&other);
                Cur::Object(Vec::new())
            }
        }
    }

    fn value(&mut self, ast: &Ast, cur: &Cur) -> Cur {
        match ast {
            Ast::Identity { .. } => cur.clone(),
            Ast::Field { name, .. } => self.field(cur, name),
            Ast::Subexpr { lhs, rhs, .. } => {
                let l = self.value(lhs, cur);
                self.value(rhs, &l)
            }
            Ast::Index { .. } => Cur::Object(self.elements(cur)),
            Ast::Slice { .. } => {
                self.elements(cur);
                cur.clone()
            }
            Ast::Projection { lhs, rhs, .. } => {
                let l = self.value(lhs, cur);
                let e = self.elements(&l);
                let r = self.value(rhs, &Cur::Object(e));
                self.list_of(r)
            }
            Ast::Flatten { node, .. } => {
                let n = self.value(node, cur);
                let once = self.elements(&n);
                let twice = self.elements(&Cur::Object(once.clone()));
                let all = union(once, twice, self.out);
                self.list_of(Cur::Object(all))
            }
            Ast::ObjectValues { node, .. } => {
                let n = self.value(node, cur);
                let e = self.elements(&n);
                self.list_of(Cur::Object(e))
            }
            Ast::Condition {
                predicate, then, ..
            } => {
                let p = self.value(predicate, cur);
                self.consume(&p);
                self.value(then, cur)
            }
            Ast::And { lhs, rhs, .. } | Ast::Or { lhs, rhs, .. } => {
                let l = self.value(lhs, cur);
                self.shape(&l);
                let r = self.value(rhs, cur);
                match (l, r) {
                    (Cur::Object(a), Cur::Object(b)) => Cur::Object(union(a, b, self.out)),
                    (a, b) => {
                        self.consume(&a);
                        self.consume(&b);
                        Cur::Object(Vec::new())
                    }
                }
            }
            Ast::Literal { .. } => Cur::Object(Vec::new()),
            Ast::Comparison { lhs, rhs, .. } => self.read_all([&**lhs, &**rhs], cur),
            Ast::Not { node, .. } => self.read_all([&**node], cur),
            Ast::MultiList { elements, .. } => self.read_all(elements, cur),
            Ast::MultiHash { elements, .. } => {
                self.read_all(elements.iter().map(|kv| &kv.value), cur)
            }
            Ast::Function { args, .. } => self.function(args, cur),
            Ast::Expref { ast, .. } => {
                let v = self.value(ast, cur);
                self.consume(&v);
                Cur::Object(Vec::new())
            }
        }
    }

    /// Expressions whose values are read whole (compared, negated,
    /// collected); the value made of them is not the object's.
    fn read_all<'x>(&mut self, parts: impl IntoIterator<Item = &'x Ast>, cur: &Cur) -> Cur {
        for p in parts {
            let v = self.value(p, cur);
            self.consume(&v);
        }
        Cur::Object(Vec::new())
    }

    /// A function call: its arguments are read whole; an `&expr` argument
    /// runs on the elements of the first argument.
    fn function(&mut self, args: &[Ast], cur: &Cur) -> Cur {
        // A function reads its arguments whole; an `&expr`
        // argument runs on the elements of the first argument.
        let first = args.first().map(|a| self.value(a, cur));
        if let Some(f) = &first {
            self.consume(f);
        }
        for a in args.iter().skip(1) {
            if let Ast::Expref { ast, .. } = a {
                let e = match &first {
                    Some(f) => self.elements(f),
                    None => Vec::new(),
                };
                let v = self.value(ast, &Cur::Object(e));
                self.consume(&v);
            } else {
                let v = self.value(a, cur);
                self.consume(&v);
            }
        }
        Cur::Object(Vec::new())
    }

    /// One JMESPath expression over the context; its value's aliases.
    fn search(&mut self, expression: &str) -> Cur {
        match crate::admit::kyverno::jmes::parsed(expression.trim().trim_start_matches('-')) {
            Some(ast) => self.value(&ast, &Cur::Context),
            None => {
                *self.out = Reads::all();
                Cur::Object(Vec::new())
            }
        }
    }

    /// Every `{{ }}` in the strings (keys too) of `v`, read whole.
    fn strings(&mut self, v: &Json) {
        match v {
            Json::String(s) => self.text(s),
            Json::Array(a) => a.iter().for_each(|x| self.strings(x)),
            Json::Object(m) => {
                for (k, x) in m {
                    self.text(k);
                    self.strings(x);
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, s: &str) {
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else {
                break;
            };
            let v = self.search(&rest[start + 2..start + len]);
            self.consume(&v);
            rest = &rest[start + len + 2..];
        }
    }

    fn conditions(&mut self, c: Option<&Json>) {
        if let Some(c) = c {
            self.strings(c);
        }
    }

    /// A pattern applied at `at`.
    fn pattern(&mut self, p: &Json, at: &Aliases) {
        for a in at.iter().filter(|a| a.wrap == 0) {
            self.out.touch(&a.path);
        }
        match p {
            Json::Object(m) => {
                for (k, v) in m {
                    self.text(k);
                    let name = anchor_free(k);
                    let below = if name.contains(['*', '?']) {
                        super::elements(at, self.out)
                    } else {
                        step(at, &Seg::Field(name.to_string()))
                    };
                    self.pattern(v, &below);
                }
            }
            Json::Array(items) => {
                let e = super::elements(at, self.out);
                for i in items {
                    self.pattern(i, &e);
                }
            }
            other => {
                self.strings(other);
                self.out.consume(at);
            }
        }
    }

    /// `foreach` entries; returns every element alias they bind.
    fn foreach(&mut self, entries: &[Json], depth: usize) -> Aliases {
        let mut bound = Vec::new();
        if depth > 8 {
            *self.out = Reads::all();
            return bound;
        }
        for entry in entries {
            let list = entry["list"].as_str().unwrap_or_default();
            let l = self.search(list.trim().trim_start_matches("{{").trim_end_matches("}}"));
            let elements = self.elements(&l);
            self.scope.push(("element".into(), elements.clone()));
            self.conditions(entry.get("preconditions"));
            if let Some(p) = entry.get("pattern") {
                self.pattern(p, &elements);
            }
            for p in entry["anyPattern"].as_array().into_iter().flatten() {
                self.pattern(p, &elements);
            }
            if let Some(d) = entry.get("deny") {
                self.conditions(d.get("conditions"));
            }
            let nested = entry["foreach"]
                .as_array()
                .map(|n| self.foreach(n, depth + 1));
            self.scope.pop();
            bound = union(bound, elements, self.out);
            bound = union(bound, nested.unwrap_or_default(), self.out);
        }
        bound
    }
}

/// A pattern key without its anchor: `(name)`, `=(name)`, `X(name)`,
/// `<(name)`, `^(name)`, `+(name)`.
fn anchor_free(k: &str) -> &str {
    let k = k.trim();
    for prefix in ["=(", "X(", "<(", "^(", "+(", "("] {
        if let Some(inner) = k.strip_prefix(prefix).and_then(|x| x.strip_suffix(')')) {
            return inner;
        }
    }
    k
}

/// The pod specs a Pod or workload carries (its kind decides which).
const POD_SPECS: &[&[&str]] = &[
    &["spec"],
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
];

/// What the `images` variable reads: each container's name and image.
fn images(out: &mut Reads) {
    for spec in POD_SPECS {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            for f in ["name", "image"] {
                let mut p = Alias::at(spec).path;
                p.extend([Seg::Field(list.into()), Seg::Any, Seg::Field(f.into())]);
                out.read(&p);
            }
        }
    }
}

/// What the Pod Security checks read of a pod spec (pss.rs).
fn pod_security(out: &mut Reads) {
    for spec in POD_SPECS {
        let at = Alias::at(spec).path;
        let with = |tail: &[Seg]| {
            let mut p = at.clone();
            p.extend_from_slice(tail);
            p
        };
        out.touch(&at);
        for f in [
            "securityContext",
            "volumes",
            "hostNetwork",
            "hostPID",
            "hostIPC",
        ] {
            out.read(&with(&[Seg::Field(f.into())]));
        }
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            for f in ["name", "image", "securityContext", "ports"] {
                out.read(&with(&[
                    Seg::Field(list.into()),
                    Seg::Any,
                    Seg::Field(f.into()),
                ]));
            }
        }
        // The pod's annotations (AppArmor, seccomp of older releases).
        let mut meta = at.clone();
        meta.pop();
        meta.extend([
            Seg::Field("metadata".into()),
            Seg::Field("annotations".into()),
        ]);
        out.read(&meta);
    }
}

/// What one rule reads of the object.
pub fn rule(rule: &Json, compile: super::cel::Compile, out: &mut Reads) {
    let mut w = Walk {
        out,
        scope: Vec::new(),
    };
    for entry in rule["context"].as_array().into_iter().flatten() {
        let name = entry["name"].as_str().unwrap_or_default().to_string();
        let mut bound = Vec::new();
        if let Some(v) = entry.get("variable") {
            if let Some(x) = v.get("value") {
                w.strings(x);
            }
            // Over a `value`, the path reads only that value (made of
            // what its variables read); else it reads the context.
            if let (Some(p), None) = (v["jmesPath"].as_str(), v.get("value")) {
                match w.search(p) {
                    Cur::Object(a) => bound = a,
                    other => w.consume(&other),
                }
            }
        } else {
            w.strings(entry);
        }
        w.scope.push((name, bound));
    }
    w.conditions(rule.get("preconditions"));
    let v = &rule["validate"];
    if let Some(p) = v.get("pattern") {
        w.pattern(p, &vec![Alias::root()]);
    }
    for p in v["anyPattern"].as_array().into_iter().flatten() {
        w.pattern(p, &vec![Alias::root()]);
    }
    if let Some(d) = v.get("deny") {
        w.conditions(d.get("conditions"));
    }
    let elements = v["foreach"]
        .as_array()
        .map(|f| w.foreach(f, 0))
        .unwrap_or_default();
    if v.get("podSecurity").is_some() {
        pod_security(w.out);
    }
    if let Some(c) = v.get("cel") {
        let mut env = super::cel::env();
        for x in c["variables"].as_array().into_iter().flatten() {
            let a = super::cel::expression(
                x["expression"].as_str().unwrap_or_default(),
                compile,
                &mut env,
                w.out,
            );
            env.push((
                format!("variables.{}", x["name"].as_str().unwrap_or_default()),
                a,
            ));
        }
        for x in c["expressions"].as_array().into_iter().flatten() {
            for key in ["expression", "messageExpression"] {
                if let Some(s) = x[key].as_str() {
                    let a = super::cel::expression(s, compile, &mut env, w.out);
                    w.out.consume(&a);
                }
            }
        }
    }
    // The message sees the element that failed.
    w.scope.push(("element".into(), elements));
    if let Some(m) = v.get("message") {
        w.strings(m);
    }
}
