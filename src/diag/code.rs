//! Diagnostic codes: every diagnostic has one, printed as `error[code]:`.
//!
//! Codes are readable kebab-case names, stable across releases: a user can
//! look one up (`docs/diagnostics.md`), a CI annotation or SARIF rule is
//! keyed by it, and a test can name the kind of error it expects. A code
//! names a kind of problem, not a message: messages may change, codes do not
//! (a retired code is never reused).

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $summary:literal; )*) => {
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

            /// The code named `name`.
            pub fn from_name(name: &str) -> Option<Code> {
                match name { $($name => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    // The command line, files and git.
    Usage = "usage", "a command-line argument or flag value is not valid";
    Io = "io-error", "a file could not be read or written";
    FileTooLarge = "file-too-large", "an input file, or all inputs together, exceed the size budget";
    LinkOutside = "link-outside-repository", "a symbolic link leads outside the fleet repository, nowhere, or in a loop";
    FileLayout = "file-layout", "a file or directory where the fleet layout has no place for it";
    UnsupportedFile = "unsupported-file", "a path that fleetc cannot read as fleet input (not UTF-8, not a regular file)";
    Git = "git-error", "git could not read or write the repository";
    InvalidRevision = "invalid-revision", "a revision that git cannot resolve to a commit";
    HostileTree = "hostile-tree-entry", "a git tree holds an entry no checkout could hold";
    OutputRefused = "output-refused", "fleetc refuses to write the output directory";
    PublishRefused = "publish-refused", "publish would move the rendered branch backwards or to an invalid name";
    PromoteRefused = "promote-refused", "the rollout cannot be advanced";
    UnknownName = "unknown-name", "a cluster, component or policy named on the command line does not exist";
    ClusterUnitsBudget = "cluster-units-budget", "the fleet resolves to more (cluster, unit) pairs than the budget allows";

    // YAML.
    YamlSyntax = "yaml-syntax", "the file is not valid YAML";
    YamlDuplicateKey = "yaml-duplicate-key", "a mapping has the same key twice";
    YamlTag = "yaml-tag", "a custom or invalid YAML tag";
    YamlMergeKey = "yaml-merge-key", "YAML merge keys (`<<`) are not supported";
    YamlComplexKey = "yaml-complex-key", "a mapping key that is a list or mapping";
    YamlAlias = "yaml-alias", "an alias to an unknown anchor, or more aliases than the budget";
    YamlBudget = "yaml-budget", "the file nests too deep, has too many nodes or too many documents";
    YamlDocuments = "yaml-documents", "a fleet file holds more than one YAML document";

    // Fleet files: kinds and schemas.
    MissingFleet = "missing-fleet", "the repository has no fleet.yaml";
    WrongKind = "wrong-kind", "a fleet file is empty, not a mapping, or of another kind or apiVersion than its directory holds";
    NameMismatch = "name-mismatch", "metadata.name differs from the file name";
    UnknownField = "unknown-field", "a field the kind's schema does not have";
    MissingField = "missing-field", "a required field is missing";
    InvalidType = "invalid-type", "a field has the wrong type";
    InvalidValue = "invalid-value", "a field's value is not one the schema allows";

    // References and structure.
    UnknownReference = "unknown-reference", "a reference to a cluster, group, component or policy that does not exist";
    DuplicateName = "duplicate-name", "two units share a name";
    EmptySelector = "empty-selector", "a label selector or target that selects nothing or everything by accident";
    SelectorOperator = "selector-operator", "a matchExpressions operator with the wrong number of values";
    UnknownLabelKey = "unknown-label-key", "a selector uses a label key no cluster carries";
    GroupWithoutMembers = "group-without-members", "a group with no selector, clusters or member groups";
    GroupCycle = "group-cycle", "groups contain each other in a cycle";
    DependsOnCycle = "depends-on-cycle", "components depend on each other in a cycle";
    PolicyMisused = "policy-misused", "a Policy used where a component is expected (dependsOn, placements)";
    HelmComponent = "helm-component", "a Helm component without a version or namespace, or with templates too";
    FormatRequirement = "format-requirement", "the output format needs something the fleet does not give (a repository URL, a server, no Helm in plain)";
    SopsInArgoCd = "sops-in-argocd", "a SOPS-encrypted file that Argo CD would apply as it is";
    InvalidDate = "invalid-date", "an exemption date that is not a calendar date";
    RolloutWave = "rollout-wave", "a rollout with a duplicate wave, an untargeted wave before the last, or an unknown promoted wave";

    // Resolution.
    SelectsNothing = "selects-nothing", "a group, placement, customization, wave or policy that selects no cluster";
    TooFewCandidates = "too-few-candidates", "numberOfClusters asks for more clusters than are candidates";
    TwoPlacements = "two-placements-one-cluster", "two placements put the same component on one cluster";
    DependencyNotPlaced = "dependency-not-placed", "a component on a cluster depends on one that is not on it";
    ClusterInNoWave = "cluster-in-no-wave", "a placement selects clusters that no rollout wave takes";
    LockedValue = "locked-value", "a layer changes or deletes a value a lower layer locked";
    EqualPriorityConflict = "equal-priority-conflict", "groups of equal priority set one value differently";
    ValuesSchema = "values-schema", "values that do not match the component's valuesSchema, or an invalid valuesSchema";
    PolicyNotExemptible = "policy-not-exemptible", "an exemption names a policy that is not exemptible";
    ExemptionOrphan = "exemption-orphan", "an exemption that matches no cluster the policy applies to";
    ExemptionExpired = "exemption-expired", "an exemption whose expiry date has passed";

    // Templates and rendered objects.
    TemplateSyntax = "template-syntax", "a template that does not parse";
    TemplateUndefined = "template-undefined", "a template reads a value that is not defined";
    TemplateNotFound = "template-not-found", "a template includes a template that does not exist or lies outside the component";
    TemplateMultilineValue = "template-multiline-value", "a raw value with line breaks printed into YAML";
    TemplateBudget = "template-budget", "a template ran out of fuel, recursion depth or output bytes";
    TemplateError = "template-error", "a template failed while rendering";
    RenderedYaml = "rendered-yaml", "a template's output is not valid YAML";
    NotAKubernetesObject = "not-a-kubernetes-object", "a rendered document without apiVersion, kind or metadata.name, or not a mapping";
    KustomizationFile = "kustomization-file", "a kustomization.yaml among a component's templates";
    ListKind = "list-kind", "a `kind: List` document, which fleetc does not expand";
    InvalidObjectField = "invalid-object-field", "an invalid kind, apiVersion, name, namespace, labels or annotations on a rendered object";
    DuplicateResource = "duplicate-resource", "two objects with the same kind, namespace and name on one cluster, or one output path";
    PatchMatchesNothing = "patch-matches-nothing", "a placement patch matches no resource on any cluster";
    PatchFailed = "patch-failed", "a patch cannot be applied to its target";
    PlaintextSecret = "plaintext-secret", "a Secret with plaintext data in the repository";
    ArgoCdNameCollision = "argocd-name-collision", "two Argo CD Applications would get the same name";
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
            assert!(!c.summary().is_empty());
        }
    }
}
