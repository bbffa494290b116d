//! Fuzz targets for the image-list reader ([`parse_list`], [`parse_line`]) and the
//! ImageSetConfiguration reader ([`parse_input`]).

use std::path::Path;

use proptest::prelude::*;

use super::{config, texts};
use crate::pack::imageset::parse_input;
use crate::pack::list::{parse_line, parse_list};

const LIST: &str = "# images\n\nquay.io/org/app:v1\n  busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef # pinned\noci:/tmp/layout:1 quay.io/org/local:1\ndocker-archive:/tmp/a.tar\nlocalhost:5000/a/b/c:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";

const IMAGE_SET: &str = "kind: ImageSetConfiguration\n\
apiVersion: mirror.openshift.io/v2alpha1\n\
archiveSize: 4\n\
mirror:\n  \
  platform:\n    \
    architectures:\n    \
    - amd64\n    \
    channels:\n    \
    - name: stable-4.16\n      \
      minVersion: 4.16.5\n      \
      maxVersion: 4.16.6\n      \
      shortestPath: true\n    \
    graph: false\n  \
  additionalImages:\n  \
  - name: quay.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n  \
  - name: registry.example.com:5000/a/b:1\n  \
  blockedImages:\n  \
  - name: ^quay\\.io/openshift/origin-tools@\n";

const SMALL_SET: &str =
    "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: busybox\n  operators: []\n";

#[test]
fn the_seeds_are_valid() {
    assert_eq!(parse_list(Path::new("list"), LIST).expect("list").len(), 5);
    parse_input(Path::new("isc.yaml"), IMAGE_SET).expect("image set");
    parse_input(Path::new("isc.yaml"), SMALL_SET).expect("small image set");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_image_list(text in texts(&[LIST])) {
        if let Err(e) = parse_list(Path::new("list"), &text) {
            drop(e.to_string());
        }
        for line in text.lines() {
            let _ = parse_line(line);
        }
    }

    #[test]
    fn fuzz_image_set_configuration(text in texts(&[IMAGE_SET, SMALL_SET])) {
        if let Err(e) = parse_input(Path::new("isc.yaml"), &text) {
            drop(e.to_string());
        }
    }
}
