//! Where images go: a registry, a prefix and a product, turned into the passthrough naming that
//! `ferry push`, `ferry mirrorsets` and `ferry check` share.

use std::fmt;

use serde::Serialize;

use super::{check_naming, Flavor, FlavorError, MIRROR_REGISTRY_PORT};
use crate::naming::{Naming, NamingError};

/// Something worth telling the user that is not a failure: a default the product implied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Note {
    /// No port was given and the product listens on its own (mirror-registry: 8443).
    DefaultPort {
        /// The product.
        flavor: &'static str,
        /// The port added.
        port: u16,
        /// The target with the port.
        target: String,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::DefaultPort {
                flavor,
                port,
                target,
            } => write!(f, "{flavor} listens on port {port}: using {target}"),
        }
    }
}

/// Why a target has no naming.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The registry or prefix is not valid.
    #[error(transparent)]
    Naming(#[from] NamingError),
    /// The naming breaks the product's rules.
    #[error(transparent)]
    Flavor(#[from] FlavorError),
}

/// The mirror registry as the user named it (`--to`, `--prefix`, `--flatten`, `--flavor`), with
/// the product's default port filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    flavor: Flavor,
    host: String,
    prefix: String,
    flatten: bool,
    notes: Vec<Note>,
}

impl Target {
    /// The target `to` (`HOST[:PORT]`) of product `flavor` under `prefix`; `flatten` maps each
    /// upstream repository into one path component. A port the product implies is added (and
    /// noted); nothing is checked until [`Target::naming`].
    pub fn new(flavor: Flavor, to: &str, prefix: &str, flatten: bool) -> Self {
        let mut host = to.trim().trim_end_matches('/').to_string();
        let mut notes = Vec::new();
        if let Some(with_port) = flavor.default_port_for(&host) {
            notes.push(Note::DefaultPort {
                flavor: flavor.name(),
                port: MIRROR_REGISTRY_PORT,
                target: with_port.clone(),
            });
            host = with_port;
        }
        Target {
            flavor,
            host,
            prefix: prefix.to_string(),
            flatten,
            notes,
        }
    }

    /// The product.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The registry, `HOST[:PORT]`, with the product's default port when none was given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The prefix as given.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What the user should know about how the target was read (a port added).
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The passthrough naming onto this target, checked against the product's rules without
    /// network (namespace as first prefix component, nothing nested under it when flattened).
    pub fn naming(&self) -> Result<Naming, TargetError> {
        let mut naming = Naming::new(&self.host, &self.prefix)?;
        if self.flatten {
            naming = naming.flattened();
        }
        check_naming(self.flavor, &naming)?;
        Ok(naming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_registry_gets_its_port() {
        let t = Target::new(Flavor::MirrorRegistry, "registry.local/", "mirror", false);
        assert_eq!(t.host(), "registry.local:8443");
        assert_eq!(
            t.notes()[0].to_string(),
            "mirror-registry listens on port 8443: using registry.local:8443"
        );
        assert_eq!(t.naming().unwrap().target(), "registry.local:8443");
        let t = Target::new(Flavor::Quay, "registry.local", "mirror", false);
        assert_eq!(t.host(), "registry.local");
        assert!(t.notes().is_empty());
    }

    #[test]
    fn naming_follows_the_product() {
        let t = Target::new(Flavor::Quay, "r.example", "ocp/v4", true);
        assert!(matches!(
            t.naming(),
            Err(TargetError::Flavor(
                FlavorError::FlattenNeedsShortPrefix { .. }
            ))
        ));
        let t = Target::new(Flavor::Distribution, "r.example", "ocp/v4", true);
        assert!(t.naming().unwrap().is_flattened());
        let t = Target::new(Flavor::Distribution, "https://r.example", "m", false);
        assert!(matches!(t.naming(), Err(TargetError::Naming(_))));
    }
}
