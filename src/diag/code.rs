//! Diagnostic codes: every diagnostic has one, printed as `error[code]:`.
//!
//! Codes are readable kebab-case names, stable across releases: a user can
//! look one up (`docs/diagnostics.md`), a CI annotation or SARIF rule is
//! keyed by it, and a test can name the kind of error it expects. A code
//! names a kind of problem, not a message: messages may change, codes do not
//! (a retired code is never reused).

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $summary:literal, $fix:literal; )*) => {
        /// The kind of a diagnostic (see the module docs).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in declaration order (by stage).
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed: `error[<name>]`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// One line on what the code means (SARIF rule, docs index).
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }

            /// How to fix it, in a sentence or two (docs, SARIF rule help).
            pub fn fix(self) -> &'static str {
                match self { $(Code::$variant => $fix,)* }
            }

            /// The code named `name`.
            pub fn from_name(name: &str) -> Option<Code> {
                match name { $($name => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    // The command line, files and git.
    Usage = "usage", "a command-line argument or flag value is not valid",
        "Check the flag against `fleetc --help` / `fleetc COMMAND --help`; the message names the flag and, for a misspelt name, the closest valid one.";
    Io = "io-error", "a file could not be read or written",
        "Check permissions and free space on the path named; fleetc leaves the previous output untouched, so re-running after the fix is safe.";
    FileTooLarge = "file-too-large", "an input file, or all inputs together, exceed the size budget",
        "Split the file, or raise the budget with `--limit file-bytes=N` (one file) or `--limit total-bytes=N` (the whole repository) if the size is intended.";
    LinkOutside = "link-outside-repository", "a symbolic link leads outside the fleet repository, nowhere, or in a loop",
        "Replace the link with the file itself, or point it at a file inside the fleet repository; links are followed only inside it.";
    FileLayout = "file-layout", "a file or directory where the fleet layout has no place for it",
        "Move the file to where its kind belongs (clusters/, groups/, components/NAME/, policies/NAME/, placements/), or remove it; the help line names the expected place.";
    UnsupportedFile = "unsupported-file", "a path that fleetc cannot read as fleet input (not UTF-8, not a regular file)",
        "Save the file as UTF-8, rename it to valid UTF-8, or remove the special file (FIFO, socket, device).";
    Git = "git-error", "git could not read or write the repository",
        "Run fleetc inside a git work tree (not a bare repository) and check that the repository is readable.";
    InvalidRevision = "invalid-revision", "a revision that git cannot resolve to a commit",
        "Give a commit, branch, tag or expression that `git rev-parse` accepts, e.g. `HEAD~1` or `origin/main`; fetch the branch first in shallow CI clones.";
    HostileTree = "hostile-tree-entry", "a git tree holds an entry no checkout could hold",
        "Remove the entry (`..`, `.git`, a submodule, a link leaving the tree) from the fleet's history; fleetc refuses to read a tree no checkout could hold.";
    OutputRefused = "output-refused", "fleetc refuses to write the output directory",
        "Render into a directory of its own (e.g. `-o out/`), or into one fleetc rendered before (it carries fleetc's marker file).";
    PublishRefused = "publish-refused", "publish would move the rendered branch backwards or to an invalid name",
        "Publish the newer source instead, or pass `--force` if moving the rendered branch back is intended; branch names follow git's rules.";
    ShardMismatch = "shard-mismatch", "the shard outputs given to merge are not exactly the shards of this fleet, rendered from the same inputs",
        "Give every shard's directory once (`--from shard-1 --from shard-2 ...`), each rendered with `fleetc render --shard K/N` from the same revision, fleetc version and options as the merge.";
    PromoteRefused = "promote-refused", "the rollout cannot be advanced",
        "Check the placement's name and that it has a `rollout` with waves left to promote.";
    UnknownName = "unknown-name", "a cluster, component or policy named on the command line does not exist",
        "Use a name that exists (the help line suggests the closest one); `fleetc report` lists clusters and components.";
    ClusterUnitsBudget = "cluster-units-budget", "the fleet resolves to more (cluster, unit) pairs than the budget allows",
        "If the fleet really is this large, raise the budget with `--limit cluster-units=N`; otherwise look for a generated fleet that grew by mistake.";

    // YAML.
    YamlSyntax = "yaml-syntax", "the file is not valid YAML",
        "Fix the YAML at the position shown (indentation, an unclosed quote or bracket, a tab).";
    YamlDuplicateKey = "yaml-duplicate-key", "a mapping has the same key twice",
        "Remove one of the two keys; YAML readers disagree on which one wins, so fleetc accepts neither.";
    YamlTag = "yaml-tag", "a custom or invalid YAML tag",
        "Remove the tag, or write the value in plain YAML (quote it to keep it a string).";
    YamlMergeKey = "yaml-merge-key", "YAML merge keys (`<<`) are not supported",
        "Write the merged keys out in full; Kubernetes' own YAML readers disagree on merge keys.";
    YamlComplexKey = "yaml-complex-key", "a mapping key that is a list or mapping",
        "Use a plain scalar (a string or number) as the key.";
    YamlAlias = "yaml-alias", "an alias to an unknown anchor, or more aliases than the budget",
        "Define the anchor (`&name`) before the alias (`*name`), or raise `--limit yaml-aliases=N` if the file really needs that many.";
    YamlBudget = "yaml-budget", "the file nests too deep, has too many nodes or too many documents",
        "Flatten the structure or split the file; raise `--limit yaml-depth=N`, `yaml-nodes=N` or `yaml-documents=N` only for input you trust.";
    YamlDocuments = "yaml-documents", "a fleet file holds more than one YAML document",
        "Keep one object per fleet file; put the second object into its own file.";

    // Fleet files: kinds and schemas.
    MissingFleet = "missing-fleet", "the repository has no fleet.yaml",
        "Run fleetc at the root of the fleet repository, which holds `fleet.yaml` (kind: Fleet).";
    WrongKind = "wrong-kind", "a fleet file is empty, not a mapping, or of another kind or apiVersion than its directory holds",
        "Use `apiVersion: fleetc.dev/v1alpha1` and the kind of the directory the file is in (clusters/ holds Cluster objects, and so on).";
    NameMismatch = "name-mismatch", "metadata.name differs from the file name",
        "Rename the file or change `metadata.name` so that they agree (`clusters/prod-1.yaml` holds `name: prod-1`).";
    UnknownField = "unknown-field", "a field the kind's schema does not have",
        "Fix the spelling (the help line suggests the closest field) or remove the field; `fleetc schema KIND` prints every field.";
    MissingField = "missing-field", "a required field is missing",
        "Add the field; `fleetc schema KIND` shows what it holds.";
    InvalidType = "invalid-type", "a field has the wrong type",
        "Write the value with the type shown (quote a string that looks like a number, e.g. `\"1.30\"`).";
    InvalidValue = "invalid-value", "a field's value is not one the schema allows",
        "Use one of the values the message lists, or a value of the form it describes.";

    // References and structure.
    UnknownReference = "unknown-reference", "a reference to a cluster, group, component or policy that does not exist",
        "Fix the name (the help line suggests the closest one) or create the object it refers to.";
    DuplicateName = "duplicate-name", "two units share a name",
        "Rename the component or the policy: they share one namespace of names.";
    EmptySelector = "empty-selector", "a label selector or target that selects nothing or everything by accident",
        "Write `all: true` to select every cluster, or add matchLabels, matchExpressions, groups or clusters.";
    SelectorOperator = "selector-operator", "a matchExpressions operator with the wrong number of values",
        "`In` and `NotIn` need at least one value; `Exists` and `DoesNotExist` take none.";
    UnknownLabelKey = "unknown-label-key", "a selector uses a label key no cluster carries",
        "Fix the label key (the help line suggests a key clusters carry) or add the label to the clusters meant.";
    GroupWithoutMembers = "group-without-members", "a group with no selector, clusters or member groups",
        "Give the group a `selector`, a `clusters` list or member `groups`, or delete it.";
    GroupCycle = "group-cycle", "groups contain each other in a cycle",
        "Remove one of the memberships so that no group contains itself through others.";
    DependsOnCycle = "depends-on-cycle", "components depend on each other in a cycle",
        "Break the cycle: components must be installable in some order.";
    PolicyMisused = "policy-misused", "a Policy used where a component is expected (dependsOn, placements)",
        "Policies are placed by their own `target`, and `dependsOn` names components; reference a component, or drop the policy from the list.";
    HelmComponent = "helm-component", "a Helm component without a version or namespace, or with templates too",
        "Pin `spec.version` and set `spec.namespace`; move extra manifests to a component of their own that `dependsOn` the chart.";
    FormatRequirement = "format-requirement", "the output format needs something the fleet does not give (a repository URL, a server, no Helm in plain)",
        "Give the output format what it needs (`spec.output.repository` for flux and argocd, a `server` per cluster for argocd), or choose another format with `--format`.";
    SopsInArgoCd = "sops-in-argocd", "a SOPS-encrypted file that Argo CD would apply as it is",
        "Decrypt on the hub with a config management plugin (e.g. KSOPS), or use the flux format, whose Kustomizations decrypt SOPS.";
    InvalidDate = "invalid-date", "an exemption date that is not a calendar date",
        "Write the date as YYYY-MM-DD, the last day the exemption is valid.";
    RolloutWave = "rollout-wave", "a rollout with a duplicate wave, an untargeted wave before the last, or an unknown promoted wave",
        "Give each wave a unique name, a target for every wave but the last, and a `promotedThrough` that names a wave.";

    // Resolution.
    SelectsNothing = "selects-nothing", "a group, placement, customization, wave or policy that selects no cluster",
        "Check the selector against the clusters' labels (`fleetc explain CLUSTER` shows a cluster's labels and groups), or remove the object.";
    TooFewCandidates = "too-few-candidates", "numberOfClusters asks for more clusters than are candidates",
        "Lower `numberOfClusters`, or widen the target so that enough clusters are candidates.";
    TwoPlacements = "two-placements-one-cluster", "two placements put the same component on one cluster",
        "Make the placements' targets disjoint, or merge them into one placement with per-target values.";
    DependencyNotPlaced = "dependency-not-placed", "a component on a cluster depends on one that is not on it",
        "Place the dependency on the same clusters, or narrow this placement's target.";
    ClusterInNoWave = "cluster-in-no-wave", "a placement selects clusters that no rollout wave takes",
        "Add the clusters to a wave, or leave the last wave without a target so that it takes every remaining cluster.";
    LockedValue = "locked-value", "a layer changes or deletes a value a lower layer locked",
        "Change the value where it is locked, or remove the lock there; a lock makes the lower layer's value final.";
    EqualPriorityConflict = "equal-priority-conflict", "groups of equal priority set one value differently",
        "Give one group a higher `priority`, or set the value in only one of them.";
    ValuesSchema = "values-schema", "values that do not match the component's valuesSchema, or an invalid valuesSchema",
        "Fix the value to match the component's `valuesSchema`, or fix the schema itself (it must be a valid JSON Schema).";
    PolicyNotExemptible = "policy-not-exemptible", "an exemption names a policy that is not exemptible",
        "Remove the exemption, or mark the policy `exemptible: true` if exemptions are allowed for it.";
    ExemptionOrphan = "exemption-orphan", "an exemption that matches no cluster the policy applies to",
        "Fix the exemption's target so that it names clusters the policy applies to, or remove it.";
    ExemptionExpired = "exemption-expired", "an exemption whose expiry date has passed",
        "Renew the exemption with a new `expires` date (and approval), or remove it and fix the clusters.";

    // Templates and rendered objects.
    TemplateSyntax = "template-syntax", "a template that does not parse",
        "Fix the template syntax at the position shown (an unclosed `{% %}` block or `{{ }}` expression).";
    TemplateUndefined = "template-undefined", "a template reads a value that is not defined",
        "Test the value first (`{% if values.x is defined %}`), give a default (`| default(...)`), or set it in a layer.";
    TemplateNotFound = "template-not-found", "a template includes a template that does not exist or lies outside the component",
        "Include a template that exists in the component's templates/ (a `*.j2` partial), by a path inside the component.";
    TemplateMultilineValue = "template-multiline-value", "a raw value with line breaks printed into YAML",
        "Pass the string through `toyaml`, `tojson`, `quote`, `indent` or `nindent` so that it stays one YAML value.";
    TemplateBudget = "template-budget", "a template ran out of fuel, recursion depth or output bytes",
        "Look for a runaway loop or recursion; raise `--limit template-fuel=N`, `template-recursion=N` or `template-output-bytes=N` only for templates you trust.";
    TemplateError = "template-error", "a template failed while rendering",
        "Fix the expression at the position shown; the message says what the engine could not do.";
    RenderedYaml = "rendered-yaml", "a template's output is not valid YAML",
        "Fix the template so its output is valid YAML: check indentation around `{% %}` tags (`{%-`/`-%}` trim whitespace) and quote values (`| quote`, `| toyaml`).";
    NotAKubernetesObject = "not-a-kubernetes-object", "a rendered document without apiVersion, kind or metadata.name, or not a mapping",
        "Give every document `apiVersion`, `kind` and `metadata.name` (an empty document is fine).";
    KustomizationFile = "kustomization-file", "a kustomization.yaml among a component's templates",
        "fleetc does not read kustomizations: list the resources as templates of the component, and express overlays as placement targets with patches.";
    ListKind = "list-kind", "a `kind: List` document, which fleetc does not expand",
        "Write each item as its own YAML document, separated by `---`.";
    InvalidObjectField = "invalid-object-field", "an invalid kind, apiVersion, name, namespace, labels or annotations on a rendered object",
        "Use a valid kind, apiVersion, name and namespace, and mappings of strings for labels and annotations.";
    DuplicateResource = "duplicate-resource", "two objects with the same kind, namespace and name on one cluster, or one output path",
        "Rename one of the objects, or keep it in only one component placed on the cluster.";
    PatchMatchesNothing = "patch-matches-nothing", "a placement patch matches no resource on any cluster",
        "Check the patch target's kind, name and namespace (after defaulting) against the component's resources.";
    ImportUnsupported = "import-unsupported", "`fleetc import kustomize` met something in the layout it cannot convert faithfully (a kustomize field, a patch target, a missing file)",
        "Change the layout as the message says (or convert that part by hand after importing the rest): fleetc imports a result only when it is the same objects `kubectl kustomize` builds.";
    AgentSetting = "agent-setting", "an agent setting (`spec.agent`) names a field fleetc sets itself or that would change the rendered objects, or configures a HelmRelease for a component without `helm`",
        "Keep to the fields docs/agent-settings.md lists for each agent object; say the rest in the fleet (the component's `namespace`, `dependsOn`, `helm`, values, placement patches) so that validate checks what the cluster receives.";
    ValueUnread = "value-unread", "a value is set for a component or policy without a valuesSchema, and none of its templates reads it",
        "Check the value's name against what the templates read (a misspelt value is ignored and the template uses its default), give the unit a `valuesSchema`, or remove the value.";
    TargetOverride = "target-override", "two targets of one placement set the same value, or patch the same field of an object, differently on a cluster: the later wins",
        "Every matching target applies, in order. If the later target should win, name the earlier in its `overrides`; otherwise move the specific target after the general one, or exclude its clusters from the general target.";
    PatchFile = "patch-file", "a patch entry's `path` names no patch file fleetc reads, or the file holds something that is not a patch",
        "Keep patch files under patches/, name them relative to the placement file (`../patches/...`), and write each YAML document as a merge patch that names its object (apiVersion, kind, metadata.name) or, with the entry's `target`, a list of JSON 6902 operations.";
    PatchFailed = "patch-failed", "a patch cannot be applied to its target",
        "Fix the patch so that it applies to its target (paths that exist, merge keys present for lists).";
    NamespaceMissing = "namespace-missing", "a namespaced object in a namespace that nothing creates on its cluster",
        "Render a Namespace in some unit, give the component `namespace` (fleetc then creates it), or list the namespace in `existingNamespaces` of the cluster or the fleet if it is made outside fleetc.";
    PlaintextSecret = "plaintext-secret", "a Secret with plaintext data in the repository",
        "Encrypt the file with SOPS (it is then copied byte for byte), or set `allowPlaintextSecrets: true` on the component if the values are not secret.";
    ApiRemoved = "api-removed", "an object whose apiVersion and kind its cluster's Kubernetes version does not serve (removed, or not yet added)",
        "Use the apiVersion the message names (the same kind, still served), or keep the object off clusters of that version.";
    ApiDeprecated = "api-deprecated", "an object whose apiVersion and kind a later Kubernetes version removes",
        "Move to the apiVersion the message names before the clusters upgrade to the version that removes it; `fleetc report` lists what each cluster must change to upgrade.";
    DuplicateListKey = "duplicate-list-key", "two entries of a keyed list with the same key (two containers with one name), or equal entries of a set",
        "Give each entry its own key (container names, port numbers), or remove the duplicate.";
    KindUnknown = "kind-unknown", "an object whose kind nothing defines on its cluster: no CRD, no unit that provides it, not declared as existing",
        "Render the kind's CustomResourceDefinition in a unit placed on the cluster, list the kind in `providesKinds` of the unit that installs it (a Helm chart, an operator) or in `existingKinds` of the cluster or the fleet; for a typo in a Kubernetes kind, follow the did-you-mean.";
    CrdFile = "crd-file", "a path in `spec.crds` that names no file fleetc reads, or a file there that is not a valid CustomResourceDefinition",
        "Name files or directories under crds/ or a unit's directory, from the repository root, holding only `apiextensions.k8s.io/v1` CustomResourceDefinitions (e.g. the output of `helm show crds`).";
    KubernetesVersionUnchecked = "kubernetes-version-unchecked", "a cluster whose Kubernetes version fleetc has no API schemas for: its objects are not checked against the API",
        "Check the cluster's `kubernetesVersion`; fleetc knows 1.25 to 1.37 (a newer fleetc knows newer versions).";
    // Admission: the cluster's own policies.
    AdmissionDenied = "admission-denied", "an admission policy that denies on this cluster rejects the object",
        "Change the object so that it satisfies the policy (the message says how), or exempt the cluster from the policy with an approved, expiring exemption.";
    AdmissionWarning = "admission-warning", "an admission policy that audits or warns on this cluster flags the object",
        "Fix the object before the policy is enforced; until then the cluster admits it and reports the violation.";
    AdmissionError = "admission-error", "an admission policy cannot be evaluated on the object (an expression error, an undefined reference)",
        "Fix the policy's expression; with failurePolicy Fail the cluster rejects every object the policy errs on, with Ignore it admits them unchecked.";
    AdmissionBudget = "admission-budget", "an admission policy's expression is estimated to cost more than the evaluation budget",
        "Simplify the expression (fewer nested loops over large lists), or raise the budget with `--limit admission-cost=N` if the cost is intended.";
    ArgoCdNameCollision = "argocd-name-collision", "two Argo CD Applications would get the same name",
        "Rename the component or one of the clusters: Applications are named `<cluster>-<component>`.";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let n = c.as_str();
            assert!(seen.insert(n), "{n} twice");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert_eq!(Code::from_name(n), Some(*c));
            assert!(!c.summary().is_empty() && !c.fix().is_empty());
        }
    }
}
