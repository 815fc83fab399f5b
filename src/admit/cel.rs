//! CEL as the Kubernetes API server evaluates it in admission: the `cel`
//! crate's standard library with optional types (`.?`, `[?]`, `orValue`)
//! and its strings extension, plus the Kubernetes libraries that policies
//! use (quantities, sets, lists, regex `find`, URLs, IPs and CIDRs, semver).
//!
//! **Budget.** The `cel` crate has no runtime cost limit, so before an
//! expression runs its cost is estimated against the concrete inputs, as
//! the API server estimates CEL cost: paths into the inputs have their real
//! sizes, a comprehension costs its body times its range, and strings and
//! lists grow by what concatenation and `replace` can add. An expression
//! estimated over the budget is not run ([`CelError::Budget`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{
    operators, CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue,
};
use cel::extractors::{Arguments, This};
use cel::objects::Key;
use cel::parser::MacroExprHelper;
use cel::{Context, ExecutionError, FunctionContext, Value};
use serde_json::Value as Json;

/// Why an expression gave no value.
#[derive(Clone, Debug, PartialEq)]
pub enum CelError {
    /// It does not compile.
    Compile(String),
    /// It failed while running (no such key, a type error, ...).
    Runtime(String),
    /// Its estimated cost exceeds the budget.
    Budget { estimate: f64, limit: u64 },
    /// It needs what fleetc cannot know before the object is applied.
    Offline(&'static str),
    /// It is too long or too deeply nested to evaluate safely.
    TooComplex(String),
}

impl std::fmt::Display for CelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CelError::Compile(m) => write!(f, "does not compile: {m}"),
            CelError::Runtime(m) => write!(f, "{m}"),
            CelError::Budget { estimate, limit } => write!(
                f,
                "its estimated cost {estimate:.0} exceeds the budget of {limit} (`--limit admission-cost`)"
            ),
            CelError::Offline(why) => write!(f, "{why}"),
            CelError::TooComplex(why) => write!(f, "{why} (`--limit admission-cost` does not raise this)"),
        }
    }
}

/// A compiled expression.
pub struct Program {
    program: cel::Program,
    /// The expression as it runs: comprehensions over a map visit its
    /// keys in order (see [`ordered`]).
    run: IdedExpr,
    pub source: String,
    /// Set when the expression needs what is only known at apply time.
    offline: Option<&'static str>,
}

/// The environment shared by every evaluation: the standard library with
/// optional types, the strings extension and the Kubernetes libraries.
fn root() -> &'static Context<'static, 'static> {
    static ROOT: OnceLock<Context<'static, 'static>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        // Registration can only fail on a clash of names, which would be a
        // bug caught by every test.
        let _ = cel::extensions::strings(&mut env);
        let _ = cel::extensions::math(&mut env);
        for m in macros() {
            let _ = env.add_macro(m);
        }
        let mut ctx = Context::with_env(Arc::new(env));
        for (name, f) in [
            ("quantity", make::<Quantity> as KubeFn),
            ("isQuantity", is::<Quantity>),
            ("isLessThan", is_less_than),
            ("isGreaterThan", is_greater_than),
            ("compareTo", compare_to),
            ("asInteger", as_integer),
            ("asApproximateFloat", as_float),
            ("sign", sign),
            ("add", add),
            ("sub", sub),
            ("isSorted", is_sorted),
            ("sum", sum),
            ("min", min),
            ("max", max),
            ("find", find),
            ("findAll", find_all),
            ("sets.contains", sets_contains),
            ("sets.equivalent", sets_equivalent),
            ("sets.intersects", sets_intersects),
            ("url", make::<Url>),
            ("isURL", is::<Url>),
            ("getScheme", url_part),
            ("getHost", url_part),
            ("getHostname", url_part),
            ("getPort", url_part),
            ("getEscapedPath", url_part),
            ("getQuery", url_query),
            ("ip", ip),
            ("isIP", is::<Ip>),
            ("cidr", make::<Cidr>),
            ("isCIDR", is::<Cidr>),
            ("containsIP", contains_ip),
            ("family", family),
            ("isLoopback", is_loopback),
            ("@indices", indices),
            ("@ordered", ordered_range),
            ("named", super::cel_format::named),
            ("validate", super::cel_format::validate),
            ("Get", resource_get),
            ("List", resource_list),
            ("semver", make::<Semver>),
            ("isSemver", is::<Semver>),
            ("major", semver_part),
            ("minor", semver_part),
            ("patch", semver_part),
        ] {
            let _ = ctx.add_function(name, f);
        }
        // The `format` library: `format` itself is a value whose methods
        // make the formats.
        for name in super::cel_format::NAMES {
            let _ = ctx.add_function(name, super::cel_format::make as KubeFn);
        }
        ctx.add_variable_from_value(
            "format",
            Value::Map(cel::objects::Map {
                map: Arc::new(HashMap::new()),
            }),
        );
        ctx
    })
}

/// Macros the API server's CEL has that the crate's parser does not:
/// `cel.bind(name, value, expr)`, and the two-variable comprehensions
/// `all(i, v, p)`, `exists(i, v, p)`, `existsOne(i, v, p)` (index and
/// element of a list; key and value of a map).
fn macros() -> Vec<cel::parser::Macro> {
    use cel::parser::Macro;
    let mut out = vec![Macro::receiver("bind", 3, |h, target, args| {
        if !matches!(target.as_ref().map(|t| &t.expr), Some(Expr::Ident(n)) if n == "cel") {
            return Ok(None);
        }
        let Expr::Ident(name) = &args[0].expr else {
            return Err(h.new_error(
                args[0].id,
                "cel.bind's first argument must be a simple name",
            ));
        };
        let name = name.clone();
        let body = args.remove(2);
        let init = args.remove(1);
        Ok(Some(bind(h, name, init, body)))
    })];
    for name in ["all", "exists", "existsOne", "exists_one"] {
        out.push(Macro::receiver(name, 3, move |h, target, args| {
            // x.all(i, v, p): over @indices(x), with v bound to x[i].
            let (Expr::Ident(i), Expr::Ident(v)) = (&args[0].expr, &args[1].expr) else {
                return Err(h.new_error(
                    args[0].id,
                    "the comprehension's variables must be simple names",
                ));
            };
            let (i, v) = (i.clone(), v.clone());
            let Some(x) = target.take() else {
                return Ok(None);
            };
            let p = args.remove(2);
            let index = h.next_expr(Expr::Ident(i.clone()));
            let x_again = h.next_expr(x.expr.clone());
            let element = call(h, operators::INDEX, vec![x_again, index]);
            let bound = bind(h, v, element, p);
            let keys = call(h, "@indices", vec![x]);
            Ok(Some(quantifier(h, name, keys, i, bound)))
        }));
    }
    out
}

fn call(h: &mut MacroExprHelper, f: &str, args: Vec<IdedExpr>) -> IdedExpr {
    h.next_expr(Expr::Call(CallExpr {
        func_name: f.into(),
        target: None,
        args,
    }))
}

/// `cel.bind(name, init, body)`: a comprehension over nothing whose
/// accumulator is `name`.
fn bind(h: &mut MacroExprHelper, name: String, init: IdedExpr, body: IdedExpr) -> IdedExpr {
    let range = h.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let cond = h.next_expr(Expr::Literal(LiteralValue::Boolean(false.into())));
    let step = h.next_expr(Expr::Ident(name.clone()));
    h.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: range,
        iter_var: "#unused".into(),
        iter_var2: None,
        accu_var: name,
        accu_init: init,
        loop_cond: cond,
        loop_step: step,
        result: body,
    })))
}

/// `range.all(var, p)`, `exists`, `existsOne`, built as the parser's own
/// macros build them.
fn quantifier(
    h: &mut MacroExprHelper,
    name: &str,
    range: IdedExpr,
    var: String,
    p: IdedExpr,
) -> IdedExpr {
    let acc = "@result".to_string();
    let ident = |h: &mut MacroExprHelper| h.next_expr(Expr::Ident(acc.clone()));
    let lit_bool = |h: &mut MacroExprHelper, b: bool| {
        h.next_expr(Expr::Literal(LiteralValue::Boolean(b.into())))
    };
    let (init, cond, step, result) = match name {
        "all" => {
            let init = lit_bool(h, true);
            let a = ident(h);
            let cond = call(h, operators::NOT_STRICTLY_FALSE, vec![a]);
            let a = ident(h);
            let step = call(h, operators::LOGICAL_AND, vec![a, p]);
            (init, cond, step, ident(h))
        }
        "exists" => {
            let init = lit_bool(h, false);
            let a = ident(h);
            let not = call(h, operators::LOGICAL_NOT, vec![a]);
            let cond = call(h, operators::NOT_STRICTLY_FALSE, vec![not]);
            let a = ident(h);
            let step = call(h, operators::LOGICAL_OR, vec![a, p]);
            (init, cond, step, ident(h))
        }
        _ => {
            let init = h.next_expr(Expr::Literal(LiteralValue::Int(0.into())));
            let cond = lit_bool(h, true);
            let a = ident(h);
            let one = h.next_expr(Expr::Literal(LiteralValue::Int(1.into())));
            let plus = call(h, operators::ADD, vec![a, one]);
            let a = ident(h);
            let step = call(h, operators::CONDITIONAL, vec![p, plus, a]);
            let a = ident(h);
            let one = h.next_expr(Expr::Literal(LiteralValue::Int(1.into())));
            (init, cond, step, call(h, operators::EQUALS, vec![a, one]))
        }
    };
    h.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: range,
        iter_var: var,
        iter_var2: None,
        accu_var: acc,
        accu_init: init,
        loop_cond: cond,
        loop_step: step,
        result,
    })))
}

/// A list's indices, or a map's keys: what a two-variable comprehension
/// ranges over.
fn indices(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    match v {
        Value::List(l) => Ok(Value::List(Arc::new(
            (0..l.len() as i64).map(Value::Int).collect(),
        ))),
        // In a stable order: the keys sorted.
        Value::Map(m) => Ok(sorted_keys(&m)),
        other => Err(ftx.error(format!("cannot iterate over {other:?}"))),
    }
}

/// A map's keys as a list, sorted.
fn sorted_keys(m: &cel::objects::Map) -> Value {
    #[allow(clippy::disallowed_methods)]
    let mut keys: Vec<Key> = m.map.keys().cloned().collect();
    keys.sort();
    Value::List(Arc::new(keys.into_iter().map(Value::from).collect()))
}

/// What a comprehension iterates: a map's keys, sorted; a list as it is.
fn ordered_range(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    match v {
        Value::Map(m) => Ok(sorted_keys(&m)),
        Value::List(_) => Ok(v),
        other => Err(ftx.error(format!("cannot iterate over {other:?}"))),
    }
}

type KubeFn = fn(&FunctionContext, This<Value>, Arguments) -> Result<Value, ExecutionError>;

/// Names the API server binds that fleetc cannot answer before apply, and
/// why; an expression that reads one is not evaluated.
const OFFLINE: &[(&str, &str)] = &[
    ("authorizer", "it asks the API server's authorizer (RBAC), which only the cluster can answer"),
    ("userInfo", "it reads who makes the request (`request.userInfo`), which is only known when someone applies"),
    ("http", "it calls an external service"),
    ("image", "it reads image registries"),
    ("imageData", "it reads image registries"),
    ("globalContext", "it reads Kyverno's global context"),
];

/// The longest expression compiled, in bytes.
pub const MAX_SOURCE: usize = 16 * 1024;
/// The deepest expression tree evaluated (the evaluator recurses on it).
pub const MAX_DEPTH: usize = 64;

/// Compile `source`. The parser recurses deeply on long operator chains,
/// so it runs on a thread of its own with a large stack; what it builds is
/// then held to [`MAX_DEPTH`] before anything evaluates it.
pub fn compile(source: &str) -> Result<Program, CelError> {
    if source.len() > MAX_SOURCE {
        return Err(CelError::TooComplex(format!(
            "the expression is {} bytes long, over the {MAX_SOURCE} fleetc evaluates",
            source.len()
        )));
    }
    let text = source.to_string();
    let parsed = std::thread::Builder::new()
        .name("cel-parse".into())
        .stack_size(64 << 20)
        .spawn(move || {
            let Context::Root { env, .. } = root() else {
                return Err(CelError::Compile("no CEL environment".into()));
            };
            env.compile(&text)
                .map_err(|e| CelError::Compile(e.to_string().trim().replace('\n', " ")))
        })
        .map_err(|e| CelError::Compile(format!("cannot start the parser: {e}")))?
        .join()
        .map_err(|_| CelError::Compile("the parser failed".into()))?;
    let program = parsed?;
    let depth = depth(&program.expression().expr);
    if depth > MAX_DEPTH {
        return Err(CelError::TooComplex(format!(
            "the expression nests {depth} levels deep, over the {MAX_DEPTH} fleetc evaluates"
        )));
    }
    let mut offline = None;
    walk(&program.expression().expr, &mut |e| match e {
        Expr::Ident(n) => {
            if let Some((_, why)) = OFFLINE.iter().find(|(k, _)| k == n) {
                offline.get_or_insert(*why);
            }
        }
        Expr::Select(s) if s.field == "userInfo" => {
            offline.get_or_insert(OFFLINE[1].1);
        }
        _ => {}
    });
    let mut run = program.expression().clone();
    ordered(&mut run);
    Ok(Program {
        program,
        run,
        source: source.to_string(),
        offline,
    })
}

/// Make every comprehension iterate `@ordered(range)`: a map's keys in
/// order, a list as it is. The crate keeps a map's entries in a hash
/// table, so `m.map(k, k)`, `m.filter(..)` or a message joining keys
/// would come out in a different order on each run; the API server does
/// not define the order either, and fleetc's output must not vary. (The
/// depth is bounded by [`MAX_DEPTH`], checked before.)
fn ordered(e: &mut IdedExpr) {
    match &mut e.expr {
        Expr::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                ordered(t);
            }
            c.args.iter_mut().for_each(ordered);
        }
        Expr::Comprehension(c) => {
            for x in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                ordered(x);
            }
            // The two-variable forms iterate `@indices`, already in order;
            // `cel.bind` iterates an empty list.
            let done = match &c.iter_range.expr {
                Expr::List(_) => true,
                Expr::Call(f) => f.func_name == "@indices",
                _ => false,
            };
            if !done {
                let range = std::mem::take(&mut c.iter_range);
                c.iter_range = IdedExpr {
                    id: range.id,
                    expr: Expr::Call(CallExpr {
                        func_name: "@ordered".into(),
                        target: None,
                        args: vec![range],
                    }),
                };
            }
        }
        Expr::List(l) => l.elements.iter_mut().for_each(ordered),
        Expr::Map(m) => m.entries.iter_mut().for_each(entry),
        Expr::Struct(st) => st.entries.iter_mut().for_each(entry),
        Expr::Select(sel) => ordered(&mut sel.operand),
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => {}
    }
}

fn entry(e: &mut cel::common::ast::IdedEntryExpr) {
    use cel::common::ast::EntryExpr;
    match &mut e.expr {
        EntryExpr::StructField(f) => ordered(&mut f.value),
        EntryExpr::MapEntry(m) => {
            ordered(&mut m.key);
            ordered(&mut m.value);
        }
    }
}

impl Program {
    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.program.expression().expr
    }
}

/// The depth of an expression tree, found without recursion.
fn depth(e: &Expr) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Expr, usize)> = vec![(e, 1)];
    while let Some((e, d)) = stack.pop() {
        deepest = deepest.max(d);
        stack.extend(children(e).into_iter().map(|c| (c, d + 1)));
    }
    deepest
}

/// The direct subexpressions of `e`.
fn children(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    match e {
        Expr::Call(c) => {
            out.extend(c.target.iter().map(|t| &t.expr));
            out.extend(c.args.iter().map(|a| &a.expr));
        }
        Expr::Comprehension(c) => {
            for x in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                out.push(&x.expr);
            }
        }
        Expr::List(l) => out.extend(l.elements.iter().map(|x| &x.expr)),
        Expr::Map(m) => {
            for entry in &m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                    out.push(&me.key.expr);
                    out.push(&me.value.expr);
                }
            }
        }
        Expr::Select(s) => out.push(&s.operand.expr),
        _ => {}
    }
    out
}

/// The inputs of one evaluation, by name, as JSON (for the cost estimate)
/// and as CEL values.
#[derive(Default, Clone)]
pub struct Inputs {
    pub json: Vec<(String, Arc<Json>)>,
    values: Vec<(String, Value)>,
}

impl Inputs {
    pub fn set(&mut self, name: &str, v: Arc<Json>) {
        let value = to_cel(&v);
        self.set_value(name, v, value);
    }

    /// A variable the evaluation's [`Scope`] already holds: named here for
    /// the cost estimate only.
    pub fn share(&mut self, name: &str, v: Arc<Json>) {
        self.json.retain(|(n, _)| n != name);
        self.json.push((name.to_string(), v));
    }

    /// [`Inputs::set`] with the CEL value already made.
    pub fn set_value(&mut self, name: &str, v: Arc<Json>, value: Value) {
        self.json.retain(|(n, _)| n != name);
        self.values.retain(|(n, _)| n != name);
        self.json.push((name.to_string(), v));
        self.values.push((name.to_string(), value));
    }
}

/// A scope with the variables every policy reviewing one object shares
/// (`object`, `oldObject`, `request`, `namespaceObject`): the evaluator
/// converts each variable when it is added, so they are added once per
/// object rather than once per expression.
pub type Scope = Context<'static, 'static>;

/// A [`Scope`] holding `values`.
pub fn scope(values: Vec<(&str, Value)>) -> Scope {
    let mut ctx = root().new_inner_scope();
    for (name, v) in values {
        ctx.add_variable_from_value(name.to_string(), v);
    }
    ctx
}

/// Run `p` on `inputs` within `budget` (estimated cost units).
pub fn eval(p: &Program, inputs: &Inputs, budget: u64) -> Result<Value, CelError> {
    eval_in(p, None, inputs, budget)
}

/// [`eval`] in `base` (whose variables `inputs` names for the estimate
/// only, with [`Inputs::share`]).
pub fn eval_in(
    p: &Program,
    base: Option<&Scope>,
    inputs: &Inputs,
    budget: u64,
) -> Result<Value, CelError> {
    if let Some(why) = p.offline {
        return Err(CelError::Offline(why));
    }
    let estimate = estimate(&p.program.expression().expr, inputs);
    if estimate > budget as f64 {
        return Err(CelError::Budget {
            estimate,
            limit: budget,
        });
    }
    let mut ctx = match base {
        Some(b) => b.new_inner_scope(),
        None => root().new_inner_scope(),
    };
    for (name, v) in &inputs.values {
        ctx.add_variable_from_value(name.clone(), v.clone());
    }
    Value::resolve(&p.run, &ctx).map_err(|e| CelError::Runtime(runtime_message(&e)))
}

fn runtime_message(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::UndeclaredReference(r) => format!("undeclared reference to `{r}`"),
        other => other.to_string(),
    }
}

/// A JSON value as CEL sees it (numbers that are integers are `int`).
pub fn to_cel(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n
                .as_u64()
                .map(Value::UInt)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or_default())),
        },
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(a) => Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Json::Object(m) => {
            let map: HashMap<Key, Value> = m
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Value::Map(cel::objects::Map { map: Arc::new(map) })
        }
    }
}

/// A CEL value as JSON (for params, messages); opaque values as strings.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.to_string()),
        Value::List(l) => Json::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            // CEL maps are hash maps: their entries are sorted right here.
            #[allow(clippy::disallowed_methods)]
            let mut entries: Vec<(String, Json)> = m
                .map
                .iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().collect())
        }
        // RFC 3339 in UTC, and seconds, as Kubernetes writes them.
        Value::Timestamp(t) => Json::String(t.to_utc().format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()),
        Value::Duration(d) => {
            let nanos = d.subsec_nanos();
            Json::String(if nanos == 0 {
                format!("{}s", d.num_seconds())
            } else {
                format!("{}.{:09}s", d.num_seconds(), nanos.unsigned_abs())
                    .trim_end_matches('0')
                    .to_string()
            })
        }
        other => Json::String(format!("{other:?}")),
    }
}

fn key_text(k: &Key) -> String {
    match k {
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
        Key::String(s) => s.to_string(),
    }
}

fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    for c in children(e) {
        walk(c, f);
    }
}

// ---- cost estimate ----

/// What the estimate knows of a value: the input it is (a path into the
/// inputs), or bounds on its length (elements, characters) and its size
/// (nodes and characters: what copying it costs).
#[derive(Clone)]
enum Shape<'a> {
    Known(&'a Json),
    Bound { len: f64, size: f64 },
}

/// A scalar, or anything small.
const ONE: Shape<'static> = Shape::Bound {
    len: 1.0,
    size: 1.0,
};

impl Shape<'_> {
    fn len(&self) -> f64 {
        match self {
            Shape::Known(Json::Array(a)) => a.len() as f64,
            Shape::Known(Json::Object(m)) => m.len() as f64,
            Shape::Known(Json::String(s)) => s.len() as f64,
            Shape::Known(_) => 1.0,
            Shape::Bound { len, .. } => *len,
        }
    }
    fn size(&self) -> f64 {
        match self {
            Shape::Known(j) => json_size(j),
            Shape::Bound { size, .. } => *size,
        }
    }
    /// The largest element: its own bounds.
    fn element<'b>(&self) -> Shape<'b> {
        let largest = |sizes: &mut dyn Iterator<Item = (f64, f64)>| {
            let (len, size) =
                sizes.fold((1.0f64, 1.0f64), |(l, s), (l2, s2)| (l.max(l2), s.max(s2)));
            Shape::Bound { len, size }
        };
        match self {
            Shape::Known(Json::Array(a)) => {
                largest(&mut a.iter().map(|x| (Shape::Known(x).len(), json_size(x))))
            }
            Shape::Known(Json::Object(m)) => largest(&mut m.iter().map(|(k, v)| {
                (
                    Shape::Known(v).len().max(k.len() as f64),
                    json_size(v).max(k.len() as f64),
                )
            })),
            other => Shape::Bound {
                len: other.size(),
                size: other.size(),
            },
        }
    }
}

fn json_size(j: &Json) -> f64 {
    match j {
        Json::Array(a) => 1.0 + a.iter().map(json_size).sum::<f64>(),
        Json::Object(m) => {
            1.0 + m
                .iter()
                .map(|(k, v)| k.len() as f64 + json_size(v))
                .sum::<f64>()
        }
        Json::String(s) => 1.0 + s.len() as f64,
        _ => 1.0,
    }
}

/// The estimated cost of evaluating `e` on `inputs`.
pub fn estimate(e: &Expr, inputs: &Inputs) -> f64 {
    let mut scope: Vec<(String, Shape)> = inputs
        .json
        .iter()
        .map(|(n, j)| (n.clone(), Shape::Known(j.as_ref())))
        .collect();
    est(e, &mut scope).0
}

/// (cost, shape of the result).
fn est<'a>(e: &Expr, scope: &mut Vec<(String, Shape<'a>)>) -> (f64, Shape<'a>) {
    match e {
        Expr::Ident(n) => {
            let shape = scope
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, s)| s.clone())
                .unwrap_or(ONE);
            (1.0, shape)
        }
        Expr::Literal(l) => {
            let size = match l {
                LiteralValue::String(s) => s.len() as f64 + 1.0,
                LiteralValue::Bytes(b) => b.len() as f64 + 1.0,
                _ => 1.0,
            };
            (1.0, Shape::Bound { len: size, size })
        }
        Expr::Select(s) => {
            let (c, shape) = est(&s.operand.expr, scope);
            let out = match shape {
                _ if s.test => ONE,
                Shape::Known(j) => j.get(&s.field).map(Shape::Known).unwrap_or(ONE),
                other => other.element(),
            };
            (c + 1.0, out)
        }
        Expr::List(l) => {
            let mut cost = 1.0;
            let mut size = 1.0;
            for x in &l.elements {
                let (c, s) = est(&x.expr, scope);
                cost += c;
                size += s.size();
            }
            let len = l.elements.len() as f64;
            (cost, Shape::Bound { len, size })
        }
        Expr::Map(m) => {
            let mut cost = 1.0;
            let mut size = 1.0;
            for entry in &m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                    let (ck, sk) = est(&me.key.expr, scope);
                    let (cv, sv) = est(&me.value.expr, scope);
                    cost += ck + cv;
                    size += sk.size() + sv.size();
                }
            }
            let len = m.entries.len() as f64;
            (cost, Shape::Bound { len, size })
        }
        Expr::Call(c) => call_cost(c, scope),
        Expr::Comprehension(c) => comprehension_cost(c, scope),
        _ => (1.0, ONE),
    }
}

/// A comprehension: its body times the length of its range, with the
/// accumulator as long as the steps can make it.
fn comprehension_cost<'a>(
    c: &cel::common::ast::ComprehensionExpr,
    scope: &mut Vec<(String, Shape<'a>)>,
) -> (f64, Shape<'a>) {
    let (range_cost, range) = est(&c.iter_range.expr, scope);
    let n = range.len();
    let (init_cost, init) = est(&c.accu_init.expr, scope);
    let mark = scope.len();
    let bind = |scope: &mut Vec<(String, Shape<'a>)>, accu: Shape<'a>| {
        scope.truncate(mark);
        scope.push((c.iter_var.clone(), range.element()));
        if let Some(v2) = &c.iter_var2 {
            scope.push((v2.clone(), range.element()));
        }
        scope.push((c.accu_var.clone(), accu));
    };
    // What one step adds to an empty accumulator, then the cost of a step
    // with the accumulator at its largest.
    bind(
        scope,
        Shape::Bound {
            len: 0.0,
            size: 0.0,
        },
    );
    let (_, step) = est(&c.loop_step.expr, scope);
    let accu = Shape::Bound {
        len: init.len() + n * step.len(),
        size: init.size() + n * step.size(),
    };
    bind(scope, accu);
    let (cond_cost, _) = est(&c.loop_cond.expr, scope);
    let (step_cost, _) = est(&c.loop_step.expr, scope);
    let (result_cost, result) = est(&c.result.expr, scope);
    scope.truncate(mark);
    (
        range_cost + init_cost + n * (cond_cost + step_cost) + result_cost,
        result,
    )
}

fn call_cost<'a>(
    c: &cel::common::ast::CallExpr,
    scope: &mut Vec<(String, Shape<'a>)>,
) -> (f64, Shape<'a>) {
    let mut cost = 1.0;
    let mut shapes = Vec::new();
    if let Some(t) = &c.target {
        let (ct, st) = est(&t.expr, scope);
        cost += ct;
        shapes.push(st);
    }
    for a in &c.args {
        let (ca, sa) = est(&a.expr, scope);
        cost += ca;
        shapes.push(sa);
    }
    let sizes: Vec<f64> = shapes.iter().map(Shape::size).collect();
    let lens: Vec<f64> = shapes.iter().map(Shape::len).collect();
    let total: f64 = sizes.iter().sum();
    let largest = |v: &[f64]| v.iter().cloned().fold(1.0, f64::max);
    let bound = |len: f64, size: f64| Shape::Bound { len, size };
    let (work, out) = match c.func_name.as_str() {
        // Logic and ordering: constant work, a bool.
        "_&&_"
        | "_||_"
        | "!_"
        | "@not_strictly_false"
        | "_<_"
        | "_<=_"
        | "_>_"
        | "_>=_"
        | "has"
        | "size" => (1.0, ONE),
        // Equality and membership read their operands.
        "_==_" | "_!=_" | "@in" => (total, ONE),
        "_?_:_" => {
            let pick = |i: usize| shapes.get(i).cloned().unwrap_or(ONE);
            let (a, b) = (pick(1), pick(2));
            let out = bound(a.len().max(b.len()), a.size().max(b.size()));
            (1.0, out)
        }
        // Concatenation copies both sides.
        "_+_" => (total, bound(lens.iter().sum(), total)),
        // Each match can grow the string by the replacement.
        "replace" => {
            let grown = sizes.first().copied().unwrap_or(1.0)
                * sizes.get(2).copied().unwrap_or(1.0).max(1.0);
            (grown, bound(grown, grown))
        }
        "join" | "split" | "format" | "lowerAscii" | "upperAscii" | "trim" | "reverse"
        | "substring" | "string" | "quote" => (total, bound(total, total)),
        // Regular expressions: linear in text times pattern.
        "matches" | "find" | "findAll" => (
            sizes.iter().product::<f64>().max(1.0),
            bound(largest(&lens), largest(&sizes)),
        ),
        // Index access: the element's shape.
        "_[_]" | "_[?_]" => {
            return match (shapes.first().cloned(), c.args.get(1).map(|a| &a.expr)) {
                (Some(Shape::Known(j)), Some(Expr::Literal(LiteralValue::String(k)))) => {
                    (cost, j.get(k.to_string()).map(Shape::Known).unwrap_or(ONE))
                }
                (Some(s), _) => (cost, s.element()),
                _ => (cost, ONE),
            };
        }
        // Everything else reads its arguments once.
        _ => (total, bound(largest(&lens), largest(&sizes))),
    };
    (cost + work, out)
}

// ---- the Kubernetes libraries ----

fn arg<'a>(
    args: &'a Arguments,
    ftx: &FunctionContext,
    i: usize,
) -> Result<&'a Value, ExecutionError> {
    args.0.get(i).ok_or_else(|| ftx.error("missing argument"))
}

/// The objects `resource` (a cluster's, by `apiVersion|resource|namespace`)
/// holds for the first `n` arguments.
fn resource_items(
    ftx: &FunctionContext,
    v: &Value,
    a: &Arguments,
    n: usize,
) -> Result<Vec<Value>, ExecutionError> {
    let mut parts = Vec::new();
    for i in 0..n {
        match a.0.get(i) {
            Some(Value::String(s)) => parts.push(s.to_string()),
            other => {
                return Err(ftx.error(format!(
                    "argument {} should be a string, not {other:?}",
                    i + 1
                )))
            }
        }
    }
    let Value::Map(m) = v else {
        return Err(ftx.error("Get and List are methods of Kyverno's `resource`"));
    };
    let key = Key::String(Arc::new(parts.join("|")));
    Ok(match m.map.get(&key) {
        Some(Value::List(l)) => l.to_vec(),
        _ => Vec::new(),
    })
}

/// Kyverno's `resource.Get(apiVersion, resource, namespace, name)`: the
/// object rendered on the cluster, or an error when there is none.
fn resource_get(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let items = resource_items(ftx, &v, &a, 3)?;
    let name = match a.0.get(3) {
        Some(Value::String(s)) => s.to_string(),
        _ => return Err(ftx.error("resource.Get takes apiVersion, resource, namespace and name")),
    };
    let named = |o: &Value| {
        let Value::Map(m) = o else { return false };
        let Some(Value::Map(meta)) = m.map.get(&Key::String(Arc::new("metadata".into()))) else {
            return false;
        };
        matches!(meta.map.get(&Key::String(Arc::new("name".into()))), Some(Value::String(n)) if n.as_str() == name)
    };
    items
        .into_iter()
        .find(named)
        .ok_or_else(|| ftx.error(format!("{name} not found on the cluster")))
}

/// Kyverno's `resource.List(apiVersion, resource, namespace)`: `{items}`
/// of the objects rendered on the cluster (`""`: every namespace).
fn resource_list(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let items = resource_items(ftx, &v, &a, 3)?;
    let mut m = std::collections::HashMap::new();
    m.insert(
        Key::String(Arc::new("items".into())),
        Value::List(Arc::new(items)),
    );
    Ok(Value::Map(cel::objects::Map { map: Arc::new(m) }))
}

fn string_of<'a>(v: &'a Value, ftx: &FunctionContext) -> Result<&'a str, ExecutionError> {
    match v {
        Value::String(s) => Ok(s.as_str()),
        other => Err(ftx.error(format!("expected a string, got {other:?}"))),
    }
}

/// A Kubernetes resource quantity, as an exact number of milli-units where
/// it fits (`100m`, `1Gi`, `2.5`), else approximately.
#[derive(Debug, Clone, PartialEq)]
struct Quantity {
    value: f64,
    text: String,
}
impl Eq for Quantity {}
impl cel::objects::Opaque for Quantity {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.Quantity"
    }
}

/// Parse a quantity as the API server does: a signed decimal number with
/// an optional binary (`Ki`…`Ei`) or decimal (`n`,`u`,`m`,`k`,`M`…`E`)
/// suffix, or an exponent (`1e3`).
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() || num.chars().filter(|c| *c == '.').count() > 1 {
        return None;
    }
    if num[1..].contains(['+', '-']) {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().ok()?;
            10f64.powi(exp)
        }
        _ => return None,
    };
    Some(n * mult)
}

/// A Kubernetes CEL type made from a string: `quantity('1Gi')` makes one,
/// `isQuantity('1Gi')` asks whether the string is one.
trait Parsed: cel::objects::Opaque + Eq + Sized {
    /// What the error calls a string that is not one.
    const WHAT: &'static str;
    fn parse(s: &str) -> Option<Self>;
}

impl Parsed for Quantity {
    const WHAT: &'static str = "invalid quantity";
    fn parse(s: &str) -> Option<Self> {
        parse_quantity(s).map(|value| Quantity {
            value,
            text: s.to_string(),
        })
    }
}

impl Parsed for Url {
    const WHAT: &'static str = "URL parse error: not an absolute URL:";
    fn parse(s: &str) -> Option<Self> {
        parse_url(s)
    }
}

impl Parsed for Ip {
    const WHAT: &'static str = "IP address parse error:";
    fn parse(s: &str) -> Option<Self> {
        parse_ip(s).map(Ip)
    }
}

impl Parsed for Cidr {
    const WHAT: &'static str = "network address parse error:";
    fn parse(s: &str) -> Option<Self> {
        parse_cidr(s)
    }
}

impl Parsed for Semver {
    const WHAT: &'static str = "invalid semantic version";
    fn parse(s: &str) -> Option<Self> {
        parse_semver(s)
    }
}

/// `quantity(s)`, `url(s)`, `cidr(s)`, `semver(s)`.
fn make<T: Parsed>(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    let s = string_of(&v, ftx)?;
    T::parse(s)
        .map(|x| Value::Opaque(Arc::new(x)))
        .ok_or_else(|| ftx.error(format!("{} {s:?}", T::WHAT)))
}

/// `isQuantity(s)`, `isURL(s)`, `isIP(s)`, `isCIDR(s)`, `isSemver(s)`.
fn is<T: Parsed>(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(T::parse(string_of(&v, ftx)?).is_some()))
}

fn quantity_of(v: &Value) -> Option<f64> {
    match v {
        Value::Opaque(o) => o.downcast_ref::<Quantity>().map(|q| q.value),
        _ => None,
    }
}

/// Compare two quantities or two semantic versions.
fn ordering(
    ftx: &FunctionContext,
    this: &Value,
    args: &Arguments,
) -> Result<std::cmp::Ordering, ExecutionError> {
    let other = arg(args, ftx, 0)?;
    if let (Some(a), Some(b)) = (quantity_of(this), quantity_of(other)) {
        return a.partial_cmp(&b).ok_or_else(|| ftx.error("not comparable"));
    }
    if let (Some(a), Some(b)) = (semver_of(this), semver_of(other)) {
        return Ok(a.cmp(&b));
    }
    Err(ftx.error("expected two quantities or two semantic versions"))
}

fn is_less_than(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(ordering(ftx, &v, &a)?.is_lt()))
}

fn is_greater_than(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(ordering(ftx, &v, &a)?.is_gt()))
}

fn compare_to(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(Value::Int(ordering(ftx, &v, &a)? as i64))
}

fn as_integer(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    let q = quantity_of(&v).ok_or_else(|| ftx.error("expected a quantity"))?;
    if q.fract() != 0.0 || q.abs() > i64::MAX as f64 {
        return Err(ftx.error("the quantity is not an integer"));
    }
    Ok(Value::Int(q as i64))
}

fn as_float(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(Value::Float(
        quantity_of(&v).ok_or_else(|| ftx.error("expected a quantity"))?,
    ))
}

fn sign(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    let q = quantity_of(&v).ok_or_else(|| ftx.error("expected a quantity"))?;
    Ok(Value::Int(if q > 0.0 {
        1
    } else if q < 0.0 {
        -1
    } else {
        0
    }))
}

fn quantity_arith(
    ftx: &FunctionContext,
    v: &Value,
    a: &Arguments,
    sign: f64,
) -> Result<Value, ExecutionError> {
    let q = quantity_of(v).ok_or_else(|| ftx.error("expected a quantity"))?;
    let other = match arg(a, ftx, 0)? {
        Value::Int(i) => *i as f64,
        o => quantity_of(o).ok_or_else(|| ftx.error("expected a quantity or an int"))?,
    };
    let value = q + sign * other;
    Ok(Value::Opaque(Arc::new(Quantity {
        value,
        text: value.to_string(),
    })))
}

fn add(ftx: &FunctionContext, This(v): This<Value>, a: Arguments) -> Result<Value, ExecutionError> {
    quantity_arith(ftx, &v, &a, 1.0)
}

fn sub(ftx: &FunctionContext, This(v): This<Value>, a: Arguments) -> Result<Value, ExecutionError> {
    quantity_arith(ftx, &v, &a, -1.0)
}

fn list_of<'a>(v: &'a Value, ftx: &FunctionContext) -> Result<&'a [Value], ExecutionError> {
    match v {
        Value::List(l) => Ok(l.as_slice()),
        other => Err(ftx.error(format!("expected a list, got {other:?}"))),
    }
}

fn is_sorted(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    let l = list_of(&v, ftx)?;
    Ok(Value::Bool(l.windows(2).all(|w| w[0] <= w[1])))
}

fn sum(ftx: &FunctionContext, This(v): This<Value>, _: Arguments) -> Result<Value, ExecutionError> {
    let l = list_of(&v, ftx)?;
    let mut int: i64 = 0;
    let mut float = 0.0;
    let mut is_float = false;
    for x in l {
        match x {
            Value::Int(i) => {
                int = int
                    .checked_add(*i)
                    .ok_or_else(|| ftx.error("integer overflow"))?
            }
            Value::Float(f) => {
                is_float = true;
                float += f;
            }
            other => return Err(ftx.error(format!("cannot sum {other:?}"))),
        }
    }
    Ok(if is_float {
        Value::Float(float + int as f64)
    } else {
        Value::Int(int)
    })
}

fn extreme(
    ftx: &FunctionContext,
    v: &Value,
    want: std::cmp::Ordering,
) -> Result<Value, ExecutionError> {
    let l = list_of(v, ftx)?;
    let mut best: Option<&Value> = None;
    for x in l {
        if best.is_none_or(|b| x.partial_cmp(b) == Some(want)) {
            best = Some(x);
        }
    }
    best.cloned().ok_or_else(|| ftx.error("empty list"))
}

fn min(ftx: &FunctionContext, This(v): This<Value>, _: Arguments) -> Result<Value, ExecutionError> {
    extreme(ftx, &v, std::cmp::Ordering::Less)
}

fn max(ftx: &FunctionContext, This(v): This<Value>, _: Arguments) -> Result<Value, ExecutionError> {
    extreme(ftx, &v, std::cmp::Ordering::Greater)
}

fn regex_of(ftx: &FunctionContext, a: &Arguments) -> Result<regex::Regex, ExecutionError> {
    let pattern = string_of(arg(a, ftx, 0)?, ftx)?;
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| ftx.error(format!("invalid regular expression: {e}")))
}

fn find(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let text = string_of(&v, ftx)?;
    let re = regex_of(ftx, &a)?;
    Ok(Value::String(Arc::new(
        re.find(text)
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
    )))
}

fn find_all(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let text = string_of(&v, ftx)?;
    let re = regex_of(ftx, &a)?;
    let limit = match a.0.get(1) {
        Some(Value::Int(n)) if *n >= 0 => *n as usize,
        _ => usize::MAX,
    };
    Ok(Value::List(Arc::new(
        re.find_iter(text)
            .take(limit)
            .map(|m| Value::String(Arc::new(m.as_str().to_string())))
            .collect(),
    )))
}

fn two_lists<'a>(
    ftx: &FunctionContext,
    v: &'a Value,
    a: &'a Arguments,
) -> Result<(&'a [Value], &'a [Value]), ExecutionError> {
    // `sets.contains(a, b)` is a global call: both lists are arguments.
    match (v, a.0.len()) {
        (_, 2) => Ok((list_of(&a.0[0], ftx)?, list_of(&a.0[1], ftx)?)),
        (this, 1) => Ok((list_of(this, ftx)?, list_of(&a.0[0], ftx)?)),
        _ => Err(ftx.error("expected two lists")),
    }
}

fn sets_contains(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let (x, y) = two_lists(ftx, &v, &a)?;
    Ok(Value::Bool(y.iter().all(|e| x.contains(e))))
}

fn sets_equivalent(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let (x, y) = two_lists(ftx, &v, &a)?;
    Ok(Value::Bool(
        y.iter().all(|e| x.contains(e)) && x.iter().all(|e| y.contains(e)),
    ))
}

fn sets_intersects(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let (x, y) = two_lists(ftx, &v, &a)?;
    Ok(Value::Bool(y.iter().any(|e| x.contains(e))))
}

/// A URL, split as Go's `net/url` does for absolute URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    scheme: String,
    host: String,
    path: String,
    query: String,
}
impl cel::objects::Opaque for Url {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.URL"
    }
}

fn parse_url(s: &str) -> Option<Url> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let (rest, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.contains(char::is_whitespace) {
        return None;
    }
    Some(Url {
        scheme: scheme.into(),
        host: host.into(),
        path: path.into(),
        query: query.into(),
    })
}

fn url_of<'a>(v: &'a Value, ftx: &FunctionContext) -> Result<&'a Url, ExecutionError> {
    match v {
        Value::Opaque(o) => o
            .downcast_ref::<Url>()
            .ok_or_else(|| ftx.error("expected a URL")),
        _ => Err(ftx.error("expected a URL")),
    }
}

fn url_part(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    let u = url_of(&v, ftx)?;
    let (hostname, port) = match u.host.rsplit_once(':') {
        Some((h, p))
            if !h.ends_with(']')
                || u.host.starts_with('[') && p.chars().all(|c| c.is_ascii_digit()) =>
        {
            (h.trim_start_matches('[').trim_end_matches(']'), p)
        }
        _ => (u.host.trim_start_matches('[').trim_end_matches(']'), ""),
    };
    let s = match ftx.name {
        "getScheme" => u.scheme.as_str(),
        "getHost" => u.host.as_str(),
        "getHostname" => hostname,
        "getPort" => port,
        _ => u.path.as_str(),
    };
    Ok(Value::String(Arc::new(s.to_string())))
}

fn url_query(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    let u = url_of(&v, ftx)?;
    let mut map: HashMap<Key, Vec<Value>> = HashMap::new();
    for pair in u.query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(Key::String(Arc::new(k.to_string())))
            .or_default()
            .push(Value::String(Arc::new(v.to_string())));
    }
    let map = map
        .into_iter()
        .map(|(k, v)| (k, Value::List(Arc::new(v))))
        .collect();
    Ok(Value::Map(cel::objects::Map { map: Arc::new(map) }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ip(std::net::IpAddr);
impl cel::objects::Opaque for Ip {
    fn runtime_type_name(&self) -> &str {
        "net.IP"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cidr(std::net::IpAddr, u8);
impl cel::objects::Opaque for Cidr {
    fn runtime_type_name(&self) -> &str {
        "net.CIDR"
    }
}

fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    // As Kubernetes: no zones, no IPv4-mapped IPv6.
    let ip: std::net::IpAddr = s.parse().ok()?;
    match ip {
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => None,
        _ => Some(ip),
    }
}

fn parse_cidr(s: &str) -> Option<Cidr> {
    let (ip, bits) = s.split_once('/')?;
    let ip = parse_ip(ip)?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(Cidr(ip, bits))
}

fn ip(ftx: &FunctionContext, This(v): This<Value>, _: Arguments) -> Result<Value, ExecutionError> {
    match &v {
        Value::String(s) => parse_ip(s)
            .map(|ip| Value::Opaque(Arc::new(Ip(ip))))
            .ok_or_else(|| ftx.error(format!("IP address parse error: {s:?}"))),
        // `cidr('10.0.0.0/8').ip()`
        Value::Opaque(o) => o
            .downcast_ref::<Cidr>()
            .map(|c| Value::Opaque(Arc::new(Ip(c.0))))
            .ok_or_else(|| ftx.error("expected a string or a CIDR")),
        _ => Err(ftx.error("expected a string")),
    }
}

fn in_prefix(net: &Cidr, ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if net.1 == 0 {
                0
            } else {
                u32::MAX << (32 - net.1)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if net.1 == 0 {
                0
            } else {
                u128::MAX << (128 - net.1)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn contains_ip(
    ftx: &FunctionContext,
    This(v): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let net = match &v {
        Value::Opaque(o) => o.downcast_ref::<Cidr>().cloned(),
        _ => None,
    }
    .ok_or_else(|| ftx.error("expected a CIDR"))?;
    let ip = match arg(&a, ftx, 0)? {
        Value::String(s) => {
            parse_ip(s).ok_or_else(|| ftx.error(format!("IP address parse error: {s:?}")))?
        }
        Value::Opaque(o) => o
            .downcast_ref::<Ip>()
            .map(|i| i.0)
            .ok_or_else(|| ftx.error("expected an IP"))?,
        _ => return Err(ftx.error("expected an IP")),
    };
    Ok(Value::Bool(in_prefix(&net, ip)))
}

fn ip_of(v: &Value, ftx: &FunctionContext) -> Result<std::net::IpAddr, ExecutionError> {
    match v {
        Value::Opaque(o) => o
            .downcast_ref::<Ip>()
            .map(|i| i.0)
            .ok_or_else(|| ftx.error("expected an IP")),
        _ => Err(ftx.error("expected an IP")),
    }
}

fn family(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(Value::Int(if ip_of(&v, ftx)?.is_ipv4() { 4 } else { 6 }))
}

fn is_loopback(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(ip_of(&v, ftx)?.is_loopback()))
}

/// A semantic version (major.minor.patch, pre-release ignored in order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Semver(u64, u64, u64);
impl cel::objects::Opaque for Semver {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.Semver"
    }
}

fn parse_semver(s: &str) -> Option<Semver> {
    let core = s.split(['-', '+']).next()?;
    let parts: Vec<&str> = core.split('.').collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let n = |x: &str| -> Option<u64> {
        (!x.is_empty() && (x == "0" || !x.starts_with('0'))).then(|| x.parse().ok())?
    };
    Some(Semver(n(a)?, n(b)?, n(c)?))
}

fn semver_of(v: &Value) -> Option<Semver> {
    match v {
        Value::Opaque(o) => o.downcast_ref::<Semver>().cloned(),
        _ => None,
    }
}

fn semver_part(
    ftx: &FunctionContext,
    This(v): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    let s = semver_of(&v).ok_or_else(|| ftx.error("expected a semantic version"))?;
    let n = match ftx.name {
        "major" => s.0,
        "minor" => s.1,
        _ => s.2,
    };
    Ok(Value::Int(n as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(src: &str, object: Json) -> Result<Value, CelError> {
        let p = compile(src)?;
        let mut inputs = Inputs::default();
        inputs.set("object", Arc::new(object));
        eval(&p, &inputs, 10_000_000)
    }

    /// Comprehensions over maps visit the keys in order, so what they make
    /// (a list, a message) is the same on every run.
    #[test]
    fn maps_iterate_in_key_order() {
        let obj = json!({"data": {"zeta": "1", "alpha": "", "mid": "3", "beta": "4",
            "omega": "5", "kappa": "6", "delta": "", "eta": "8"}});
        let t = |src: &str| run(src, obj.clone());
        for _ in 0..20 {
            assert_eq!(
                t("object.data.map(k, k).join(',')"),
                Ok(Value::from("alpha,beta,delta,eta,kappa,mid,omega,zeta"))
            );
            assert_eq!(
                t("object.data.filter(k, object.data[k] == '').join(',')"),
                Ok(Value::from("alpha,delta"))
            );
            assert_eq!(
                t("object.data.map(k, object.data[k] != '', k + '=' + object.data[k])[0]"),
                Ok(Value::from("beta=4"))
            );
            assert_eq!(
                t("{'b': 1, 'a': 2}.map(k, k) == ['a', 'b']"),
                Ok(Value::Bool(true))
            );
        }
        // Lists keep their order, and the quantifiers are unchanged.
        assert_eq!(
            t("['c', 'a'].map(x, x + x) == ['cc', 'aa']"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("object.data.exists_one(k, k == 'mid')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(t("object.data.all(k, k.size() > 2)"), Ok(Value::Bool(true)));
        assert!(t("object.data.zeta.all(c, c == '1')").is_err());
    }

    #[test]
    fn timestamps_and_durations() {
        let cert = json!({"spec": {"duration": "2160h", "renewBefore": "360h",
            "notAfter": "2027-01-01T00:00:00Z"}});
        let t = |src: &str| run(src, cert.clone());
        assert_eq!(
            t("duration(object.spec.renewBefore) < duration(object.spec.duration)"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("timestamp(object.spec.notAfter) > timestamp('2026-12-04T00:00:00Z')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("timestamp(object.spec.notAfter) - duration('24h') == timestamp('2026-12-31T00:00:00Z')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(t("duration('90m').getMinutes()"), Ok(Value::Int(90)));
        assert!(t("duration('soon') > duration('1h')").is_err());
        // As JSON (a message, a report) they are RFC 3339 and seconds.
        let v = t("timestamp('2026-12-04T10:00:00Z')").expect("a timestamp");
        assert_eq!(to_json(&v), json!("2026-12-04T10:00:00Z"));
        assert_eq!(
            to_json(&t("duration('90m')").expect("a duration")),
            json!("5400s")
        );
    }

    #[test]
    fn named_formats() {
        let obj = json!({"metadata": {"name": "web-1", "generateName": "web-",
            "labels": {"team": "Payments_EU"}}, "spec": {"host": "Not_A_Host"}});
        let t = |src: &str| run(src, obj.clone());
        assert_eq!(
            t("!format.dns1123Label().validate(object.metadata.name).hasValue()"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("format.dns1123Subdomain().validate(object.spec.host).hasValue()"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("format.dns1123Subdomain().validate(object.spec.host).value().size() == 1"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("format.named('labelValue').value().validate(object.metadata.labels.team) == optional.none()"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("format.named('nonsense').hasValue()"),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            t("!format.dns1123LabelPrefix().validate(object.metadata.generateName).hasValue()"),
            Ok(Value::Bool(true))
        );
        for (f, good, bad) in [
            ("dns1035Label", "web", "1web"),
            ("qualifiedName", "example.com/my-key", "example.com/a/b"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
            ("byte", "aGVsbG8=", "not base64!"),
            ("date", "2024-02-29", "2023-02-29"),
            ("datetime", "2026-12-04T10:00:00Z", "2026-12-04 10:00"),
            ("uri", "https://example.com/x", "no scheme"),
        ] {
            let check = |s: &str| t(&format!("format.{f}().validate('{s}').hasValue()"));
            assert_eq!(check(good), Ok(Value::Bool(false)), "{f} {good}");
            assert_eq!(check(bad), Ok(Value::Bool(true)), "{f} {bad}");
        }
    }

    #[test]
    fn bind_and_two_variable_comprehensions() {
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [{"name": "a", "image": "r.io/a:1"}, {"name": "b", "image": "x.io/b"}]}});
        let t = |src: &str| run(src, pod.clone());
        assert_eq!(
            t("cel.bind(cs, object.spec.containers, cs.size() == 2 && cs[0].name == 'a')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("cel.bind(x, 1, cel.bind(y, x + 1, x + y))"),
            Ok(Value::Int(3))
        );
        // Index and element of a list; key and value of a map.
        assert_eq!(
            t("object.spec.containers.all(i, c, i < 2 && c.name != '')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("object.spec.containers.exists(i, c, i == 1 && c.image.startsWith('x.io/'))"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("object.metadata.labels.all(k, v, k.size() > 2 && v != '')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("object.metadata.labels.existsOne(k, v, v == 'web')"),
            Ok(Value::Bool(true))
        );
        // One-variable forms are unchanged; a bind on anything but `cel` is a call.
        assert_eq!(
            t("object.spec.containers.all(c, c.name != '')"),
            Ok(Value::Bool(true))
        );
        assert!(t("object.bind(a, 1, a)").is_err());
    }

    #[test]
    fn kubernetes_cel() {
        let pod = json!({"metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "a", "image": "r.io/a:1", "resources": {"limits": {"memory": "512Mi"}}},
                {"name": "b", "image": "r.io/b:2"}]}});
        let t = |src: &str| run(src, pod.clone());
        assert_eq!(
            t("object.spec.containers.all(c, c.image.startsWith('r.io/'))"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("object.?metadata.?labels.?team.orValue('none') == 'none'"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("object.spec.containers.filter(c, !has(c.resources)).map(c, c.name)"),
            Ok(Value::List(Arc::new(vec![Value::String(Arc::new(
                "b".into()
            ))])))
        );
        assert_eq!(
            t("quantity(object.spec.containers[0].resources.limits.memory).isLessThan(quantity('1Gi'))"),
            Ok(Value::Bool(true))
        );
        assert_eq!(t("isQuantity('12x')"), Ok(Value::Bool(false)));
        assert_eq!(t("'a,b'.split(',').size() == 2"), Ok(Value::Bool(true)));
        assert_eq!(t("sets.contains(['a', 'b'], ['a'])"), Ok(Value::Bool(true)));
        assert_eq!(
            t("[1, 2, 3].isSorted() && [1, 2].sum() == 3"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("url('https://a.io:8443/x?y=1').getHostname() == 'a.io'"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("cidr('10.0.0.0/8').containsIP('10.2.3.4')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("semver('1.2.3').isLessThan(semver('1.10.0'))"),
            Ok(Value::Bool(true))
        );
        assert_eq!(t("'abc123'.find('[0-9]+') == '123'"), Ok(Value::Bool(true)));
        assert!(matches!(
            t("object.spec.nodeName == 'x'"),
            Err(CelError::Runtime(_))
        ));
        assert!(matches!(
            t("request.userInfo.username == 'x'"),
            Err(CelError::Offline(_))
        ));
        assert!(matches!(t("object.spec.("), Err(CelError::Compile(_))));
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("1.5"), Some(1.5));
        assert_eq!(parse_quantity("Gi"), None);
        assert_eq!(parse_quantity("1GB"), None);
    }

    #[test]
    fn runaway_expressions_hit_the_budget() {
        let big = json!({"items": (0..200).collect::<Vec<_>>()});
        // Cubic in a 200-element list: 8 million steps.
        let cubic = "object.items.all(a, object.items.all(b, object.items.all(c, a + b + c >= 0)))";
        assert!(matches!(
            run(cubic, big.clone()),
            Err(CelError::Budget { .. })
        ));
        // A string that doubles 40 times.
        let mut doubling = "'ab'".to_string();
        for _ in 0..40 {
            doubling = format!("({doubling}).replace('a', 'aa')");
        }
        assert!(matches!(
            run(&format!("size({doubling}) > 0"), big.clone()),
            Err(CelError::Budget { .. })
        ));
        // Long chains and deep nesting are refused before they are evaluated.
        let chain = vec!["1"; 5000].join(" + ");
        assert!(matches!(
            run(&chain, big.clone()),
            Err(CelError::TooComplex(_))
        ));
        let huge = vec!["1"; 9000].join("+");
        assert!(matches!(
            run(&huge, big.clone()),
            Err(CelError::TooComplex(_))
        ));
        // Linear over the same list is fine.
        assert_eq!(
            run("object.items.all(a, a >= 0)", big),
            Ok(Value::Bool(true))
        );
    }
}
