//! `fleetc promote PLACEMENT` (SPEC §6): advance a rollout's `promotedThrough`
//! by one wave, changing that one line of the placement file and nothing else
//! (the value is replaced in place, so a trailing comment stays). Without a
//! `promotedThrough` yet, one line `promotedThrough: <first wave>` is added
//! above `waves:`. Past the last wave it refuses. The file is replaced
//! atomically (write beside it, then rename).

use std::path::{Path, PathBuf};

use crate::diag::Diags;
use crate::kube::dns_label;
use crate::load::source_of;
use crate::yaml::write::is_plain_safe;
use crate::yaml::{parse_single, Budget};

#[derive(Debug)]
pub enum PromoteError {
    /// The fleet (or the placement) is invalid: exit 2.
    Invalid(Diags),
    /// Refused: unknown placement, no rollout, already fully promoted (exit 2).
    Refused(String),
    /// I/O failure (exit 3).
    Io(String),
}

#[derive(Debug)]
pub struct Promoted {
    /// Repo-relative path of the placement file.
    pub file: String,
    pub line: usize,
    pub from: Option<String>,
    pub to: String,
}

pub fn promote(repo: &Path, placement: &str) -> Result<Promoted, PromoteError> {
    if !dns_label(placement) {
        return Err(PromoteError::Refused(format!(
            "`{placement}` is not a placement name"
        )));
    }
    // Read and check the whole fleet: promoting an invalid fleet helps nobody.
    let fs = crate::source::read_dir(repo, &Default::default()).map_err(PromoteError::Invalid)?;
    let rel = ["yaml", "yml"]
        .iter()
        .map(|ext| format!("placements/{placement}.{ext}"))
        .find(|p| fs.get(p).is_some())
        .ok_or_else(|| {
            PromoteError::Refused(format!(
                "no placement `{placement}` (placements/{placement}.yaml)"
            ))
        })?;
    let (loaded, diags) = crate::load::load(&fs, &Budget::default());
    if diags.has_errors() {
        return Err(PromoteError::Invalid(diags));
    }
    let p = loaded
        .placements
        .iter()
        .find(|p| p.name == placement)
        .ok_or_else(|| PromoteError::Refused(format!("no placement `{placement}`")))?;
    let r = p.rollout.as_ref().ok_or_else(|| {
        PromoteError::Refused(format!("placement `{placement}` has no rollout to promote"))
    })?;
    let current = r.promoted_through.as_ref();
    let next = match current {
        None => 0,
        Some(pt) => match r.waves.iter().position(|w| w.name == pt.name) {
            Some(i) => i + 1,
            None => {
                return Err(PromoteError::Refused(format!(
                    "promotedThrough `{}` is not a wave of `{placement}`",
                    pt.name
                )))
            }
        },
    };
    let Some(wave) = r.waves.get(next) else {
        return Err(PromoteError::Refused(format!(
            "placement `{placement}` is already fully promoted (through its last wave, `{}`)",
            r.waves.last().map(|w| w.name.as_str()).unwrap_or_default()
        )));
    };
    let bytes = fs
        .get(&rel)
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::from(Vec::new()));
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| PromoteError::Refused(format!("{rel} is not UTF-8")))?;
    let value = if is_plain_safe(&wave.name) {
        wave.name.clone()
    } else {
        format!("\"{}\"", wave.name)
    };
    let (new_text, offset) = match current {
        Some(pt) => {
            let (a, b) = (pt.span.start as usize, pt.span.end as usize);
            (format!("{}{value}{}", &text[..a], &text[b..]), a)
        }
        None => {
            // Add the line above `waves:`, at its indentation (block style only).
            let src = source_of(&rel, &bytes)
                .map_err(|d| PromoteError::Invalid(Diags { items: vec![d] }))?;
            let node = parse_single(&src, &Budget::default())
                .map_err(|d| PromoteError::Invalid(Diags { items: vec![d] }))?
                .ok_or_else(|| PromoteError::Refused(format!("{rel} is empty")))?;
            let rollout = node
                .get_path(&["spec", "rollout"])
                .ok_or_else(|| PromoteError::Refused("no rollout".into()))?;
            let key = rollout.key_span("waves");
            let start = key.start as usize;
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let indent = &text[line_start..start];
            if !indent.chars().all(|c| c == ' ') {
                return Err(PromoteError::Refused(format!(
                    "{rel}: the rollout is written in flow style; add `promotedThrough: {}` by hand",
                    wave.name
                )));
            }
            (
                format!(
                    "{}{indent}promotedThrough: {value}\n{}",
                    &text[..line_start],
                    &text[line_start..]
                ),
                line_start,
            )
        }
    };
    // Sanity: the result parses and says what we meant.
    let check = source_of(&rel, new_text.as_bytes())
        .ok()
        .and_then(|s| parse_single(&s, &Budget::default()).ok().flatten());
    let ok = check
        .as_ref()
        .and_then(|n| n.get_path(&["spec", "rollout", "promotedThrough"]))
        .and_then(|n| n.as_str())
        == Some(wave.name.as_str());
    if !ok {
        return Err(PromoteError::Refused(format!(
            "{rel}: could not edit promotedThrough safely; edit it by hand"
        )));
    }
    let path: PathBuf = repo
        .join(&rel)
        .canonicalize()
        .map_err(|e| PromoteError::Io(format!("{rel}: {e}")))?;
    let tmp = path.with_extension("yaml.fleetc-promote");
    std::fs::write(&tmp, new_text.as_bytes())
        .map_err(|e| PromoteError::Io(format!("cannot write {}: {e}", tmp.display())))?;
    if let Ok(meta) = std::fs::metadata(&path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(PromoteError::Io(format!(
            "cannot replace {}: {e}",
            path.display()
        )));
    }
    let line = text[..offset].bytes().filter(|&b| b == b'\n').count() + 1;
    Ok(Promoted {
        file: rel,
        line,
        from: current.map(|c| c.name.clone()),
        to: wave.name.clone(),
    })
}
