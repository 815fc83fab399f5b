use serde_json::{json, Value};

use super::*;

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.1}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}
                }]}
            }
        }
    })
}

fn at<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Value {
    path.iter().fold(v, |v, p| match p.parse::<usize>() {
        Ok(i) => &mut v[i],
        Err(_) => &mut v[*p],
    })
}

fn problems(minor: u32, v: &Value) -> Vec<(ViolationKind, String)> {
    validate(minor, v)
        .into_iter()
        .map(|v| (v.kind, render_path(&v.path)))
        .collect()
}

#[test]
fn versions_and_minors() {
    assert_eq!(versions(), 25..=37);
    assert_eq!(minor_of("1.30.4"), Some(30));
    assert_eq!(minor_of("v1.29"), Some(29));
    assert_eq!(minor_of("1.31.2-eks-7f9249a"), Some(31));
    assert_eq!(minor_of("2.1"), None);
    assert_eq!(minor_of("1.x"), None);
}

#[test]
fn valid_deployment_passes_in_every_minor() {
    for m in versions() {
        assert_eq!(validate(m, &deployment()), vec![], "1.{m}");
    }
}

#[test]
fn misspelt_field_is_unknown_with_a_suggestion() {
    let mut d = deployment();
    let spec = at(&mut d, &["spec"]).as_object_mut().unwrap();
    let r = spec.shift_remove("replicas").unwrap();
    spec.insert("replica".into(), r);
    let v = validate(30, &d);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, ViolationKind::UnknownField);
    assert_eq!(render_path(&v[0].path), "spec.replica");
    assert_eq!(v[0].suggestion.as_deref(), Some("replicas"));
    assert_eq!(
        v[0].to_string(),
        "spec.replica: unknown field \"replica\" (did you mean `replicas`?)"
    );
}

#[test]
fn unknown_field_deep_in_a_container_has_a_keyed_path() {
    let mut d = deployment();
    at(
        &mut d,
        &["spec", "template", "spec", "containers", "0", "resources"],
    )["limit"] = json!({"cpu": "1"});
    let v = validate(33, &d);
    assert_eq!(
        render_path(&v[0].path),
        "spec.template.spec.containers[name=web].resources.limit"
    );
    assert_eq!(v[0].suggestion.as_deref(), Some("limits"));
}

#[test]
fn wrong_type() {
    let mut d = deployment();
    at(&mut d, &["spec"])["replicas"] = json!("3");
    assert_eq!(
        problems(29, &d),
        vec![(ViolationKind::InvalidType, "spec.replicas".into())]
    );
    at(&mut d, &["spec"])["replicas"] = json!(3.5);
    assert_eq!(problems(29, &d)[0].0, ViolationKind::InvalidType);
    // A float that is an integer is one (kubectl sends YAML's 3.0 as 3).
    at(&mut d, &["spec"])["replicas"] = json!(3.0);
    assert_eq!(problems(29, &d), vec![]);
    at(&mut d, &["spec"])["replicas"] = json!(4_000_000_000u64);
    assert_eq!(
        problems(29, &d),
        vec![(ViolationKind::InvalidValue, "spec.replicas".into())]
    );
}

#[test]
fn missing_required_container_name() {
    let mut d = deployment();
    at(&mut d, &["spec", "template", "spec", "containers", "0"])
        .as_object_mut()
        .unwrap()
        .shift_remove("name");
    assert_eq!(
        problems(30, &d),
        vec![(
            ViolationKind::MissingRequired,
            "spec.template.spec.containers[0].name".into()
        )]
    );
}

#[test]
fn duplicate_container_name() {
    let mut d = deployment();
    let c = at(&mut d, &["spec", "template", "spec", "containers", "0"]).clone();
    at(&mut d, &["spec", "template", "spec", "containers"])
        .as_array_mut()
        .unwrap()
        .push(c);
    let v = validate(30, &d);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, ViolationKind::DuplicateListKey);
    assert_eq!(
        v[0].to_string(),
        "spec.template.spec.containers[name=web]: duplicate entry for key name (first at [0])"
    );
}

#[test]
fn enums_are_checked_where_the_schema_has_them() {
    // The Kubernetes OpenAPI v2 definitions carry no enum for
    // imagePullPolicy (its values are only in the description; Go
    // validation refuses "Sometimes" after decoding): not checked here.
    let mut d = deployment();
    at(&mut d, &["spec", "template", "spec", "containers", "0"])["imagePullPolicy"] =
        json!("Sometimes");
    assert_eq!(problems(37, &d), vec![]);
    // Where the schema has an enum, a value outside it is refused.
    let schema = super::super::data::Schema::parse(&json!({
        "t": "o", "x": 1, "p": {"policy": {"t": "s", "e": ["Always", "Never", "IfNotPresent"]}}
    }));
    let v = super::super::check::run(
        super::super::data::get(),
        30,
        &schema,
        &json!({"policy": "Sometimes"}),
        100,
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].kind, ViolationKind::InvalidValue);
    assert_eq!(render_path(&v[0].path), "policy");
}

#[test]
fn int_or_string_port() {
    let mut d = deployment();
    let probe = [
        "spec",
        "template",
        "spec",
        "containers",
        "0",
        "readinessProbe",
        "httpGet",
    ];
    at(&mut d, &probe)["port"] = json!(8080);
    assert_eq!(problems(30, &d), vec![]);
    at(&mut d, &probe)["port"] = json!(true);
    assert_eq!(
        problems(30, &d),
        vec![(
            ViolationKind::InvalidType,
            "spec.template.spec.containers[name=web].readinessProbe.httpGet.port".into()
        )]
    );
}

#[test]
fn label_value_must_be_a_string() {
    let mut d = deployment();
    at(&mut d, &["metadata", "labels"])["version"] = json!(1.5);
    at(&mut d, &["metadata", "labels"])["app.kubernetes.io/part-of"] = json!(7);
    let v = validate(30, &d);
    let paths: Vec<String> = v.iter().map(|v| render_path(&v.path)).collect();
    assert_eq!(
        paths,
        vec![
            "metadata.labels.version".to_string(),
            "metadata.labels[\"app.kubernetes.io/part-of\"]".into()
        ]
    );
    assert!(v.iter().all(|v| v.kind == ViolationKind::InvalidType));
}

#[test]
fn other_valid_kinds_pass() {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "type": "ClusterIP",
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                                  {"name": "metrics", "port": 9090, "targetPort": 9090}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "data": {"a": "1"}, "binaryData": {"b": "AAEC"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "type": "Opaque", "data": {"password": "aHVudGVyMg=="}, "stringData": {"u": "x"}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
               "spec": {"ingressClassName": "nginx", "rules": [{"host": "a.example", "http": {"paths": [
                   {"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j"},
               "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                   "restartPolicy": "OnFailure",
                   "containers": [{"name": "j", "image": "busybox", "args": ["date"]}]}}}}}}),
    ];
    for o in &objects {
        for m in versions() {
            assert_eq!(validate(m, o), vec![], "1.{m} {o}");
        }
    }
}

#[test]
fn formats_the_api_server_decodes() {
    let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                       "data": {"password": "not base64!"}});
    assert_eq!(
        problems(30, &s),
        vec![(ViolationKind::InvalidValue, "data.password".into())]
    );
    s["data"]["password"] = json!("aHVudGVyMg"); // unpadded: Go's StdEncoding refuses it
    assert_eq!(problems(30, &s).len(), 1);
    s["data"]["password"] = json!(null);
    assert_eq!(problems(30, &s), vec![]);
    let mut e = json!({"apiVersion": "v1", "kind": "Event",
                       "metadata": {"name": "e", "creationTimestamp": "2024-02-29T10:00:00+02:00"},
                       "involvedObject": {}, "eventTime": "2024-01-01T10:00:00.123456Z"});
    assert_eq!(problems(30, &e), vec![]);
    e["metadata"]["creationTimestamp"] = json!("2023-02-29T10:00:00Z");
    assert_eq!(problems(30, &e).len(), 1);
    e["metadata"]["creationTimestamp"] = json!("2024-01-01 10:00");
    assert_eq!(
        problems(30, &e),
        vec![(
            ViolationKind::InvalidValue,
            "metadata.creationTimestamp".into()
        )]
    );
}

#[test]
fn null_where_the_schema_allows_it() {
    let mut d = deployment();
    at(&mut d, &["spec"])["replicas"] = json!(null);
    at(&mut d, &["metadata"])["annotations"] = json!(null);
    assert_eq!(problems(30, &d), vec![]);
    at(&mut d, &["spec", "template", "spec", "containers", "0"])["name"] = json!(null);
    assert_eq!(problems(30, &d)[0].0, ViolationKind::InvalidType);
}

#[test]
fn served_lifecycle_and_replacement() {
    assert_eq!(served(30, "apps/v1", "Deployment"), Served::Served);
    assert_eq!(served(30, "example.com/v1", "Widget"), Served::UnknownKind);
    let hpa = "autoscaling/v2beta2";
    assert_eq!(served(25, hpa, "HorizontalPodAutoscaler"), Served::Served);
    assert_eq!(
        served(26, hpa, "HorizontalPodAutoscaler"),
        Served::NotServed
    );
    assert_eq!(lifecycle(hpa, "HorizontalPodAutoscaler"), Some((25, 25)));
    assert_eq!(
        replacement(hpa, "HorizontalPodAutoscaler").as_deref(),
        Some("autoscaling/v2")
    );
    assert_eq!(lifecycle("apps/v1", "Deployment"), Some((25, 37)));
    assert_eq!(replacement("apps/v1", "Deployment"), None);
    assert!(is_built_in("v1", "ConfigMap"));
    assert!(!is_built_in(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization"
    ));
    let obj =
        json!({"apiVersion": hpa, "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"}});
    let v = validate(30, &obj);
    assert_eq!(v[0].kind, ViolationKind::NotServed);
    assert_eq!(
        v[0].message,
        "Kubernetes 1.30 does not serve autoscaling/v2beta2 HorizontalPodAutoscaler \
         (served by 1.25 to 1.25); use autoscaling/v2"
    );
    assert_eq!(
        validate(
            30,
            &json!({"apiVersion": "x.io/v1", "kind": "W", "spec": 1})
        ),
        vec![]
    );
}

#[test]
fn budget_bounds_the_walk() {
    let mut d = deployment();
    let labels: serde_json::Map<String, Value> =
        (0..5000).map(|i| (format!("k{i}"), json!("v"))).collect();
    at(&mut d, &["metadata"])["labels"] = Value::Object(labels);
    let v = validate_with_budget(30, &d, 1000);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].kind, ViolationKind::TooLarge);
    assert_eq!(validate(30, &d), vec![]);
}

#[test]
fn recursive_definitions_stop_at_a_depth() {
    // JSONSchemaProps refers to itself: a hostile CRD can nest without end.
    let mut props = json!({"type": "string"});
    for _ in 0..150 {
        props = json!({"type": "object", "properties": {"a": props}});
    }
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "ws.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "ws", "kind": "W"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": props}}]}
    });
    let v = validate(30, &crd);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, ViolationKind::TooLarge);
}
