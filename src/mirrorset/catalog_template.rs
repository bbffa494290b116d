//! `targetCatalogSourceTemplate` (oc-mirror v2, `mirror.operators[]`): a CatalogSource YAML whose
//! labels, annotations and spec the CatalogSource of its catalog starts from — pod
//! configuration (`grpcPodConfig`), `updateStrategy`, `priority`, `displayName`, `publisher`,
//! `secrets`, `icon` — while ferry sets the name, the namespace (`openshift-marketplace`),
//! `sourceType: grpc` and the image (the catalog's mirror by digest), as oc-mirror does
//! (`catalogSourceContentFromTemplate`). Checked as oc-mirror checks it (apiVersion
//! `operators.coreos.com/v1alpha1`, kind `CatalogSource`, `sourceType` grpc or absent, no
//! `configMap`), and, unlike oc-mirror, which falls back to no template with a log line, a bad
//! template is an error, and a spec field the API does not have is refused rather than
//! dropped. Pure: the pack reads the file (`pack/catalog/template.rs`).

use serde_json::{Map, Value};

/// The apiVersion a template must have.
pub const TEMPLATE_API_VERSION: &str = "operators.coreos.com/v1alpha1";

/// The spec fields of a CatalogSource (operators.coreos.com/v1alpha1), with the JSON type each
/// must have.
const SPEC_FIELDS: [(&str, Kind); 12] = [
    ("address", Kind::String),
    ("configMap", Kind::String),
    ("description", Kind::String),
    ("displayName", Kind::String),
    ("grpcPodConfig", Kind::Object),
    ("icon", Kind::Object),
    ("image", Kind::String),
    ("priority", Kind::Integer),
    ("publisher", Kind::String),
    ("secrets", Kind::Strings),
    ("sourceType", Kind::String),
    ("updateStrategy", Kind::Object),
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    String,
    Integer,
    Object,
    Strings,
}

impl Kind {
    fn fits(self, v: &Value) -> bool {
        match self {
            Kind::String => v.is_string(),
            Kind::Integer => v.is_i64(),
            Kind::Object => v.is_object(),
            Kind::Strings => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Object => "a mapping",
            Kind::Strings => "a list of strings",
        }
    }
}

/// A template as checked: what the CatalogSource keeps, and what the user should know.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedTemplate {
    /// `{metadata: {labels?, annotations?}, spec}`.
    pub template: Value,
    /// Fields of the file that ferry sets itself or does not carry.
    pub notes: Vec<String>,
}

/// Checks a template document: what the CatalogSource keeps of it, or what is wrong.
pub fn check_template(doc: Value) -> Result<CheckedTemplate, String> {
    let Value::Object(mut doc) = doc else {
        return Err("not a mapping (a CatalogSource resource)".into());
    };
    let api = doc.remove("apiVersion");
    if api.as_ref().and_then(Value::as_str) != Some(TEMPLATE_API_VERSION) {
        return Err(format!(
            "apiVersion is {}, not {TEMPLATE_API_VERSION}",
            api.map_or("absent".to_string(), |v| v.to_string())
        ));
    }
    let kind = doc.remove("kind");
    if kind.as_ref().and_then(Value::as_str) != Some("CatalogSource") {
        return Err(format!(
            "kind is {}, not CatalogSource",
            kind.map_or("absent".to_string(), |v| v.to_string())
        ));
    }
    let mut notes = Vec::new();
    let mut set_by_ferry = Vec::new();
    let mut dropped = Vec::new();
    let mut metadata = Map::new();
    match doc.remove("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match k.as_str() {
                    "labels" | "annotations" => {
                        let ok = v
                            .as_object()
                            .is_some_and(|m| m.values().all(Value::is_string));
                        if !ok {
                            return Err(format!("metadata.{k} is not a map of strings"));
                        }
                        metadata.insert(k, v);
                    }
                    "name" | "namespace" => set_by_ferry.push(format!("metadata.{k}")),
                    _ => dropped.push(format!("metadata.{k}")),
                }
            }
        }
        Some(_) => return Err("metadata is not a mapping".into()),
    }
    let mut spec = match doc.remove("spec") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(s)) => s,
        Some(_) => return Err("spec is not a mapping".into()),
    };
    for (k, v) in &spec {
        let Some((_, kind)) = SPEC_FIELDS.iter().find(|(f, _)| *f == k.as_str()) else {
            let known: Vec<&str> = SPEC_FIELDS.iter().map(|(f, _)| *f).collect();
            return Err(format!(
                "spec.{k} is not a CatalogSource field (the fields are {})",
                known.join(", ")
            ));
        };
        if !kind.fits(v) {
            return Err(format!("spec.{k} is not {}", kind.word()));
        }
    }
    match spec.get("sourceType").and_then(Value::as_str) {
        None | Some("") | Some("grpc") => {}
        Some(other) => {
            return Err(format!(
                "spec.sourceType is {other:?}; a catalog image is served with sourceType grpc"
            ))
        }
    }
    if spec
        .get("configMap")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
    {
        return Err("spec.configMap is set; a catalog image is not served from a ConfigMap".into());
    }
    for k in ["sourceType", "image", "configMap"] {
        if spec.remove(k).is_some() && k != "configMap" {
            set_by_ferry.push(format!("spec.{k}"));
        }
    }
    if doc.remove("status").is_some() {
        dropped.push("status".into());
    }
    if let Some(k) = doc.keys().next() {
        return Err(format!("{k} is not a field of a CatalogSource resource"));
    }
    if !set_by_ferry.is_empty() {
        notes.push(format!(
            "{} set by ferry (the generated name, openshift-marketplace, grpc, the catalog's \
             mirror by digest), not taken from the template",
            set_by_ferry.join(", ")
        ));
    }
    if !dropped.is_empty() {
        notes.push(format!(
            "{} not carried (a template keeps labels, annotations and spec)",
            dropped.join(", ")
        ));
    }
    let mut template = Map::new();
    template.insert("metadata".into(), Value::Object(metadata));
    template.insert("spec".into(), Value::Object(spec));
    Ok(CheckedTemplate {
        template: Value::Object(template),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(spec: Value) -> Value {
        json!({"apiVersion": TEMPLATE_API_VERSION, "kind": "CatalogSource",
            "metadata": {"name": "x", "labels": {"a": "b"}, "uid": "1"}, "spec": spec})
    }

    #[test]
    fn keeps_labels_annotations_and_spec_and_says_what_it_does_not_take() {
        let t = check_template(doc(json!({"sourceType": "grpc", "image": "q.io/x:1",
            "priority": -100, "updateStrategy": {"registryPoll": {"interval": "30m"}}})))
        .unwrap();
        assert_eq!(
            t.template,
            json!({"metadata": {"labels": {"a": "b"}},
                "spec": {"priority": -100, "updateStrategy": {"registryPoll": {"interval": "30m"}}}})
        );
        assert!(t.notes[0].starts_with("metadata.name, spec.sourceType, spec.image set by ferry"));
        assert!(t.notes[1].starts_with("metadata.uid not carried"));
    }

    #[test]
    fn refuses_what_oc_mirror_refuses_and_what_the_api_does_not_have() {
        for (d, want) in [
            (json!([1]), "not a mapping"),
            (json!({"kind": "CatalogSource"}), "apiVersion is absent"),
            (
                json!({"apiVersion": "v1", "kind": "CatalogSource"}),
                "apiVersion is \"v1\"",
            ),
            (
                json!({"apiVersion": TEMPLATE_API_VERSION, "kind": "Subscription"}),
                "kind is \"Subscription\"",
            ),
            (
                doc(json!({"sourceType": "configmap"})),
                "spec.sourceType is \"configmap\"",
            ),
            (doc(json!({"configMap": "cm"})), "spec.configMap is set"),
            (
                doc(json!({"updateStratgy": {}})),
                "spec.updateStratgy is not a CatalogSource field",
            ),
            (
                doc(json!({"priority": "high"})),
                "spec.priority is not an integer",
            ),
            (
                doc(json!({"secrets": [1]})),
                "spec.secrets is not a list of strings",
            ),
            (doc(json!([])), "spec is not a mapping"),
        ] {
            let e = check_template(d).unwrap_err();
            assert!(e.starts_with(want), "{want}: {e}");
        }
    }
}
