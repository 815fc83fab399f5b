//! An `inventory.json` fleetc wrote, read back: what the next render or
//! publish of the same output may keep instead of rendering again.
//!
//! Each cluster's entry records the digest of everything its files are a
//! function of (`inputsDigest`, see [`crate::driver::cluster_digests`]); a
//! cluster whose digest is unchanged keeps its files and its entry, which
//! is taken back byte for byte.

use std::collections::{BTreeMap, BTreeSet};

/// What an earlier output recorded.
#[derive(Debug, Default)]
pub struct Recorded {
    /// `format` of the inventory.
    pub format: String,
    /// The tree's `inputsDigest`.
    pub inputs_digest: String,
    /// Per cluster name, what it recorded.
    pub clusters: BTreeMap<String, RecordedCluster>,
    /// Clusters a killed update may have left half replaced (the journal):
    /// none of them is kept, whatever the inventory says.
    pub unsettled: BTreeSet<String>,
}

/// One cluster of a [`Recorded`] inventory.
#[derive(Debug)]
pub struct RecordedCluster {
    /// Its `inputsDigest`.
    pub digest: String,
    /// Its entry, as [`super::Emitter::cluster`] made it (pretty JSON).
    pub entry: String,
    /// Resources it lists.
    pub resources: usize,
}

/// The name, digest and resource count of an entry laid out as fleetc lays
/// it out (`name` first, `inputsDigest` last, one `"sha256"` per
/// resource), read without parsing the entry again; None otherwise (then
/// it is parsed).
fn fields(entry: &str) -> Option<(String, String, usize)> {
    let name = entry.strip_prefix("{\n  \"name\": \"")?;
    let name = &name[..name.find('"')?];
    let digest = entry.strip_suffix("\"\n}")?;
    const KEY: &str = "\n  \"inputsDigest\": \"";
    let digest = &digest[digest.rfind(KEY)? + KEY.len()..];
    let plain = |s: &str| !s.is_empty() && !s.contains(['\\', '"', '\n']);
    if !plain(name) || digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let resources = entry.matches("\"sha256\": \"").count();
    Some((name.to_string(), digest.to_string(), resources))
}

impl Recorded {
    /// Read an inventory fleetc wrote. None when it is not one, or when a
    /// cluster's entry does not record its digest (an older fleetc wrote
    /// it), or was not laid out as fleetc lays it out: then nothing is kept.
    pub fn parse(bytes: &[u8]) -> Option<Recorded> {
        use serde_json::value::RawValue;
        #[derive(serde::Deserialize)]
        struct Doc<'a> {
            format: String,
            #[serde(rename = "inputsDigest")]
            inputs_digest: String,
            #[serde(borrow)]
            clusters: Vec<&'a RawValue>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            name: String,
            #[serde(rename = "inputsDigest")]
            inputs_digest: String,
            units: Vec<Unit>,
        }
        #[derive(serde::Deserialize)]
        struct Unit {
            resources: Vec<serde::de::IgnoredAny>,
        }
        let doc: Doc = serde_json::from_slice(bytes).ok()?;
        let mut clusters = BTreeMap::new();
        for raw in doc.clusters {
            // In the file each line after the first is indented by four
            // spaces more than in the entry (see `Inventory::entry`).
            let text = raw.get();
            let mut entry = String::with_capacity(text.len());
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    entry.push('\n');
                    entry.push_str(line.strip_prefix("    ")?);
                } else {
                    entry.push_str(line);
                }
            }
            let (name, digest, resources) = match fields(&entry) {
                Some(f) => f,
                None => {
                    let e: Entry = serde_json::from_str(&entry).ok()?;
                    let n = e.units.iter().map(|u| u.resources.len()).sum();
                    (e.name, e.inputs_digest, n)
                }
            };
            let c = RecordedCluster {
                digest,
                entry,
                resources,
            };
            if clusters.insert(name, c).is_some() {
                return None;
            }
        }
        Some(Recorded {
            format: doc.format,
            inputs_digest: doc.inputs_digest,
            clusters,
            unsettled: BTreeSet::new(),
        })
    }

    /// The entry of cluster `name` when its recorded digest is `digest` and
    /// no killed update left it unsettled.
    pub fn keep(&self, name: &str, digest: &str) -> Option<&RecordedCluster> {
        self.clusters
            .get(name)
            .filter(|c| c.digest == digest && !self.unsettled.contains(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_entries_back_as_they_were_made() {
        let e1 = serde_json::to_string_pretty(&serde_json::json!({
            "name": "a", "units": [{"resources": [1, 2]}], "inputsDigest": "d1",
        }))
        .unwrap();
        let e2 = serde_json::to_string_pretty(&serde_json::json!({
            "name": "b", "units": [], "inputsDigest": "d2",
        }))
        .unwrap();
        let mut inv = super::super::Inventory {
            open: "{\n  \"format\": \"flux\",\n  \"inputsDigest\": \"x\",\n  \"clusters\": ".into(),
            entries: 0,
        };
        let mut bytes = inv.head();
        bytes.extend(inv.entry(&e1));
        bytes.extend(inv.entry(&e2));
        bytes.extend(inv.tail());
        let r = Recorded::parse(&bytes).expect("parses");
        assert_eq!(r.format, "flux");
        assert_eq!(r.clusters["a"].entry, e1);
        assert_eq!(r.clusters["a"].resources, 2);
        assert_eq!(r.clusters["b"].entry, e2);
        assert!(r.keep("a", "d1").is_some());
        let real = serde_json::to_string_pretty(&serde_json::json!({
            "name": "c-1", "units": [{"resources": [{"sha256": "x"}, {"sha256": "y"}]}],
            "inputsDigest": "ab".repeat(32),
        }))
        .unwrap();
        assert_eq!(fields(&real), Some(("c-1".into(), "ab".repeat(32), 2)));
        assert!(r.keep("a", "d2").is_none());
        assert!(r.keep("c", "d1").is_none());
        // An entry without its digest: nothing is kept.
        let old = bytes
            .windows(4)
            .position(|w| w == b"\"d2\"")
            .map(|_| {
                String::from_utf8_lossy(&bytes).replace(",\n      \"inputsDigest\": \"d2\"", "")
            })
            .unwrap();
        assert!(Recorded::parse(old.as_bytes()).is_none());
    }
}
