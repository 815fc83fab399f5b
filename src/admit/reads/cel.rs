//! What a CEL expression reads of `object`.

use std::sync::Arc;

use cel::common::ast::{operators, EntryExpr, Expr, LiteralValue};

use crate::admit::cel::{CelError, Program};

use super::{step, union, Alias, Aliases, Reads, Seg};

/// Names in scope: an identifier (or `variables.<name>`) and the parts of
/// the object its value is made of. Later entries shadow earlier ones.
pub type Env = Vec<(String, Aliases)>;

/// The scope every admission expression starts with: `object` is the
/// object; `oldObject` is null on a CREATE; `request`, `namespaceObject`,
/// `params` and the rest are keyed apart from the object.
pub fn env() -> Env {
    vec![("object".into(), vec![Alias::root()])]
}

/// Analyse `e`: what it reads goes to `out`; its value's aliases are
/// returned (the caller reads them whole if it uses the value as a whole).
pub fn value(e: &Expr, env: &mut Env, out: &mut Reads) -> Aliases {
    match e {
        Expr::Ident(n) => {
            match n.as_str() {
                "request" => out.roots |= super::ROOT_REQUEST,
                "namespaceObject" => out.roots |= super::ROOT_NAMESPACE,
                "resource" => out.roots |= super::ROOT_RESOURCE,
                _ => {}
            }
            lookup(env, n)
        }
        Expr::Select(s) => {
            if let Expr::Ident(root) = &s.operand.expr {
                if root == "variables" && !s.test {
                    return lookup(env, &format!("variables.{}", s.field));
                }
            }
            let base = value(&s.operand.expr, env, out);
            let below = step(&base, &Seg::Field(s.field.clone()));
            if s.test {
                // has(x.f): whether the field is there.
                for a in &below {
                    out.touch(&a.path);
                }
                return Vec::new();
            }
            below
        }
        Expr::Call(c) => call(c, env, out),
        Expr::Comprehension(c) => comprehension(c, env, out),
        Expr::List(l) => {
            let mut all = Vec::new();
            for x in &l.elements {
                let v = value(&x.expr, env, out);
                all = union(all, v, out);
            }
            super::wrapped(all)
        }
        Expr::Map(m) => {
            entries(&m.entries, env, out);
            Vec::new()
        }
        Expr::Struct(s) => {
            entries(&s.entries, env, out);
            Vec::new()
        }
        Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

/// A comprehension (the macros `all`, `exists`, `map`, `filter`…): its
/// variables range over the elements; its accumulator grows to a fixpoint.
fn comprehension(
    c: &cel::common::ast::ComprehensionExpr,
    env: &mut Env,
    out: &mut Reads,
) -> Aliases {
    let range = value(&c.iter_range.expr, env, out);
    // The number of iterations depends on the length (or keys).
    let elements = super::elements(&range, out);
    let depth = env.len();
    env.push((c.iter_var.clone(), elements.clone()));
    if let Some(v2) = &c.iter_var2 {
        env.push((v2.clone(), elements));
    }
    let mut accu = value(&c.accu_init.expr, env, out);
    let mut settled = false;
    for _ in 0..4 {
        env.push((c.accu_var.clone(), accu.clone()));
        let cond = value(&c.loop_cond.expr, env, out);
        out.consume(&cond);
        let next = value(&c.loop_step.expr, env, out);
        env.pop();
        let grown = union(accu.clone(), next, out);
        if grown == accu {
            settled = true;
            break;
        }
        accu = grown;
    }
    if !settled {
        out.consume(&accu);
        accu.clear();
    }
    env.push((c.accu_var.clone(), accu));
    let result = value(&c.result.expr, env, out);
    env.truncate(depth);
    result
}

fn lookup(env: &Env, name: &str) -> Aliases {
    env.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, a)| a.clone())
        .unwrap_or_default()
}

fn entries(entries: &[cel::common::ast::IdedEntryExpr], env: &mut Env, out: &mut Reads) {
    for e in entries {
        match &e.expr {
            EntryExpr::MapEntry(me) => {
                let k = value(&me.key.expr, env, out);
                out.consume(&k);
                let v = value(&me.value.expr, env, out);
                out.consume(&v);
            }
            EntryExpr::StructField(f) => {
                let v = value(&f.value.expr, env, out);
                out.consume(&v);
            }
        }
    }
}

fn call(c: &cel::common::ast::CallExpr, env: &mut Env, out: &mut Reads) -> Aliases {
    let arg = |i: usize| c.args.get(i).map(|a| &a.expr);
    match (c.func_name.as_str(), c.target.as_deref(), c.args.len()) {
        (operators::INDEX | operators::OPT_INDEX | operators::OPT_SELECT, None, 2) => {
            index(c, env, out)
        }
        (operators::CONDITIONAL, None, 3) => {
            let cond = value(&c.args[0].expr, env, out);
            out.consume(&cond);
            let a = value(&c.args[1].expr, env, out);
            let b = value(&c.args[2].expr, env, out);
            union(a, b, out)
        }
        (operators::ADD, None, 2) => {
            // Lists concatenate element by element; numbers and strings
            // are then used whole by whoever uses the sum.
            let a = value(&c.args[0].expr, env, out);
            let b = value(&c.args[1].expr, env, out);
            union(a, b, out)
        }
        ("orValue", Some(t), 1) => {
            let a = value(&t.expr, env, out);
            let b = value(&c.args[0].expr, env, out);
            union(a, b, out)
        }
        ("value", Some(t), 0) => value(&t.expr, env, out),
        ("of" | "ofNonZeroValue", Some(t), 1) if matches!(&t.expr, Expr::Ident(n) if n == "optional") => {
            value(&c.args[0].expr, env, out)
        }
        ("size", Some(t), 0) => {
            let a = value(&t.expr, env, out);
            super::count(&a, out);
            Vec::new()
        }
        ("size", None, 1) => {
            let a = value(&c.args[0].expr, env, out);
            super::count(&a, out);
            Vec::new()
        }
        (operators::IN, None, 2) if matches!(arg(0), Some(Expr::Literal(_))) => {
            // A literal in a list compares with each element's value; in a
            // map it is looked up among the keys.
            let coll = value(&c.args[1].expr, env, out);
            super::elements(&coll, out);
            Vec::new()
        }
        _ => {
            if let Some(t) = &c.target {
                let a = value(&t.expr, env, out);
                out.consume(&a);
            }
            for x in &c.args {
                let a = value(&x.expr, env, out);
                out.consume(&a);
            }
            Vec::new()
        }
    }
}

/// `x[k]`, `x[?k]`, `x.?f`: a literal key steps to that field, any other
/// key to every element (and is read whole).
fn index(c: &cel::common::ast::CallExpr, env: &mut Env, out: &mut Reads) -> Aliases {
    let base = value(&c.args[0].expr, env, out);
    let seg = match &c.args[1].expr {
        Expr::Literal(LiteralValue::String(s)) => Seg::Field(s.to_string()),
        k => {
            let k = value(k, env, out);
            out.consume(&k);
            Seg::Any
        }
    };
    step(&base, &seg)
}

/// Compiles an expression (the admission's shared cache).
pub type Compile<'c> = &'c dyn Fn(&str) -> Result<Arc<Program>, CelError>;

/// What the expression `source` reads (everything when it does not parse).
pub fn expression(source: &str, compile: Compile, env: &mut Env, out: &mut Reads) -> Aliases {
    match compile(source) {
        Ok(p) => value(p.expr(), env, out),
        Err(_) => {
            *out = Reads::all();
            Vec::new()
        }
    }
}
