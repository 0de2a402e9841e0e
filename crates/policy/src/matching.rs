//! Wildcards and policy variables.
//!
//! Patterns are compiled to tokens so that a literal `*` (from `${*}` or from a variable's
//! value) is never mistaken for a wildcard.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Lit(char),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Request values by lowercase condition key; also the source of policy variables.
pub type Keys = HashMap<String, Vec<String>>;

/// A condition key's values in one request: a list a key map owns, or a single value lent by
/// whatever knows the request (the global keys every request has are not copied into a map
/// for each request: most policies look at none of them).
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    Many(&'a [String]),
    One(&'a str),
}

impl<'a> Values<'a> {
    pub fn iter(self) -> impl Iterator<Item = &'a str> {
        let (many, one) = match self {
            Values::Many(v) => (v, None),
            Values::One(s) => (&[][..], Some(s)),
        };
        many.iter().map(String::as_str).chain(one)
    }

    pub fn first(self) -> Option<&'a str> {
        self.iter().next()
    }

    pub fn is_empty(self) -> bool {
        matches!(self, Values::Many([]))
    }
}

/// Where conditions and policy variables read a request's keys, by lowercase name.
pub trait KeyLookup: std::fmt::Debug {
    fn lookup(&self, key: &str) -> Option<Values<'_>>;
}

impl KeyLookup for Keys {
    fn lookup(&self, key: &str) -> Option<Values<'_>> {
        self.get(key).map(|v| Values::Many(v))
    }
}

/// No keys at all.
impl KeyLookup for () {
    fn lookup(&self, _: &str) -> Option<Values<'_>> {
        None
    }
}

/// Compile `pattern`, substituting `${key}` / `${key, 'default'}` from `keys` when
/// `variables` is set (policy version 2012-10-17). Returns `None` when a variable has no
/// value and no default: AWS then treats the element as not matching.
pub fn compile(pattern: &str, keys: &dyn KeyLookup, variables: bool) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if variables
            && rest.starts_with("${")
            && let Some(end) = rest.find('}')
        {
            {
                let inner = &rest[2..end];
                rest = &rest[end + 1..];
                match inner {
                    "*" => out.push(Tok::Lit('*')),
                    "?" => out.push(Tok::Lit('?')),
                    "$" => out.push(Tok::Lit('$')),
                    _ => {
                        let value = variable(inner, keys)?;
                        out.extend(value.chars().map(Tok::Lit));
                    }
                }
                continue;
            }
        }
        rest = &rest[c.len_utf8()..];
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
    }
    Some(out)
}

/// `${aws:username}` or `${aws:username, 'default'}`; keys are case-insensitive.
fn variable(inner: &str, keys: &dyn KeyLookup) -> Option<String> {
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\''))?;
            (k.trim(), Some(d))
        }
        None => (inner.trim(), None),
    };
    match keys
        .lookup(&key.to_ascii_lowercase())
        .and_then(Values::first)
    {
        Some(v) => Some(v.to_string()),
        None => default.map(str::to_string),
    }
}

/// Glob match over tokens; `fold` compares case-insensitively (actions). Walks the text by
/// byte offsets: no allocation on the hot path.
pub fn matches(pattern: &[Tok], text: &str, fold: bool) -> bool {
    let eq = |a: char, b: char| {
        a == b
            || (fold
                && if a.is_ascii() && b.is_ascii() {
                    a.eq_ignore_ascii_case(&b)
                } else {
                    a.to_lowercase().eq(b.to_lowercase())
                })
    };
    // Most patterns are a literal run with at most a trailing `*` (`secretsmanager:Get*`,
    // `arn:aws:...:secret:app-*`), and most mismatches are decided inside that run: compare it
    // byte by byte while both sides are ASCII (the general loop below decodes a char and
    // re-slices per step — most of the request's policy evaluation time, by profile).
    let bytes = text.as_bytes();
    let (mut p, mut t) = (0usize, 0usize);
    while let Some(Tok::Lit(l)) = pattern.get(p) {
        let (Ok(l), Some(&b)) = (u8::try_from(*l), bytes.get(t)) else {
            break;
        };
        // A non-ASCII char of the text may still fold to an ASCII literal (K, U+212A, is
        // `k`): the general loop decides from here.
        if !l.is_ascii() || !b.is_ascii() {
            break;
        }
        if l != b && !(fold && l.eq_ignore_ascii_case(&b)) {
            return false;
        }
        p += 1;
        t += 1;
    }
    match &pattern[p..] {
        [] if t == text.len() => return true,
        [Tok::Star] => return true,
        _ => {}
    }
    // Iterative wildcard matching with a single backtrack point, from where the literal run
    // ended (it held no wildcard to backtrack to).
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while let Some(c) = text[t..].chars().next() {
        match pattern.get(p) {
            Some(Tok::One) => {
                p += 1;
                t += c.len_utf8();
            }
            Some(Tok::Lit(l)) if eq(*l, c) => {
                p += 1;
                t += c.len_utf8();
            }
            Some(Tok::Star) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += text[mark..].chars().next().map_or(1, char::len_utf8);
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|t| *t == Tok::Star)
}

/// Action patterns (`secretsmanager:Get*`): case-insensitive.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    compile(pattern, &(), false).is_some_and(|toks| matches(&toks, action, true))
}

/// ARN patterns: the five leading colon-separated segments are matched one by one (a
/// wildcard never spans a segment), the resource part (which may itself hold colons)
/// as a whole; case-sensitive. `*` alone matches everything.
pub fn arn_matches(pattern: &[Tok], arn: &str) -> bool {
    if pattern == [Tok::Star] {
        return true;
    }
    // Segment by segment as the text splits, without collecting either side (this runs for
    // every statement whose action matched).
    let mut rest = pattern;
    let mut segments = arn.splitn(6, ':');
    for i in 0..6 {
        let Some(text) = segments.next() else {
            return false;
        };
        let part = if i < 5 {
            let Some(at) = rest.iter().position(|t| *t == Tok::Lit(':')) else {
                return false;
            };
            let part = &rest[..at];
            rest = &rest[at + 1..];
            part
        } else {
            rest
        };
        if !matches(part, text, false) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> Keys {
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), vec![v.to_string()]))
            .collect()
    }

    fn m(p: &str, t: &str) -> bool {
        matches(&compile(p, &Keys::new(), true).unwrap(), t, false)
    }

    #[test]
    fn globs() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*c", "abbbc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "ab"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*-test-*", "svc-test-config"));
        assert!(!m("*-test-*", "svc-prod-config"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("abc", "ABC"));
    }

    #[test]
    fn actions_fold_case() {
        assert!(action_matches(
            "secretsmanager:Get*",
            "secretsmanager:GetSecretValue"
        ));
        assert!(action_matches(
            "SecretsManager:getsecretvalue",
            "secretsmanager:GetSecretValue"
        ));
        assert!(action_matches("*", "kms:Decrypt"));
        assert!(!action_matches(
            "secretsmanager:Get*",
            "secretsmanager:PutSecretValue"
        ));
        assert!(action_matches(
            "secretsmanager:*Secret*",
            "secretsmanager:DescribeSecret"
        ));
    }

    #[test]
    fn arns_match_segment_by_segment() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:svc-test-cfg-AbCdEf";
        let p = |s: &str| compile(s, &Keys::new(), true).unwrap();
        assert!(arn_matches(&p("*"), arn));
        assert!(arn_matches(
            &p("arn:aws:secretsmanager:*:*:secret:*-test-*"),
            arn
        ));
        assert!(arn_matches(
            &p("arn:aws:secretsmanager:us-east-1:123456789012:secret:svc-test-cfg-??????"),
            arn
        ));
        assert!(!arn_matches(
            &p("arn:aws:secretsmanager:*:*:secret:*-prod-*"),
            arn
        ));
        assert!(
            !arn_matches(&p("arn:aws:*"), arn),
            "a wildcard does not span segments"
        );
        assert!(!arn_matches(
            &p("arn:aws:secretsmanager:us-east-1:123456789012:secret:SVC-*"),
            arn
        ));
    }

    #[test]
    fn variables() {
        let k = keys(&[("aws:username", "alice")]);
        let toks = compile("arn:aws:iam::1:user/${aws:username}", &k, true).unwrap();
        assert!(matches(&toks, "arn:aws:iam::1:user/alice", false));
        assert!(
            compile("${aws:PrincipalTag/team}", &k, true).is_none(),
            "missing variable"
        );
        let d = compile("${aws:PrincipalTag/team, 'none'}", &k, true).unwrap();
        assert!(matches(&d, "none", false));
        let lit = compile("a${*}b", &k, true).unwrap();
        assert!(matches(&lit, "a*b", false));
        assert!(!matches(&lit, "axb", false), "${{*}} is a literal asterisk");
        let nov = compile("${aws:username}", &k, false).unwrap();
        assert!(
            matches(&nov, "${aws:username}", false),
            "2008-10-17 policies have no variables"
        );
        let star_value = compile("${aws:username}", &keys(&[("aws:username", "*")]), true).unwrap();
        assert!(
            !matches(&star_value, "bob", false),
            "a variable's value is literal"
        );
    }

    /// The plain definition the fast paths must agree with: a recursive glob over chars,
    /// folding case as `char::to_lowercase` does.
    fn reference(p: &[Tok], t: &[char], fold: bool) -> bool {
        let eq = |a: char, b: char| a == b || (fold && a.to_lowercase().eq(b.to_lowercase()));
        match p.split_first() {
            None => t.is_empty(),
            Some((Tok::Star, rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..], fold)),
            Some((Tok::One, rest)) => !t.is_empty() && reference(rest, &t[1..], fold),
            Some((Tok::Lit(l), rest)) => {
                t.first().is_some_and(|c| eq(*l, *c)) && reference(rest, &t[1..], fold)
            }
        }
    }

    /// ARN matching as first written: both sides split into their six segments.
    fn arn_reference(pattern: &[Tok], arn: &str) -> bool {
        if pattern == [Tok::Star] {
            return true;
        }
        let p: Vec<&[Tok]> = pattern.split(|t| *t == Tok::Lit(':')).collect();
        let a: Vec<&str> = arn.splitn(6, ':').collect();
        if p.len() < 6 || a.len() != 6 {
            return false;
        }
        // The resource part keeps its colons.
        let mut at = 0;
        for part in &p[..5] {
            at += part.len() + 1;
        }
        p[..5].iter().zip(&a).all(|(p, a)| matches(p, a, false))
            && reference(&pattern[at..], &a[5].chars().collect::<Vec<_>>(), false)
    }

    // Few distinct characters, so that patterns and texts often share prefixes; `K` (the
    // Kelvin sign) folds to an ASCII `k`, `é` is Latin-1 but not ASCII.
    const ALPHABET: &[char] = &['a', 'A', 'b', 'k', 'K', '\u{212A}', 'é', ':', '-'];

    fn arb_text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(ALPHABET), 0..10)
            .prop_map(|v| v.into_iter().collect())
    }

    fn arb_pattern() -> impl proptest::strategy::Strategy<Value = Vec<Tok>> {
        use proptest::prelude::*;
        let tok = prop_oneof![
            6 => proptest::sample::select(ALPHABET).prop_map(Tok::Lit),
            1 => Just(Tok::Star),
            1 => Just(Tok::One),
        ];
        proptest::collection::vec(tok, 0..8)
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn matching_agrees_with_the_plain_definition(p in arb_pattern(), t in arb_text(), fold in any::<bool>()) {
            let chars: Vec<char> = t.chars().collect();
            prop_assert_eq!(matches(&p, &t, fold), reference(&p, &chars, fold));
        }

        #[test]
        fn arn_matching_agrees_with_splitting_both_sides(p in arb_pattern(), t in arb_text(), colons in 0usize..7) {
            // Enough colons on both sides to reach the segment rule often.
            let pattern: Vec<Tok> = std::iter::repeat_n(Tok::Lit(':'), colons).chain(p).collect();
            let arn = format!("{}{t}", ":".repeat(colons));
            prop_assert_eq!(arn_matches(&pattern, &arn), arn_reference(&pattern, &arn));
        }
    }
}
