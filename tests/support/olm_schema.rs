//! Checking generated OLM resources (CatalogSource, ClusterCatalog) against the schemas in
//! `tests/data/olm-crds/`: types, required fields, known properties, enums, patterns, lengths,
//! bounds, and the CRD's CEL rules (`x-kubernetes-validations`), each evaluated by a Rust
//! transcription found by its rule text, so a rule without one fails the check.

use std::path::Path;

use regex::Regex;
use serde_json::Value;

/// The storage version's schema of a CRD in `tests/data/olm-crds/`, and its apiVersion/kind.
pub fn crd(file: &str) -> (String, String, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/olm-crds")
        .join(file);
    let crd: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let spec = &crd["spec"];
    let v = spec["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["storage"] == true)
        .unwrap();
    (
        format!(
            "{}/{}",
            spec["group"].as_str().unwrap(),
            v["name"].as_str().unwrap()
        ),
        spec["names"]["kind"].as_str().unwrap().to_string(),
        v["schema"]["openAPIV3Schema"].clone(),
    )
}

/// CEL's `s.find(re)`: the leftmost match, or "" when there is none.
fn find<'a>(s: &'a str, re: &str) -> &'a str {
    Regex::new(re).unwrap().find(s).map_or("", |m| m.as_str())
}

/// CEL's `s.matches(re)`: whether `re` matches anywhere in `s` (RE2 semantics, unanchored).
fn matches(s: &str, re: &str) -> bool {
    Regex::new(re).unwrap().is_match(s)
}

/// CEL's `s.substring(1).size()`: the code points after the first.
fn size_after_first(s: &str) -> usize {
    s.chars().count().saturating_sub(1)
}

// RE2's `\w` and `\b` are ASCII; the regex crate's are Unicode unless told otherwise.
const DOMAIN: &str = r"^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])((\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(:[0-9]+)?(?-u:\b)";
const NAME: &str =
    r"(/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?((/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?)+)?)";
const AT: &str = "(@.*:)";
const FROM_COLON: &str = ":.*$";

/// Evaluates the CEL `rule` on `v` (the value the rule is attached to); `None` for a rule this
/// file has no transcription of.
fn cel(rule: &str, v: &Value) -> Option<bool> {
    let s = v.as_str().unwrap_or_default();
    let has = |k: &str| v.get(k).is_some();
    Some(match rule {
        "has(self.type) && self.type == 'Image' ? has(self.image) : !has(self.image)" => {
            if v["type"] == "Image" {
                has("image")
            } else {
                !has("image")
            }
        }
        r#"self.ref.find('(@.*:)') != "" ? !has(self.pollIntervalMinutes) : true"# => {
            find(v["ref"].as_str().unwrap_or_default(), AT).is_empty()
                || !has("pollIntervalMinutes")
        }
        r"self.matches('^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])((\\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(:[0-9]+)?\\b')" => {
            matches(s, DOMAIN)
        }
        r#"self.find('(\\/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?((\\/[a-z0-9]+((([._]|__|[-]*)[a-z0-9]+)+)?)+)?)') != """# => {
            !find(s, NAME).is_empty()
        }
        r#"self.find('(@.*:)') != "" || self.find(':.*$') != """# => {
            !find(s, AT).is_empty() || !find(s, FROM_COLON).is_empty()
        }
        r#"self.find('(@.*:)') == "" ? (self.find(':.*$') != "" ? self.find(':.*$').substring(1).size() <= 127 : true) : true"# => {
            !find(s, AT).is_empty()
                || find(s, FROM_COLON).is_empty()
                || size_after_first(find(s, FROM_COLON)) <= 127
        }
        r#"self.find('(@.*:)') == "" ? (self.find(':.*$') != "" ? self.find(':.*$').matches(':[\\w][\\w.-]*$') : true) : true"# => {
            !find(s, AT).is_empty()
                || find(s, FROM_COLON).is_empty()
                || matches(find(s, FROM_COLON), r":[0-9A-Za-z_][0-9A-Za-z_.-]*$")
        }
        r#"self.find('(@.*:)') != "" ? self.find('(@.*:)').matches('(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*[:])') : true"# => {
            find(s, AT).is_empty()
                || matches(
                    find(s, AT),
                    "(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*[:])",
                )
        }
        r#"self.find('(@.*:)') != "" ? self.find(':.*$').substring(1).size() >= 32 : true"# => {
            find(s, AT).is_empty() || size_after_first(find(s, FROM_COLON)) >= 32
        }
        r#"self.find('(@.*:)') != "" ? self.find(':.*$').matches(':[0-9A-Fa-f]*$') : true"# => {
            find(s, AT).is_empty() || matches(find(s, FROM_COLON), ":[0-9A-Fa-f]*$")
        }
        _ => return None,
    })
}

/// Checks `v` against an OpenAPI v3 schema (types, required, known properties, enums,
/// patterns, lengths, bounds, CEL rules); every problem is pushed to `errs` with its path.
pub fn check(v: &Value, s: &Value, at: &str, errs: &mut Vec<String>) {
    let ty = s["type"].as_str().unwrap_or("");
    let int_or_string = s["x-kubernetes-int-or-string"] == true;
    let ok = match ty {
        _ if int_or_string => v.is_i64() || v.is_u64() || v.is_string(),
        "object" => v.is_object(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        _ => true,
    };
    if !ok {
        errs.push(format!("{at}: not a {ty}: {v}"));
        return;
    }
    if let Some(e) = s["enum"].as_array() {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let Value::String(text) = v {
        if let Some(max) = s["maxLength"].as_u64() {
            if text.chars().count() as u64 > max {
                errs.push(format!("{at}: longer than {max}"));
            }
        }
        if let Some(p) = s["pattern"].as_str() {
            if !Regex::new(p).unwrap().is_match(text) {
                errs.push(format!("{at}: {text:?} does not match {p}"));
            }
        }
    }
    if let Some(n) = v.as_i64() {
        if s["minimum"].as_i64().is_some_and(|m| n < m)
            || s["maximum"].as_i64().is_some_and(|m| n > m)
        {
            errs.push(format!("{at}: {n} out of bounds"));
        }
    }
    if let Value::Array(items) = v {
        for (i, item) in items.iter().enumerate() {
            check(item, &s["items"], &format!("{at}[{i}]"), errs);
        }
    }
    if let Value::Object(map) = v {
        for r in s["required"].as_array().into_iter().flatten() {
            if !map.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{at}: missing {r}"));
            }
        }
        for (k, child) in map {
            let sub = if let Some(p) = s["properties"].get(k) {
                p
            } else if s["additionalProperties"].is_object() {
                &s["additionalProperties"]
            } else if s["x-kubernetes-preserve-unknown-fields"] == true {
                continue;
            } else {
                errs.push(format!("{at}: unknown field {k}"));
                continue;
            };
            check(child, sub, &format!("{at}.{k}"), errs);
        }
    }
    for rule in s["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let text = rule["rule"].as_str().unwrap();
        match cel(text, v) {
            Some(true) => {}
            Some(false) => errs.push(format!("{at}: {}", rule["message"].as_str().unwrap())),
            None => panic!("{at}: no transcription of the CEL rule {text}"),
        }
    }
}

/// The problems of `doc` against the schema of `crd_file`.
pub fn problems(doc: &Value, crd_file: &str) -> Vec<String> {
    let (_, _, schema) = crd(crd_file);
    let mut errs = Vec::new();
    check(doc, &schema, "", &mut errs);
    errs
}

/// Checks the resource in `file` against `crd_file`; the resource as JSON.
pub fn check_resource(file: &Path, crd_file: &str) -> Value {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.starts_with("# Generated by ferry"), "{text}");
    let doc: Value = serde_norway::from_str(&text).unwrap();
    let (api, kind, _) = crd(crd_file);
    assert_eq!(doc["apiVersion"], api.as_str());
    assert_eq!(doc["kind"], kind.as_str());
    let errs = problems(&doc, crd_file);
    assert!(errs.is_empty(), "{}: {errs:#?}\n{text}", file.display());
    doc
}
