// Rebuilds JSON Schemas of Flux and Argo CD kinds from the npm packages
// @kubernetes-models/flux-cd and @kubernetes-models/argo-cd (MIT).
//
// The packages do not ship their schemas as data: each `_schemas/<Type>.js`
// is Ajv "standalone" code, one function per subschema, generated from the
// projects' Go API types. That code is regular: every check builds an error
// object naming its keyword (`type`, `enum`, `required`, `pattern`, ...) and
// its parameters, and every subschema is a call to another function on
// `data.<property>`, `data[i]` (items), `data[key]` (additionalProperties) or
// `data` itself (a `$ref`, or a `oneOf` branch). This script parses the code
// with acorn and writes those keywords back as JSON Schema, inlining every
// reference (a type that refers to itself would go to `$defs`). Anything it
// does not recognise is an error, never silently dropped.
//
// Then it checks its own work: for each kind, the package's validator and
// Ajv running the rebuilt schema must agree on every sample object (fleetc's
// emitted objects, given on stdin) and on thousands of mutations of them, and
// every type's schema must agree with the package's validator for that type
// on a set of probe values; and every property the package's TypeScript
// declarations list must be in the rebuilt schema.
//
// Usage: node extract.mjs NODE_MODULES < samples.json > out.json
// where samples.json is {"<apiVersion> <kind>": [object, ...]}; the output is
// {"schemas": {"<group>_<version>_<kind>.json": schema}, "packages": [name]}.
// `cargo xtask crd-schemas` runs it and writes data/crd-schemas/.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const nm = path.resolve(process.argv[2]);
const require = createRequire(path.join(nm, "noop.js"));
const acorn = require("acorn");

// apiVersion, kind, the package's module of the kind.
const KINDS = [
  ["kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-cd", "ComGithubFluxcdKustomizeControllerApiV1Kustomization"],
  ["helm.toolkit.fluxcd.io/v2", "HelmRelease", "flux-cd", "ComGithubFluxcdHelmControllerApiV2HelmRelease"],
  ["source.toolkit.fluxcd.io/v1", "GitRepository", "flux-cd", "ComGithubFluxcdSourceControllerApiV1GitRepository"],
  ["source.toolkit.fluxcd.io/v1", "HelmRepository", "flux-cd", "ComGithubFluxcdSourceControllerApiV1HelmRepository"],
  ["source.toolkit.fluxcd.io/v1", "OCIRepository", "flux-cd", "ComGithubFluxcdSourceControllerApiV1OCIRepository"],
  ["argoproj.io/v1alpha1", "Application", "argo-cd", "ComGithubArgoprojArgoCdV3PkgApisApplicationV1alpha1Application"],
];

// ---------------------------------------------------------------- modules

const modules = new Map(); // file -> parsed module

function resolveImport(fromFile, spec) {
  let p;
  if (spec.startsWith(".")) p = path.resolve(path.dirname(fromFile), spec);
  else p = path.join(nm, spec);
  for (const c of [p, p + ".js"]) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  throw new Error(`${fromFile}: cannot resolve ${spec}`);
}

function literal(node, file) {
  switch (node.type) {
    case "Literal":
      return node.value;
    case "ArrayExpression":
      return node.elements.map((e) => literal(e, file));
    case "UnaryExpression":
      if (node.operator === "-") return -literal(node.argument, file);
      if (node.operator === "!") return !literal(node.argument, file);
      break;
    case "ObjectExpression": {
      const o = {};
      for (const p of node.properties) o[p.key.name ?? p.key.value] = literal(p.value, file);
      return o;
    }
  }
  throw new Error(`${file}: not a literal: ${node.type} at ${node.start}`);
}

function load(file) {
  if (modules.has(file)) return modules.get(file);
  const ast = acorn.parse(fs.readFileSync(file, "utf8"), { ecmaVersion: "latest", sourceType: "module" });
  const m = { file, name: path.basename(file, ".js"), funcs: new Map(), imports: new Map(), consts: new Map(), root: null };
  for (const st of ast.body) {
    if (st.type === "ImportDeclaration") {
      for (const s of st.specifiers) {
        if (s.type === "ImportSpecifier" && s.imported.name === "validate") {
          m.imports.set(s.local.name, resolveImport(file, st.source.value));
        }
      }
    } else if (st.type === "FunctionDeclaration") {
      m.funcs.set(st.id.name, st);
    } else if (st.type === "ExportNamedDeclaration" && st.declaration?.type === "VariableDeclaration") {
      for (const d of st.declaration.declarations) {
        if (d.id.name === "validate") m.root = d.init.name;
      }
    } else if (st.type === "VariableDeclaration") {
      for (const d of st.declarations) {
        const init = d.init;
        if (/^schema\d+_enum$/.test(d.id.name)) m.consts.set(d.id.name, { enum: literal(init, file) });
        else if (/^pattern\d+$/.test(d.id.name)) {
          // RegExp("...", "u")
          if (init.type !== "CallExpression" || init.callee.name !== "RegExp") throw new Error(`${file}: ${d.id.name}`);
          m.consts.set(d.id.name, { pattern: literal(init.arguments[0], file) });
        } else if (/^formats\d+$/.test(d.id.name)) {
          m.consts.set(d.id.name, { format: init.property.name ?? init.property.value });
        } else throw new Error(`${file}: unknown top-level ${d.id.name}`);
      }
    } else if (st.type === "ExportNamedDeclaration" || st.type === "ExpressionStatement") {
      throw new Error(`${file}: unexpected top-level ${st.type}`);
    }
  }
  if (!m.root) throw new Error(`${file}: no exported validate`);
  modules.set(file, m);
  return m;
}

// ---------------------------------------------------------------- decompiling

const isData = (n) => n?.type === "Identifier" && n.name === "data";
const isNullCheck = (n) =>
  n?.type === "BinaryExpression" &&
  n.operator === "!==" &&
  ((n.left.type === "Literal" && n.left.value === null && isData(n.right)) ||
    (n.right.type === "Literal" && n.right.value === null && isData(n.left)));
function contains(node, pred) {
  let found = false;
  walk(node, [], (n) => {
    if (pred(n)) found = true;
  });
  return found;
}
function walk(node, ancestors, visit) {
  if (!node || typeof node.type !== "string") return;
  visit(node, ancestors);
  ancestors.push(node);
  for (const k of Object.keys(node)) {
    const v = node[k];
    if (Array.isArray(v)) v.forEach((c) => walk(c, ancestors, visit));
    else if (v && typeof v.type === "string") walk(v, ancestors, visit);
  }
  ancestors.pop();
}

const moduleSchemas = new Map(); // file -> schema (done)
const inProgress = new Set();
const recursive = new Set();

function moduleSchema(file) {
  if (moduleSchemas.has(file)) return moduleSchemas.get(file);
  const m = load(file);
  if (inProgress.has(file)) {
    recursive.add(file);
    return { $ref: `#/$defs/${m.name}` };
  }
  inProgress.add(file);
  const s = funcSchema(m, m.root, new Set());
  inProgress.delete(file);
  moduleSchemas.set(file, s);
  return s;
}

function calleeSchema(m, name, stack) {
  if (m.funcs.has(name)) return funcSchema(m, name, stack);
  if (m.imports.has(name)) return moduleSchema(m.imports.get(name));
  throw new Error(`${m.file}: unknown function ${name}`);
}

function nullable(s) {
  s = structuredClone(s);
  if (s.type && !s.$ref && !s.oneOf && !s.anyOf) {
    const t = Array.isArray(s.type) ? s.type : [s.type];
    if (!t.includes("null")) s.type = [...t, "null"];
    if (s.enum && !s.enum.includes(null)) s.enum.push(null);
    return s;
  }
  if (Object.keys(s).length === 0) return s; // anything, null included
  return { anyOf: [{ type: "null" }, s] };
}

function funcSchema(m, name, stack) {
  if (stack.has(name)) throw new Error(`${m.file}: recursion inside one module at ${name}`);
  stack = new Set(stack).add(name);
  const fn = m.funcs.get(name);
  const s = {};
  const props = new Map();
  const same = []; // [schema, nullable]
  let combinator = null;
  walk(fn.body, [], (n, anc) => {
    if (n.type === "ObjectExpression" && n.properties.some((p) => p.key?.name === "keyword")) {
      const get = (k) => n.properties.find((p) => p.key?.name === k)?.value;
      const keyword = literal(get("keyword"), m.file);
      const schemaPath = literal(get("schemaPath"), m.file);
      if (schemaPath !== `#/${keyword}`) throw new Error(`${m.file} ${name}: schemaPath ${schemaPath}`);
      const params = get("params");
      const param = (k) => params.properties.find((p) => p.key?.name === k)?.value;
      switch (keyword) {
        case "type": {
          // Nullable when the enclosing test lets null through.
          let nullOk = false;
          for (let i = anc.length - 1; i >= 0; i--) {
            const a = anc[i];
            if (a.type === "IfStatement") {
              const inThen = contains(a.consequent, (x) => x === n);
              nullOk = inThen && contains(a.test, isNullCheck);
              break;
            }
          }
          const t = literal(param("type"), m.file);
          s.type = nullOk ? [t, "null"] : t;
          break;
        }
        case "enum": {
          const id = param("allowedValues").name;
          s.enum = structuredClone(m.consts.get(id).enum);
          break;
        }
        case "pattern":
          s.pattern = literal(param("pattern"), m.file);
          break;
        case "format":
          s.format = literal(param("format"), m.file);
          break;
        case "maxLength":
        case "minLength":
        case "maxItems":
        case "minItems":
        case "maxProperties":
        case "minProperties":
          s[keyword] = literal(param("limit"), m.file);
          break;
        case "minimum":
        case "maximum": {
          const cmp = literal(param("comparison"), m.file);
          if (cmp !== ">=" && cmp !== "<=") throw new Error(`${m.file}: ${keyword} ${cmp}`);
          s[keyword] = literal(param("limit"), m.file);
          break;
        }
        case "required":
          (s.required ??= []).push(literal(param("missingProperty"), m.file));
          break;
        case "oneOf":
        case "anyOf":
          combinator = keyword;
          break;
        default:
          throw new Error(`${m.file} ${name}: keyword ${keyword} is not handled`);
      }
    }
    if (n.type === "CallExpression" && n.callee.type === "Identifier" && /^validate\d+$/.test(n.callee.name)) {
      const arg = n.arguments[0];
      const sub = () => calleeSchema(m, n.callee.name, stack);
      if (isData(arg)) {
        // `null !== data && (validateN(data) || ...)`: a nullable reference.
        const nullOk = anc.some((a) => a.type === "LogicalExpression" && a.operator === "&&" && isNullCheck(a.left));
        same.push([sub(), nullOk]);
      } else if (arg.type === "MemberExpression" && isData(arg.object)) {
        if (!arg.computed) props.set(arg.property.name, sub());
        else if (arg.property.type === "Literal") props.set(String(arg.property.value), sub());
        else if (/^i\d+$/.test(arg.property.name)) s.items = sub();
        else if (/^key\d+$/.test(arg.property.name)) {
          // additionalProperties, unless a pattern picks the keys
          const guarded = anc.some((a) => a.type === "IfStatement" && contains(a.test, (x) => x.type === "Identifier" && /^pattern\d+$/.test(x.name)));
          if (guarded) throw new Error(`${m.file} ${name}: patternProperties are not handled`);
          s.additionalProperties = sub();
        } else throw new Error(`${m.file} ${name}: call on data[${arg.property.name}]`);
      } else throw new Error(`${m.file} ${name}: call on ${arg.type}`);
    }
    if (n.type === "ForInStatement" || n.type === "ForOfStatement") {
      // Only `for (key in data)` over additionalProperties is expected.
      if (!isData(n.right)) throw new Error(`${m.file} ${name}: loop over ${n.right.type}`);
    }
  });
  if (props.size) s.properties = Object.fromEntries(props);
  if (combinator) {
    if (same.some(([, nullOk]) => nullOk)) throw new Error(`${m.file} ${name}: nullable ${combinator} branch`);
    s[combinator] = same.map(([x]) => x);
  } else if (same.length) {
    const subs = same.map(([x, nullOk]) => (nullOk ? nullable(x) : x));
    // A reference alone is the referenced schema; beside other keywords (an
    // embedded Go struct) the references are an allOf.
    if (subs.length === 1 && Object.keys(s).length === 0) return subs[0];
    // allOf is what an embedded Go struct (or a named scalar type beside an
    // enum) compiles to; its keywords are merged into the schema, as the CRD
    // generator does, so that closing an object's properties stays possible.
    const types = (v) => (v === undefined ? null : Array.isArray(v) ? v : [v]);
    for (const x of subs) {
      for (const [k, v] of Object.entries(x)) {
        if (k === "properties") {
          for (const [pk, pv] of Object.entries(v)) {
            if (props.has(pk)) throw new Error(`${m.file} ${name}: ${pk} twice`);
            props.set(pk, pv);
          }
        } else if (k === "required") {
          s.required = [...(s.required ?? []), ...v];
        } else if (k === "type") {
          const a = types(s.type) ?? types(v);
          const both = a.filter((t) => types(v).includes(t));
          if (both.length === 0) throw new Error(`${m.file} ${name}: types ${s.type} and ${v}`);
          s.type = both.length === 1 ? both[0] : both;
        } else if (!(k in s)) {
          s[k] = v;
        } else if (JSON.stringify(s[k]) !== JSON.stringify(v)) {
          throw new Error(`${m.file} ${name}: ${k} differs in allOf`);
        }
      }
    }
    if (props.size) s.properties = Object.fromEntries(props);
  }
  return s;
}

// ---------------------------------------------------------------- checks

const Ajv2020 = require("ajv/dist/2020").default;
const { formats } = await import(pathToFileURL(path.join(nm, "@kubernetes-models/validate/dist/formats.js")));
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
for (const [k, v] of Object.entries(formats)) ajv.addFormat(k, v);

function probes(schema) {
  const p = [null, 0, 1, -1, 1.5, 2 ** 40, "", "x", "x".repeat(300), "1m", "https://x", true, false, [], [null], ["x"], [1], {}, { x: 1 }];
  if (schema?.enum) p.push(...schema.enum);
  return p;
}

// Mutations of a sample: every path deleted, replaced by each probe, and an
// unknown key added to every object.
function* mutations(obj) {
  const paths = [];
  (function visit(v, p) {
    paths.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, [...p, i]));
    else if (v && typeof v === "object") for (const k of Object.keys(v)) visit(v[k], [...p, k]);
  })(obj, []);
  const at = (root, p, f) => {
    const c = structuredClone(root);
    if (p.length === 0) return f(undefined, undefined, c);
    let o = c;
    for (const k of p.slice(0, -1)) o = o[k];
    f(o, p[p.length - 1], c);
    return c;
  };
  for (const p of paths) {
    if (p.length) yield at(obj, p, (o, k) => (Array.isArray(o) ? o.splice(k, 1) : delete o[k]));
    for (const v of probes()) if (p.length) yield at(obj, p, (o, k) => (o[k] = structuredClone(v)));
    yield at(obj, p, (o, k, c) => {
      const t = p.length ? o[k] : c;
      if (t && typeof t === "object" && !Array.isArray(t)) t.zzUnknown = "x";
    });
  }
}

const samples = JSON.parse(fs.readFileSync(0, "utf8"));
const out = {};
let compared = 0;
for (const [apiVersion, kind, pkg, mod] of KINDS) {
  const file = path.join(nm, "@kubernetes-models", pkg, "_schemas", mod + ".js");
  recursive.clear();
  const schema = structuredClone(moduleSchema(file));
  if (recursive.size) {
    schema.$defs = {};
    for (const f of recursive) schema.$defs[load(f).name] = moduleSchema(f);
  }
  const theirs = (await import(pathToFileURL(file))).validate;
  const ours = ajv.compile(schema);
  const objs = samples[`${apiVersion} ${kind}`] ?? [];
  for (const obj of objs) {
    for (const x of [obj, ...mutations(obj)]) {
      const a = theirs(x);
      const b = ours(x);
      compared++;
      if (a !== b) {
        throw new Error(`${apiVersion} ${kind}: the package says ${a}, the rebuilt schema ${b} for\n${JSON.stringify(x)}\n${JSON.stringify(theirs.errors ?? ours.errors)}`);
      }
    }
  }
  const [group, version] = apiVersion.split("/");
  out[`${group}_${version}_${kind}.json`] = schema;
  process.stderr.write(`${apiVersion} ${kind}: ${objs.length} samples\n`);
}

// Every type module reached: its own validator and its rebuilt schema agree on probes.
for (const [file, schema] of moduleSchemas) {
  if (recursive.has(file)) continue;
  const theirs = (await import(pathToFileURL(file))).validate;
  const ours = ajv.compile(schema);
  for (const v of probes(schema)) {
    compared++;
    if (theirs(v) !== ours(v)) throw new Error(`${path.basename(file)}: disagree on ${JSON.stringify(v)}`);
  }
}

// Every property of the TypeScript declarations is in the rebuilt schema.
let declared = 0;
for (const [file, schema] of moduleSchemas) {
  const m = load(file);
  const pkgDir = file.slice(0, file.indexOf("/_schemas/"));
  // The model's declaration lives beside the package's index under a path we
  // find by the exported alias name.
  const alias = `I${m.name}`;
  const dts = findDeclaration(pkgDir, alias);
  if (!dts) continue;
  const iface = dts.text.match(/export interface (\w+) \{([\s\S]*?)\n\}/);
  if (!iface) continue;
  for (const pm of iface[2].matchAll(/^ {4}"([^"]+)"(\??):/gm)) {
    declared++;
    if (!schema.properties || !(pm[1] in schema.properties)) {
      throw new Error(`${m.name}: the declarations list "${pm[1]}", the rebuilt schema does not`);
    }
  }
}

function findDeclaration(pkgDir, alias) {
  findDeclaration.index ??= new Map();
  if (!findDeclaration.index.has(pkgDir)) {
    const idx = new Map();
    (function scan(d) {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory() && e.name !== "_schemas" && e.name !== "node_modules") scan(p);
        else if (e.name.endsWith(".d.ts")) {
          const text = fs.readFileSync(p, "utf8");
          for (const a of text.matchAll(/export type \{ (\w+) as (\w+),/g)) idx.set(a[2], { file: p, text });
        }
      }
    })(pkgDir);
    findDeclaration.index.set(pkgDir, idx);
  }
  return findDeclaration.index.get(pkgDir).get(alias);
}

process.stderr.write(`checked: ${compared} verdicts agree, ${moduleSchemas.size} types, ${declared} declared properties present\n`);
// The packages whose schemas went into the output.
const used = new Set();
for (const file of moduleSchemas.keys()) {
  const rel = path.relative(nm, file).split(path.sep);
  used.add(rel[0].startsWith("@") ? `${rel[0]}/${rel[1]}` : rel[0]);
}
process.stdout.write(JSON.stringify({ schemas: out, packages: [...used].sort() }));
