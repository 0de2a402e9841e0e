//! `strongroom migrate`'s rule for each item of one kind, from the items' fingerprints on both
//! sides (a digest of everything the item holds, sealed bytes included): what the target lacks
//! is copied, what it has identically is left alone — so a migration run again after an
//! interruption continues where it stopped and never duplicates — and what it has otherwise is
//! never overwritten unless asked.

use std::collections::BTreeMap;

/// What to do with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The target lacks it.
    Copy,
    /// The target has it, identical.
    Skip,
    /// The target's differs, but is an unfinished copy of the source's (an interrupted
    /// migration's): finish it.
    Resume,
    /// The target's differs and `--overwrite` was given: replace it.
    Replace,
    /// The target's differs: left alone, reported.
    Conflict,
    /// Only the target has it and `--overwrite` was given: remove it (the target becomes a
    /// copy of the source).
    Remove,
    /// Only the target has it: left alone, reported.
    Extra,
}

/// The step for every item of one kind, by id: removals first (a removed item may hold a
/// name a copied one needs), then the source's items in its order. `unfinished(id)` says
/// whether the target's item — differing from the source's, or one the source lacks — is an
/// interrupted migration's own unfinished work (then it is finished, or removed, even without
/// `overwrite`).
pub fn plan<F: PartialEq>(
    source: &[(String, F)],
    target: &BTreeMap<String, F>,
    overwrite: bool,
    unfinished: impl Fn(&str) -> bool,
) -> Vec<(String, Step)> {
    let in_source: std::collections::BTreeSet<&str> =
        source.iter().map(|(id, _)| id.as_str()).collect();
    let mut out: Vec<(String, Step)> = target
        .keys()
        .filter(|id| !in_source.contains(id.as_str()))
        .map(|id| {
            let step = if overwrite || unfinished(id) {
                Step::Remove
            } else {
                Step::Extra
            };
            (id.clone(), step)
        })
        .collect();
    for (id, fingerprint) in source {
        let step = match target.get(id) {
            None => Step::Copy,
            Some(t) if t == fingerprint => Step::Skip,
            Some(_) if unfinished(id) => Step::Resume,
            Some(_) if overwrite => Step::Replace,
            Some(_) => Step::Conflict,
        };
        out.push((id.clone(), step));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(items: &[(&str, u8)]) -> Vec<(String, u8)> {
        items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
    fn dst(items: &[(&str, u8)]) -> BTreeMap<String, u8> {
        items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn missing_items_are_copied_and_identical_ones_skipped() {
        let p = plan(
            &src(&[("a", 1), ("b", 2)]),
            &dst(&[("a", 1)]),
            false,
            |_| false,
        );
        assert_eq!(p, vec![("a".into(), Step::Skip), ("b".into(), Step::Copy)]);
    }

    #[test]
    fn a_differing_item_is_a_conflict_unless_overwrite() {
        let p = plan(&src(&[("a", 1)]), &dst(&[("a", 9)]), false, |_| false);
        assert_eq!(p, vec![("a".into(), Step::Conflict)]);
        let p = plan(&src(&[("a", 1)]), &dst(&[("a", 9)]), true, |_| false);
        assert_eq!(p, vec![("a".into(), Step::Replace)]);
    }

    #[test]
    fn an_unfinished_copy_is_resumed_even_without_overwrite() {
        let p = plan(
            &src(&[("a", 1), ("b", 2)]),
            &dst(&[("a", 9), ("b", 8)]),
            false,
            |id| id == "a",
        );
        assert_eq!(
            p,
            vec![("a".into(), Step::Resume), ("b".into(), Step::Conflict)]
        );
    }

    #[test]
    fn target_only_items_are_reported_or_removed_first() {
        let p = plan(
            &src(&[("b", 2)]),
            &dst(&[("a", 1), ("b", 2)]),
            false,
            |_| false,
        );
        assert_eq!(p, vec![("a".into(), Step::Extra), ("b".into(), Step::Skip)]);
        let p = plan(&src(&[("b", 2)]), &dst(&[("a", 1)]), true, |_| false);
        assert_eq!(
            p,
            vec![("a".into(), Step::Remove), ("b".into(), Step::Copy)]
        );
        // A leftover of an interrupted run goes even without overwrite.
        let p = plan(&src(&[]), &dst(&[("a", 1), ("z", 1)]), false, |id| {
            id == "a"
        });
        assert_eq!(
            p,
            vec![("a".into(), Step::Remove), ("z".into(), Step::Extra)]
        );
    }
}
