//! What a Gatekeeper template's Rego reads of `input.review.object`.
//!
//! A dataflow over the parsed modules (the template and its libs): each
//! variable, rule and function value carries the parts of the object it
//! is made of; a value compared, printed or passed to a builtin is read
//! whole; `with` and what the walk does not follow read everything.

use std::collections::BTreeMap;

use regorus::unstable::{
    AssignOp, Expr, Literal, LiteralStmt, Module, Parser, Query, Rule, RuleHead,
};
use regorus::{Source, Value};

use super::{step, union, Alias, Aliases, Reads, Seg};

/// What a Rego value is: `input`, `input.review`, or parts of the object.
#[derive(Clone, Debug, PartialEq)]
enum V {
    Input,
    Review,
    Object(Aliases),
}

fn none() -> V {
    V::Object(Vec::new())
}

/// The deepest chain of user function calls followed.
const MAX_CALLS: usize = 16;

type Env = Vec<(String, V)>;

struct Walk<'m> {
    out: Reads,
    /// Rules by their full path (`data.<package>.<name>`), with their
    /// package.
    rules: BTreeMap<String, Vec<(Vec<String>, &'m Rule)>>,
    /// Values of rules already analysed.
    values: BTreeMap<String, V>,
    /// The package of the module being walked.
    package: Vec<String>,
    /// Imports: the name a module uses, and the path it stands for.
    imports: BTreeMap<String, String>,
    calls: usize,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        _ => None,
    }
}

/// A reference as its root and steps (Err: a dynamic index).
type Steps<'e> = Vec<Result<String, &'e Expr>>;

fn chain(e: &Expr) -> (&Expr, Steps<'_>) {
    let mut steps = Vec::new();
    let mut e = e;
    loop {
        match e {
            Expr::RefDot { refr, field, .. } => {
                steps.push(text(&field.1).ok_or(e));
                e = refr;
            }
            Expr::RefBrack { refr, index, .. } => {
                match &**index {
                    Expr::String { value, .. } | Expr::RawString { value, .. } => {
                        steps.push(text(value).ok_or(&**index));
                    }
                    other => steps.push(Err(other)),
                }
                e = refr;
            }
            root => {
                steps.reverse();
                return (root, steps);
            }
        }
    }
}

impl<'m> Walk<'m> {
    fn all(&mut self) {
        self.out = Reads::all();
    }

    fn consume(&mut self, v: &V) {
        match v {
            V::Object(a) => self.out.consume(a),
            V::Input | V::Review => self.all(),
        }
    }

    fn shape(&mut self, v: &V) {
        match v {
            V::Object(a) => super::count(a, &mut self.out),
            other => self.consume(other),
        }
    }

    fn field(&mut self, v: &V, f: &str) -> V {
        match v {
            V::Input => match f {
                "review" => V::Review,
                // The constraint's parameters are part of the policy.
                _ => none(),
            },
            V::Review => match f {
                "object" => V::Object(vec![Alias::root()]),
                // Kind, name, namespace, operation: keyed apart.
                _ => none(),
            },
            V::Object(a) => V::Object(step(a, &Seg::Field(f.to_string()))),
        }
    }

    fn elements(&mut self, v: &V) -> V {
        match v {
            V::Object(a) => V::Object(super::elements(a, &mut self.out)),
            other => {
                self.consume(other);
                none()
            }
        }
    }

    fn bound(env: &Env, name: &str) -> Option<V> {
        env.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// A reference: a variable, `input…`, `data…` or a rule, then steps.
    fn reference(&mut self, e: &Expr, env: &mut Env) -> V {
        let (root, steps) = chain(e);
        let root = match root {
            Expr::Var { span, .. } => span.text().to_string(),
            // A call, a comprehension, a literal, then steps into it.
            other => {
                let v = self.value(other, env);
                return self.steps(v, steps, env);
            }
        };
        let mut skip = 0;
        let mut v = if root == "input" {
            V::Input
        } else if let Some(v) = Self::bound(env, &root) {
            v
        } else if root == "data" {
            // data.inventory (keyed apart) or a rule of a package.
            let names: Vec<&str> = steps
                .iter()
                .map_while(|s| s.as_ref().ok().map(String::as_str))
                .collect();
            if names.first() == Some(&"inventory") {
                skip = steps.len();
                for s in &steps {
                    if let Err(ix) = s {
                        let x = self.value(ix, env);
                        self.consume(&x);
                    }
                }
                none()
            } else {
                match (1..=names.len()).rev().find(|n| {
                    self.rules
                        .contains_key(&format!("data.{}", names[..*n].join(".")))
                }) {
                    Some(n) => {
                        skip = n;
                        self.rule(&format!("data.{}", names[..n].join(".")))
                    }
                    None => {
                        self.all();
                        return none();
                    }
                }
            }
        } else {
            let local = format!("data.{}.{root}", self.package.join("."));
            let imported = self.imports.get(&root).cloned();
            if self.rules.contains_key(&local) {
                self.rule(&local)
            } else if let Some(path) = imported.filter(|p| self.rules.contains_key(p)) {
                self.rule(&path)
            } else {
                // An output variable, bound by where it appears.
                none()
            }
        };
        let steps: Steps = steps.into_iter().skip(skip).collect();
        v = self.steps(v, steps, env);
        v
    }

    /// Navigate `v` along `steps`.
    fn steps(&mut self, mut v: V, steps: Steps, env: &mut Env) -> V {
        for s in steps {
            v = match s {
                Ok(f) => self.field(&v, &f),
                Err(ix) => {
                    match ix {
                        Expr::Var { span, .. }
                            if span.text() == "_" || Self::bound(env, span.text()).is_none() =>
                        {
                            // An output variable: bound to each key or index.
                            if span.text() != "_" {
                                env.push((span.text().to_string(), none()));
                            }
                        }
                        Expr::Number { .. } => {}
                        other => {
                            let x = self.value(other, env);
                            self.consume(&x);
                        }
                    }
                    self.elements(&v)
                }
            };
        }
        v
    }

    /// The value of a rule (every definition), analysed once.
    fn rule(&mut self, path: &str) -> V {
        if let Some(v) = self.values.get(path) {
            return v.clone();
        }
        self.values.insert(path.to_string(), none());
        let defs = self.rules.get(path).cloned().unwrap_or_default();
        let mut value = none();
        for (package, r) in defs {
            let saved = std::mem::replace(&mut self.package, package);
            let v = self.definition(r, &[]);
            self.package = saved;
            value = self.merge(value, v);
        }
        self.values.insert(path.to_string(), value.clone());
        value
    }

    fn merge(&mut self, a: V, b: V) -> V {
        match (a, b) {
            (V::Object(a), V::Object(b)) => V::Object(union(a, b, &mut self.out)),
            (a, b) => {
                self.consume(&a);
                self.consume(&b);
                none()
            }
        }
    }

    /// One definition of a rule or function (with its arguments' values).
    fn definition(&mut self, r: &Rule, args: &[V]) -> V {
        match r {
            Rule::Default { value, .. } => {
                let mut env = Env::new();
                self.value(value, &mut env)
            }
            Rule::Spec { head, bodies, .. } => {
                let mut value = none();
                for body in bodies {
                    let mut env = Env::new();
                    if let RuleHead::Func { args: params, .. } = head {
                        for (i, p) in params.iter().enumerate() {
                            let a = args.get(i).cloned().unwrap_or_else(none);
                            self.bind(p, a, &mut env);
                        }
                    }
                    self.query(&body.query, &mut env);
                    if let Some(a) = &body.assign {
                        let v = self.value(&a.value, &mut env);
                        value = self.merge(value, v);
                    }
                    let v = match head {
                        RuleHead::Compr { refr, assign, .. } => {
                            if matches!(&**refr, Expr::RefBrack { .. }) {
                                let k = self.value(refr, &mut env);
                                self.consume(&k);
                            }
                            match assign {
                                Some(a) => self.value(&a.value, &mut env),
                                None => none(),
                            }
                        }
                        RuleHead::Set { key, .. } => match key {
                            // A partial set: its elements.
                            Some(k) => {
                                let v = self.value(k, &mut env);
                                wrap(v, self)
                            }
                            None => none(),
                        },
                        RuleHead::Func { assign, .. } => match assign {
                            Some(a) => self.value(&a.value, &mut env),
                            None => none(),
                        },
                    };
                    value = self.merge(value, v);
                }
                value
            }
        }
    }

    /// Bind a pattern (a variable, or a literal/array/object to unify).
    fn bind(&mut self, p: &Expr, v: V, env: &mut Env) {
        match p {
            Expr::Var { span, .. } if span.text() != "_" => {
                env.push((span.text().to_string(), v));
            }
            Expr::Var { .. } => {}
            other => {
                // Unification with a structure compares the value whole.
                self.consume(&v);
                let mut vars = Vec::new();
                vars_of(other, &mut vars);
                for name in vars {
                    env.push((name, none()));
                }
            }
        }
    }

    fn query(&mut self, q: &Query, env: &mut Env) {
        // Rego orders a body's statements by what they bind: two passes
        // let a binding reach the statements written before it.
        for _ in 0..2 {
            for s in &q.stmts {
                self.statement(s, env);
            }
        }
    }

    fn statement(&mut self, s: &LiteralStmt, env: &mut Env) {
        if !s.with_mods.is_empty() {
            self.all();
            return;
        }
        match &s.literal {
            Literal::SomeVars { vars, .. } => {
                for v in vars {
                    env.push((v.text().to_string(), none()));
                }
            }
            Literal::SomeIn {
                key,
                value,
                collection,
                ..
            } => {
                let c = self.value(collection, env);
                let e = self.elements(&c);
                if let Some(k) = key {
                    self.bind(k, none(), env);
                }
                self.bind(value, e, env);
            }
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                let v = self.value(expr, env);
                self.consume(&v);
            }
            Literal::Every {
                key,
                value,
                domain,
                query,
                ..
            } => {
                let d = self.value(domain, env);
                let e = self.elements(&d);
                let depth = env.len();
                if let Some(k) = key {
                    env.push((k.text().to_string(), none()));
                }
                env.push((value.text().to_string(), e));
                self.query(query, env);
                env.truncate(depth);
            }
        }
    }

    fn value(&mut self, e: &Expr, env: &mut Env) -> V {
        match e {
            Expr::String { .. }
            | Expr::RawString { .. }
            | Expr::Number { .. }
            | Expr::Bool { .. }
            | Expr::Null { .. } => none(),
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => {
                self.reference(e, env)
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                let mut all = none();
                for i in items {
                    let v = self.value(i, env);
                    all = self.merge(all, v);
                }
                wrap(all, self)
            }
            Expr::Object { fields, .. } => {
                self.read_all(fields.iter().flat_map(|(_, k, v)| [&**k, &**v]), env)
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                let mut inner = env.clone();
                self.query(query, &mut inner);
                let v = self.value(term, &mut inner);
                wrap(v, self)
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                let mut inner = env.clone();
                self.query(query, &mut inner);
                for x in [key, value] {
                    let x = self.value(x, &mut inner);
                    self.consume(&x);
                }
                none()
            }
            Expr::Call { fcn, params, .. } => self.call(fcn, params, env),
            Expr::UnaryExpr { expr, .. } => {
                let v = self.value(expr, env);
                self.consume(&v);
                none()
            }
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. } => self.read_all([&**lhs, &**rhs], env),
            Expr::AssignExpr { op, lhs, rhs, .. } => {
                self.assign(*op == AssignOp::ColEq, lhs, rhs, env)
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                for x in key.iter().chain(std::iter::once(value)) {
                    let v = self.value(x, env);
                    self.consume(&v);
                }
                let c = self.value(collection, env);
                self.consume(&c);
                none()
            }
            #[allow(unreachable_patterns)]
            _ => {
                self.all();
                none()
            }
        }
    }

    /// Expressions whose values are read whole (compared, computed with,
    /// put in an object); the result is not the object's.
    fn read_all<'x>(&mut self, parts: impl IntoIterator<Item = &'x Expr>, env: &mut Env) -> V {
        for p in parts {
            let v = self.value(p, env);
            self.consume(&v);
        }
        none()
    }

    /// `x := e` binds x; `a = b` binds whichever side is a free variable,
    /// else compares both whole.
    fn assign(&mut self, declare: bool, lhs: &Expr, rhs: &Expr, env: &mut Env) -> V {
        let lhs_free =
            matches!(lhs, Expr::Var { span, .. } if Self::bound(env, span.text()).is_none());
        if declare || lhs_free {
            let v = self.value(rhs, env);
            self.bind(lhs, v, env);
        } else if let Expr::Var { span, .. } = rhs {
            if Self::bound(env, span.text()).is_none() {
                let v = self.value(lhs, env);
                self.bind(rhs, v, env);
                return none();
            }
            for x in [lhs, rhs] {
                let v = self.value(x, env);
                self.consume(&v);
            }
        } else {
            for x in [lhs, rhs] {
                let v = self.value(x, env);
                self.consume(&v);
            }
        }
        none()
    }

    fn call(&mut self, fcn: &Expr, params: &[regorus::unstable::ExprRef], env: &mut Env) -> V {
        let name = path_of(fcn).map(|p| p.join(".")).unwrap_or_default();
        let args: Vec<V> = params.iter().map(|p| self.value(p, env)).collect();
        let local = format!("data.{}.{name}", self.package.join("."));
        // An imported name: its path, then what follows it.
        let imported = name.split_once('.').map_or_else(
            || self.imports.get(&name).cloned(),
            |(head, tail)| self.imports.get(head).map(|p| format!("{p}.{tail}")),
        );
        let user = [Some(name.clone()), Some(local), imported]
            .into_iter()
            .flatten()
            .into_iter()
            .find(|n| self.rules.contains_key(n));
        if let Some(path) = user {
            if self.calls >= MAX_CALLS {
                self.all();
                return none();
            }
            self.calls += 1;
            let defs = self.rules.get(&path).cloned().unwrap_or_default();
            let mut value = none();
            for (package, r) in defs {
                let saved = std::mem::replace(&mut self.package, package);
                let v = self.definition(r, &args);
                self.package = saved;
                value = self.merge(value, v);
            }
            self.calls -= 1;
            return value;
        }
        match (name.as_str(), args.as_slice()) {
            // object.get(obj, "key" or ["a", "b"], default)
            ("object.get", [obj, _, default]) => {
                let path = match &*params[1] {
                    Expr::String { value, .. } => text(value).map(|s| vec![s]),
                    Expr::Array { items, .. } => items
                        .iter()
                        .map(|i| match &**i {
                            Expr::String { value, .. } => text(value),
                            _ => None,
                        })
                        .collect(),
                    _ => None,
                };
                let Some(path) = path else {
                    for a in &args {
                        self.consume(a);
                    }
                    return none();
                };
                let mut v = obj.clone();
                for f in &path {
                    v = self.field(&v, f);
                }
                self.merge(v, default.clone())
            }
            ("count", [x]) => {
                self.shape(x);
                none()
            }
            _ => {
                for a in &args {
                    self.consume(a);
                }
                none()
            }
        }
    }
}

/// A value wrapped in a collection (navigating one `[_]` gives it back).
fn wrap(v: V, w: &mut Walk) -> V {
    match v {
        V::Object(a) => V::Object(super::wrapped(a)),
        other => {
            w.consume(&other);
            none()
        }
    }
}

/// The variables a unification pattern binds.
fn vars_of(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Var { span, .. } if span.text() != "_" => out.push(span.text().to_string()),
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().for_each(|i| vars_of(i, out));
        }
        Expr::Object { fields, .. } => fields.iter().for_each(|(_, _, v)| vars_of(v, out)),
        _ => {}
    }
}

fn parse(name: &str, text: &str) -> Option<Module> {
    let source = Source::from_contents(name.to_string(), text.to_string()).ok()?;
    let v1 = Parser::new(&source).ok().and_then(|mut p| {
        p.enable_rego_v1().ok()?;
        p.parse().ok()
    });
    v1.or_else(|| Parser::new(&source).ok()?.parse().ok())
}

fn path_of(e: &Expr) -> Option<Vec<String>> {
    let (root, steps) = chain(e);
    let Expr::Var { span, .. } = root else {
        return None;
    };
    std::iter::once(Ok(span.text().to_string()))
        .chain(steps.into_iter().map(|s| s.map_err(|_| ())))
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// What a template (its Rego and libs) reads of the object.
pub fn template(rego: &str, libs: &[String]) -> Reads {
    let mut modules = Vec::new();
    for (i, text) in std::iter::once(rego)
        .chain(libs.iter().map(String::as_str))
        .enumerate()
    {
        match parse(&format!("m{i}.rego"), text) {
            Some(m) => modules.push(m),
            None => return Reads::all(),
        }
    }
    let mut rules: BTreeMap<String, Vec<(Vec<String>, &Rule)>> = BTreeMap::new();
    let mut imports = BTreeMap::new();
    for m in &modules {
        for i in &m.imports {
            let Some(path) = path_of(&i.refr) else {
                return Reads::all();
            };
            let alias = match &i.r#as {
                Some(a) => a.text().to_string(),
                None => path.last().cloned().unwrap_or_default(),
            };
            if path.first().is_some_and(|p| p == "data") {
                imports.entry(alias).or_insert_with(|| path.join("."));
            }
        }
    }
    let mut order = Vec::new();
    for m in &modules {
        let Some(package) = path_of(&m.package.refr) else {
            return Reads::all();
        };
        for r in &m.policy {
            let head = match &**r {
                Rule::Spec { head, .. } => match head {
                    RuleHead::Compr { refr, .. }
                    | RuleHead::Set { refr, .. }
                    | RuleHead::Func { refr, .. } => refr.clone(),
                },
                Rule::Default { refr, .. } => refr.clone(),
            };
            // The rule's name: its reference up to the first bracket.
            let mut h: &Expr = &head;
            while let Expr::RefBrack { refr, .. } = h {
                h = refr;
            }
            let Some(name) = path_of(h) else {
                return Reads::all();
            };
            let path = format!("data.{}.{}", package.join("."), name.join("."));
            rules
                .entry(path.clone())
                .or_default()
                .push((package.clone(), &**r));
            order.push(path);
        }
    }
    let mut w = Walk {
        out: Reads::default(),
        rules,
        values: BTreeMap::new(),
        package: Vec::new(),
        imports,
        calls: 0,
    };
    // Every rule, with its value read whole: what the template can
    // compute, it can report.
    for path in order {
        let v = w.rule(&path);
        w.consume(&v);
    }
    w.out
}
