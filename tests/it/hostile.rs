//! The bad-input suite (SECURITY.md): hostile or broken repositories,
//! revisions, output directories and faults. Every case starts from the tiny
//! fleet in `cases/_base/`, rendered once into `out/` (the previous output),
//! then breaks one thing and runs fleetc again. Each case asserts:
//!
//! - the exit code (2 for bad input or a refused operation; 3 for an I/O
//!   fault), never a panic (101) or a signal;
//! - that fleetc finished within a bounded time (a hang guard: the child is
//!   killed after [`HANG`]; this is not a speed test);
//! - that stderr names the file (or flag) at fault;
//! - that the previous output is untouched, byte for byte, and nothing else
//!   (staging or temp directories) is left next to it;
//! - that no secret value and no content of a file outside the repository
//!   appears on stdout or stderr (every secret and outside file carries a
//!   canary string).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// Every secret value and outside file in these cases contains this.
const CANARY: &str = "CANARY-7f3a";
/// A run that takes longer is a hang (fleetc takes well under a second on these).
const HANG: Duration = Duration::from_secs(60);

type Setup = Box<dyn Fn(&Path, &Path)>;

struct Case {
    name: &'static str,
    /// Files written into the repository (relative path, content).
    write: Vec<(&'static str, Vec<u8>)>,
    /// Files removed from the repository.
    delete: Vec<&'static str>,
    /// Anything else (links, FIFOs, git objects): (tmp, repo).
    setup: Option<Setup>,
    /// Arguments, run in the repository; default `render . -o ../out`.
    args: Vec<String>,
    /// Text stderr must contain: the file or flag at fault.
    names: &'static str,
    /// The diagnostic code stderr must show (`error[code]`), when set.
    diag: Option<&'static str>,
    /// More text stderr must contain (e.g. the `--limit` that raises a budget).
    mentions: Vec<&'static str>,
    /// The exit code expected.
    code: i32,
    /// The repository is a git repository with the base committed.
    git: bool,
    /// Shell prefix (e.g. `ulimit -f 8;`) for fault cases; run through `sh -c`.
    shell: Option<&'static str>,
}

fn case(name: &'static str, names: &'static str) -> Case {
    Case {
        name,
        write: Vec::new(),
        delete: Vec::new(),
        setup: None,
        args: vec!["render".into(), ".".into(), "-o".into(), "../out".into()],
        names,
        diag: None,
        mentions: Vec::new(),
        code: 2,
        git: false,
        shell: None,
    }
}

impl Case {
    fn file(mut self, path: &'static str, text: impl Into<Vec<u8>>) -> Self {
        self.write.push((path, text.into()));
        self
    }
    fn delete(mut self, path: &'static str) -> Self {
        self.delete.push(path);
        self
    }
    fn setup(mut self, f: impl Fn(&Path, &Path) + 'static) -> Self {
        self.setup = Some(Box::new(f));
        self
    }
    fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }
    /// The diagnostic code expected.
    fn diag(mut self, code: &'static str) -> Self {
        self.diag = Some(code);
        self
    }
    fn git(mut self) -> Self {
        self.git = true;
        self
    }
    fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
    fn shell(mut self, prefix: &'static str) -> Self {
        self.shell = Some(prefix);
        self
    }
    fn mentions(mut self, text: &'static str) -> Self {
        self.mentions.push(text);
        self
    }
}

/// A cluster file with one line replaced by `line` (the rest stays valid).
fn cluster_a(extra: &str) -> String {
    format!(
        "apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: a\n  labels: {{env: prod, region: eu}}\nspec:\n  owner: team-a\n  kubernetesVersion: \"1.30.1\"\n{extra}"
    )
}

/// A template next to the base's `app.yaml.j2`.
const TPL: &str = "components/web/templates/extra.yaml.j2";
/// A plain manifest next to it.
const MANIFEST: &str = "components/web/templates/extra.yaml";

fn secret(body: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: web\n{body}")
}

fn symlink(target: &str, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

fn sh(cmd: &str, cwd: &Path) -> String {
    let o = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(cwd)
        .output()
        .expect("sh");
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Commit HEAD's tree with one more entry in `clusters/` (`mode type id\tname`
/// as `git mktree` reads it), on the branch `hostile`.
fn hostile_commit(repo: &Path, entry: &str) {
    let clusters = sh("git ls-tree HEAD:clusters", repo);
    let sub = sh(
        &format!("printf '%s\\n%s\\n' \"{clusters}\" \"{entry}\" | git mktree"),
        repo,
    );
    let root = sh("git ls-tree HEAD", repo)
        .lines()
        .map(|l| {
            if l.ends_with("\tclusters") {
                format!("040000 tree {sub}\tclusters")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let tree = sh(&format!("printf '%s\\n' \"{root}\" | git mktree"), repo);
    let commit = sh(&format!("git commit-tree {tree} -p HEAD -m hostile"), repo);
    sh(&format!("git update-ref refs/heads/hostile {commit}"), repo);
}

fn blob(repo: &Path, text: &str) -> String {
    sh(
        &format!("printf '%s' '{text}' | git hash-object -w --stdin"),
        repo,
    )
}

fn cases() -> Vec<Case> {
    let bomb = {
        let mut s = String::from("apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: bomb\nspec:\n  clusters: [a]\n  vars:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            s.push_str(&format!(
                "    a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        s
    };
    let many_aliases = {
        let mut s = String::from("apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: many\nspec:\n  clusters: [a]\n  vars:\n    one: &one 1\n    list:\n");
        for _ in 0..10_001 {
            s.push_str("    - *one\n");
        }
        s
    };
    let deep = format!(
        "{}\n",
        cluster_a(&format!(
            "  vars: {{deep: {}{}}}",
            "[".repeat(300),
            "]".repeat(300)
        ))
    );
    let many_docs = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n".repeat(10_001);
    let outside_cluster = "../../outside/credentials.yaml";
    vec![
        // ---- parsing ----
        case("yaml syntax error", "clusters/a.yaml")
            .file("clusters/a.yaml", cluster_a("  vars: [unclosed\n")),
        case("yaml alias bomb", "groups/bomb.yaml").file("groups/bomb.yaml", bomb),
        case("yaml alias count over budget", "groups/many.yaml")
            .file("groups/many.yaml", many_aliases),
        case("yaml nested too deep", "clusters/a.yaml").file("clusters/a.yaml", deep),
        case("yaml too many documents", MANIFEST).file(MANIFEST, many_docs),
        case("yaml duplicate key", "clusters/a.yaml")
            .file("clusters/a.yaml", cluster_a("  owner: team-b\n")),
        case("yaml custom tag", "clusters/a.yaml").file(
            "clusters/a.yaml",
            cluster_a("  vars: {x: !!python/object/apply:os.system [\"id\"]}\n"),
        ),
        case("not utf-8", "clusters/a.yaml").file("clusters/a.yaml", {
            let mut b = cluster_a("  vars: {x: \"").into_bytes();
            b.extend_from_slice(&[0xff, 0xfe, b'"', b'}', b'\n']);
            b
        }),
        case("nul byte", "clusters/a.yaml").file("clusters/a.yaml", {
            let mut b = cluster_a("").into_bytes();
            b.extend_from_slice(b"  vars: {x: a\0b}\n");
            b
        }),
        case("tab indentation", "clusters/a.yaml")
            .file("clusters/a.yaml", cluster_a("\tvars: {x: 1}\n")),
        case("complex mapping key", "clusters/a.yaml")
            .file("clusters/a.yaml", cluster_a("  vars:\n    ? [a, b]\n    : c\n")),
        case("file over the size budget", "clusters/a.yaml")
            .file("clusters/a.yaml", cluster_a(&format!("  vars: {{pad: \"{}\"}}\n", "x".repeat(4000))))
            .args(&["--limit", "file-bytes=2000", "render", ".", "-o", "../out"]),
        case("repository over the total budget", "clusters/")
            .args(&["--limit", "total-bytes=600", "render", ".", "-o", "../out"]),
        case("unknown budget name", "--limit")
            .args(&["--limit", "yaml-nodez=5", "render", ".", "-o", "../out"]),
        // ---- schema and names ----
        case("unknown field", "clusters/a.yaml")
            .file("clusters/a.yaml", cluster_a("  ownr: team-b\n")),
        case("wrong kind for directory", "clusters/x.yaml").file(
            "clusters/x.yaml",
            "apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata: {name: x}\nspec: {clusters: [a]}\n",
        ),
        case("cluster name with path traversal", "clusters/a.yaml").file(
            "clusters/a.yaml",
            cluster_a("").replace("name: a\n", "name: ../../etc\n"),
        ),
        case("cluster name upper case", "clusters/a.yaml")
            .file("clusters/a.yaml", cluster_a("").replace("name: a\n", "name: A\n")),
        case("cluster name too long", "clusters/a.yaml").file(
            "clusters/a.yaml",
            cluster_a("").replace("name: a\n", &format!("name: {}\n", "a".repeat(300))),
        ),
        case("component name with a slash", "components/web/component.yaml").file(
            "components/web/component.yaml",
            "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: web/../../x\nspec:\n  namespace: web\n",
        ),
        case("unknown apiVersion", "clusters/a.yaml").file(
            "clusters/a.yaml",
            cluster_a("").replace("fleetc.dev/v1alpha1", "fleetc.dev/v9"),
        ),
        case("missing fleet.yaml", "fleet.yaml").delete("fleet.yaml"),
        case("placement of an unknown component", "placements/x.yaml").file(
            "placements/x.yaml",
            "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata: {name: x}\nspec:\n  component: nope\n  target: {all: true}\n",
        ),
        case("group cycle", "groups/").file(
            "groups/g1.yaml",
            "apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata: {name: g1}\nspec: {groups: [g2]}\n",
        ).file(
            "groups/g2.yaml",
            "apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata: {name: g2}\nspec: {groups: [g1]}\n",
        ),
        case("clusters x components over budget", "fleet.yaml")
            .args(&["--limit", "cluster-units=2", "render", ".", "-o", "../out"]),
        case("resource name with path traversal", MANIFEST).file(
            MANIFEST,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ../../../etc/passwd}\n",
        ),
        case("resource namespace with path traversal", MANIFEST).file(
            MANIFEST,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ../..}\n",
        ),
        case("resource kind with path traversal", MANIFEST).file(
            MANIFEST,
            "apiVersion: v1\nkind: ../../X\nmetadata: {name: x}\n",
        ),
        // ---- templates ----
        case("template syntax error", TPL).file(TPL, "a: {{ values.replicas \n"),
        case("template undefined value", TPL).file(
            TPL,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"{{ values.nope.deeper }}\"}\n",
        ),
        case("template include outside the component", TPL)
            .file(TPL, "{% include \"../../../../outside/credentials.yaml\" %}\n"),
        case("template include absolute path", TPL).file(TPL, "{% include \"/etc/passwd\" %}\n"),
        case("template import from /proc", TPL)
            .file(TPL, "{% import \"/proc/self/environ\" as e %}\n"),
        case("template extends outside", TPL)
            .file(TPL, "{% extends \"../../../../../../etc/passwd\" %}\n"),
        case("template recursion", TPL).file(
            TPL,
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}\n",
        ),
        case("template runaway loop", TPL).file(
            TPL,
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
        ),
        case("template output over budget", "components/web/templates/app.yaml.j2")
            // An input change too: an unchanged fleet is up to date and not rendered again.
            .file("components/web/templates/app.yaml.j2", format!("{}# changed\n", include_str!("cases/_base/components/web/templates/app.yaml.j2")))
            .args(&["--limit", "template-output-bytes=64", "render", ".", "-o", "../out"])
            .mentions("--limit template-output-bytes=N"),
        // The budget holds while the template runs: under a 2 GiB address
        // space, printing 4 GiB aborted the process before the check after
        // rendering was reached.
        case("template prints 64 strings of 64 MiB (2 GiB address space)", TPL)
            .file(TPL, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n{% for i in range(64) %}\n  k{{ i }}: {{ \"x\" * 67108864 }}\n{% endfor %}\n")
            .shell("ulimit -v 2097152;")
            .mentions("--limit template-output-bytes=N"),
        case("template prints 4,096 strings of 1 MiB (2 GiB address space)", TPL)
            .file(TPL, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n{% set big = \"x\" * 1048576 %}\n{% for i in range(4096) %}\n  k{{ i }}: {{ big }}\n{% endfor %}\n")
            .shell("ulimit -v 2097152;")
            .mentions("--limit template-output-bytes=N"),
        case("template repeats its own text 4,096 times (2 GiB address space)", TPL)
            .file(TPL, format!("{{% for i in range(4096) %}}\n# {}\n{{% endfor %}}\n", "x".repeat(1 << 20)))
            .shell("ulimit -v 2097152;")
            .mentions("--limit template-output-bytes=N"),
        case("value with a line break placed raw", TPL)
            .file("clusters/a.yaml", cluster_a("  vars: {banner: \"x\\n---\\napiVersion: v1\\nkind: Secret\"}\n"))
            .file(TPL, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  banner: {{ vars.banner }}\n"),
        case("value with a carriage return placed raw", TPL)
            .file("clusters/a.yaml", cluster_a("  vars: {banner: \"x\\r---\\rapiVersion: v1\\rkind: Secret\"}\n"))
            .file(TPL, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  banner: {{ vars.banner }}\n"),
        case("value with a unicode line separator placed raw", TPL)
            .file("clusters/a.yaml", cluster_a("  vars: {banner: \"x\\L---\\Lkind: Secret\"}\n"))
            .file(TPL, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  banner: {{ vars.banner }}\n"),
        case("template reads the environment", TPL).file(
            TPL,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {home: \"{{ env.HOME }}\"}\n",
        ),
        case("template asks for the clock", TPL).file(
            TPL,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {now: \"{{ now() }}\"}\n",
        ),
        case("template asks for debug()", TPL).file(
            TPL,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {d: \"{{ debug() }}\"}\n",
        ),
        // Found by fuzzing (fuzz/README.md): minijinja 3.0.5's code
        // generator panics on a filter after `import ... as`.
        case("template that crashes the template engine", TPL)
            .file(TPL, "{% import \"_helpers.j2\" as h| safe %}\n")
            .file("components/web/templates/_helpers.j2", "{% macro m() %}x{% endmacro %}\n"),
        // Found by fuzzing: a huge width allocated without bound (abort).
        case("template indents by a huge width", TPL).file(
            TPL,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: {{ \"x\" | indent(577777777777777770) }}\n  b: {{ \"x\" | nindent(99999) }}\n",
        ),
        case("template renders a scalar", TPL).file(TPL, "just text {{ values.replicas }}\n"),
        case("template renders an object without a name", TPL)
            .file(TPL, "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"),
        // ---- file system ----
        case("symlink to a file outside", "clusters/evil.yaml")
            .diag("link-outside-repository")
            .setup(move |_, repo| symlink(outside_cluster, &repo.join("clusters/evil.yaml"))),
        case("symlink to a directory outside", "components/evil")
            .diag("link-outside-repository").setup(|_, repo| {
            symlink("../../outside", &repo.join("components/evil"))
        }),
        case("absolute symlink", "clusters/passwd.yaml")
            .diag("link-outside-repository")
            .setup(|_, repo| symlink("/etc/passwd", &repo.join("clusters/passwd.yaml"))),
        case("symlink loop", "clusters/loop")
            .diag("link-outside-repository")
            .setup(|_, repo| symlink("loop", &repo.join("clusters/loop"))),
        case("dangling symlink", "clusters/gone.yaml")
            .diag("link-outside-repository")
            .setup(|_, repo| symlink("nowhere.yaml", &repo.join("clusters/gone.yaml"))),
        case("fifo", "clusters/fifo.yaml")
            .setup(|_, repo| {
                sh("mkfifo clusters/fifo.yaml", repo);
            }),
        case("unix socket", "clusters/sock.yaml").setup(|_, repo| {
            let l = std::os::unix::net::UnixListener::bind(repo.join("clusters/sock.yaml"))
                .expect("bind");
            std::mem::forget(l);
        }),
        case("output is the repository", "refusing")
            .args(&["render", ".", "-o", "."]),
        case("output is the file system root", "refusing")
            .args(&["render", ".", "-o", "/"]),
        case("output contains the repository", "refusing")
            .args(&["render", ".", "-o", ".."]),
        case("output was not created by fleetc", "refusing")
            .args(&["render", ".", "-o", "../outside"]),
        case("output is a symbolic link", "refusing")
            .diag("output-refused")
            .setup(|tmp, _| symlink("out", &tmp.join("link")))
            .args(&["render", ".", "-o", "../link"]),
        case("output inside the previous output", "refusing")
            .args(&["render", ".", "-o", "../out/clusters"]),
        case("new output inside the previous output", "refusing")
            .args(&["render", ".", "-o", "../out/new/deeper"]),
        // ---- git ----
        case("revision that is an option", "--upload-pack")
            .git()
            .args(&["render", ".", "--rev", "--upload-pack=touch ../pwned", "-o", "../out"]),
        case("revision far beyond history", "HEAD~99999999")
            .diag("invalid-revision")
            .git()
            .args(&["render", ".", "--rev", "HEAD~99999999", "-o", "../out"]),
        case("revision string too long", "revision")
            .git()
            .setup(|_, _| {})
            .args(&["render", ".", "--rev", &"a".repeat(100_000), "-o", "../out"]),
        case("revision that names a path", "revision")
            .git()
            .args(&["render", ".", "--rev", "HEAD:../../etc", "-o", "../out"]),
        case("diff base that is an option", "--upload-pack")
            .git()
            .args(&["diff", ".", "--base=--upload-pack=touch ../pwned"]),
        case("tree entry named ..", "..")
            .diag("hostile-tree-entry").git().setup(|_, repo| {
            let t = sh("git ls-tree HEAD:clusters | head -1 | cut -f1 | cut -d' ' -f3", repo);
            hostile_commit(repo, &format!("100644 blob {t}\t.."));
        }).args(&["render", ".", "--rev", "hostile", "-o", "../out"]),
        case("tree entry named .git", ".git")
            .diag("hostile-tree-entry").git().setup(|_, repo| {
            let b = blob(repo, "[core]\\n\\tfsmonitor = touch ../pwned\\n");
            hostile_commit(repo, &format!("100644 blob {b}\t.git"));
        }).args(&["render", ".", "--rev", "hostile", "-o", "../out"]),
        case("tree entry named .GIT", ".GIT")
            .diag("hostile-tree-entry").git().setup(|_, repo| {
            let b = blob(repo, "x");
            hostile_commit(repo, &format!("100644 blob {b}\t.GIT"));
        }).args(&["render", ".", "--rev", "hostile", "-o", "../out"]),
        case("symlink blob leaving the tree", "clusters/evil.yaml")
            .diag("link-outside-repository").git().setup(|_, repo| {
            let b = blob(repo, "../../outside/credentials.yaml");
            hostile_commit(repo, &format!("120000 blob {b}\tevil.yaml"));
        }).args(&["render", ".", "--rev", "hostile", "-o", "../out"]),
        case("gitlink (submodule)", "clusters/sub")
            .diag("hostile-tree-entry").git().setup(|_, repo| {
            let head = sh("git rev-parse HEAD", repo);
            hostile_commit(repo, &format!("160000 commit {head}\tsub"));
        }).args(&["render", ".", "--rev", "hostile", "-o", "../out"]),
        // ---- secrets ----
        case("plaintext Secret", MANIFEST)
            .file(MANIFEST, secret(&format!("stringData: {{password: {CANARY}}}\n"))),
        // The error names the keys, never their values (each a canary).
        case("plaintext Secret with many keys", MANIFEST)
            .file(MANIFEST, secret(&format!(
                "data:\n  token: Q0FOQVJZLTdmM2E=\nstringData:\n{}",
                (0..10).map(|i| format!("  key-{i}: {CANARY}-{i}\n")).collect::<String>()
            )))
            .mentions("has plaintext `data`: key `token` (values hidden)")
            .mentions("has plaintext `stringData`: keys `key-0`, `key-1`, `key-2`, `key-3`, `key-4`, `key-5`, `key-6`, `key-7`, and 2 more (values hidden)"),
        case("Secret with a syntax error on its value line", MANIFEST)
            .file(MANIFEST, secret(&format!("stringData:\n  password: \"{CANARY}\n"))),
        case("Secret with a duplicate key", MANIFEST).file(
            MANIFEST,
            secret(&format!("stringData:\n  password: {CANARY}\n  password: {CANARY}-2\n")),
        ),
        case("Secret template with an undefined value", "secret.yaml.j2").file(
            "components/web/templates/secret.yaml.j2",
            secret(&format!("stringData:\n  password: \"{CANARY}{{{{ values.nope.deeper }}}}\"\n")),
        ),
        case("Secret with last-applied-configuration", MANIFEST).file(
            MANIFEST,
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: web\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{{\"stringData\":{{\"password\":\"{CANARY}\"}}}}'\ndata: {{password: Q0FOQVJZLTdmM2E=}}\n"
            ),
        ),
        case("Secret inside kind: List", MANIFEST).file(
            MANIFEST,
            format!(
                "apiVersion: v1\nkind: List\nmetadata: {{name: bundle}}\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: db, namespace: web}}\n  stringData: {{password: {CANARY}}}\n"
            ),
        ),
        case("Secret data that is not base64", MANIFEST)
            .file(MANIFEST, secret(&format!("data: {{password: \"{CANARY}!!\"}}\n"))),
        case("invalid Secret (a list for data)", MANIFEST)
            .file(MANIFEST, secret(&format!("data: [{CANARY}]\n"))),
        // ---- faults while writing ----
        case("write error (file size limit)", "out")
            .diag("io-error")
            .file("groups/prod.yaml", "apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: prod\nspec:\n  selector:\n    matchLabels: {env: prod}\n  values:\n    web: {replicas: 4}\n")
            .shell("trap '' XFSZ; ulimit -f 1;")
            .code(3),
    ]
}

/// Run fleetc (through `sh -c` when `shell` is given) with a hang guard.
fn run(args: &[String], cwd: &Path, shell: Option<&str>) -> (i32, String, String) {
    let bin = env!("CARGO_BIN_EXE_fleetc");
    let mut cmd = match shell {
        Some(prefix) => {
            let quoted: Vec<String> = args
                .iter()
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect();
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("{prefix} exec '{bin}' {}", quoted.join(" ")));
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.args(args);
            c
        }
    };
    let child = cmd
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fleetc");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(o) => {
            let o = o.expect("wait");
            let code = o.status.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                -o.status.signal().unwrap_or(0)
            });
            (code, text(&o.stdout), text(&o.stderr))
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("fleetc {args:?} did not finish within {HANG:?}");
        }
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Set up `tmp/repo` (the base fleet, maybe committed), `tmp/outside`
/// (files outside the repository, with the canary) and `tmp/out` (the
/// previous output).
fn prepare(tmp: &Path, git: bool) -> (PathBuf, BTreeMap<String, Vec<u8>>) {
    let repo = tmp.join("repo");
    copy_dir(&root().join("tests/it/cases/_base"), &repo);
    let outside = tmp.join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(
        outside.join("credentials.yaml"),
        format!("apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {CANARY}\nspec: {{owner: {CANARY}}}\n"),
    )
    .expect("write");
    let o = fleetc(&["render", ".", "-o", "../out"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    if git {
        sh(
            "git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm base",
            &repo,
        );
    }
    (repo, read_tree(&tmp.join("out")))
}

#[test]
fn every_bad_input_is_refused_cleanly() {
    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, before) = prepare(tmp.path(), c.git);
        for p in &c.delete {
            std::fs::remove_file(repo.join(p)).expect("delete");
        }
        for (p, bytes) in &c.write {
            let f = repo.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, bytes).expect("write");
        }
        if let Some(s) = &c.setup {
            s(tmp.path(), &repo);
        }
        let listed = listing(tmp.path());
        let (got, stdout, stderr) = run(&c.args, &repo, c.shell);
        let mut why = Vec::new();
        if got != c.code {
            why.push(format!("exit {got}, expected {}", c.code));
        }
        if stderr.contains("panicked") {
            why.push("panicked".into());
        }
        if let Some(d) = c.diag {
            if !stderr.contains(&format!("[{d}]")) {
                why.push(format!("stderr does not show the code `{d}`"));
            }
        }
        if !stderr.contains(c.names) {
            why.push(format!("stderr does not name `{}`", c.names));
        }
        for m in &c.mentions {
            if !stderr.contains(m) {
                why.push(format!("stderr does not mention `{m}`"));
            }
        }
        if stdout.contains(CANARY) || stderr.contains(CANARY) {
            why.push("a secret or an outside file's content was printed".into());
        }
        let out = tmp.path().join("out");
        if read_tree(&out) != before || !out.join(".fleetc-output").is_file() {
            why.push("the previous output changed".into());
        }
        if listing(tmp.path()) != listed {
            why.push(format!(
                "files were left next to the output: {:?} (before: {listed:?})",
                listing(tmp.path())
            ));
        }
        if tmp.path().join("pwned").exists() || repo.join("pwned").exists() {
            why.push("a command named in the input ran".into());
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}\n{stderr}", c.name, why.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A run killed while writing (the file size limit's signal) leaves the
/// previous output complete; the next run clears what it left and converges
/// on the tree a clean run writes.
#[test]
fn a_killed_run_leaves_the_output_whole_and_the_next_run_converges() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, before) = prepare(tmp.path(), false);
    let prod = repo.join("groups/prod.yaml");
    let old = std::fs::read_to_string(&prod).expect("read");
    std::fs::write(&prod, old.replace("replicas: 3", "replicas: 4")).expect("write");
    let args: Vec<String> = ["render", ".", "-o", "../out"].map(String::from).to_vec();
    let (got, _, _) = run(&args, &repo, Some("ulimit -f 1;"));
    assert!(got < 0, "expected a kill by SIGXFSZ, got exit {got}");
    assert_eq!(read_tree(&tmp.path().join("out")), before, "output changed");
    let (got, _, stderr) = run(&args, &repo, None);
    assert_eq!(got, 0, "{stderr}");
    assert_eq!(listing(tmp.path()), ["out", "outside", "repo"], "leftovers");
    let fresh = tmp.path().join("fresh");
    let o = fleetc(&["render", ".", "-o", "../fresh"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(read_tree(&tmp.path().join("out")), read_tree(&fresh));
    assert_ne!(
        read_tree(&fresh),
        before,
        "the input change changes the output"
    );
}

/// A link planted inside the previous output is replaced, never written
/// through: the directory it points to is untouched.
#[test]
fn links_planted_in_the_output_are_not_followed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, _) = prepare(tmp.path(), false);
    let victim = tmp.path().join("outside");
    let out = tmp.path().join("out");
    let a = out.join("clusters/a");
    std::fs::rename(&a, tmp.path().join("moved")).expect("move");
    symlink("../../outside", &a);
    let before = read_tree(&victim);
    let prod = repo.join("groups/prod.yaml");
    let old = std::fs::read_to_string(&prod).expect("read");
    std::fs::write(&prod, old.replace("replicas: 3", "replicas: 4")).expect("write");
    let o = fleetc(&["render", ".", "-o", "../out"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(read_tree(&victim), before, "written through the link");
    assert!(
        !std::fs::symlink_metadata(&a)
            .expect("clusters/a")
            .file_type()
            .is_symlink(),
        "the link is still there"
    );
}

/// Secrets a fleet allows in plain text are still never shown: not by
/// explain, diff, or report.
#[test]
fn allowed_plaintext_secrets_are_never_shown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, _) = prepare(tmp.path(), true);
    let component = repo.join("components/web/component.yaml");
    let old = std::fs::read_to_string(&component).expect("read");
    std::fs::write(
        &component,
        old.replace(
            "namespace: web\n",
            "namespace: web\n  allowPlaintextSecrets: true\n",
        ),
    )
    .expect("write");
    std::fs::write(
        repo.join(MANIFEST),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: web\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{{\"stringData\":{{\"password\":\"{CANARY}\"}}}}'\nstringData: {{password: {CANARY}}}\n"
        ),
    )
    .expect("write");
    sh(
        "git add -A && git -c user.name=t -c user.email=t@t commit -qm secret",
        &repo,
    );
    for args in [
        vec!["diff", ".", "--base", "HEAD~1", "--head", "HEAD"],
        vec![
            "diff", ".", "--base", "HEAD~1", "--head", "HEAD", "--format", "markdown",
        ],
        vec![
            "diff", ".", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
        vec!["explain", ".", "a"],
        vec!["explain", ".", "a", "--component", "web"],
        vec!["report", ".", "--format", "json"],
        vec!["report", ".", "--format", "html"],
        vec!["validate", "."],
    ] {
        let o = fleetc(&args, &repo);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert!(
            [0, 1].contains(&code(&o)),
            "{args:?}: exit {}\n{err}",
            code(&o)
        );
        assert!(
            !out.contains(CANARY) && !err.contains(CANARY),
            "{args:?} printed a secret value:\n{out}\n{err}"
        );
    }
}
