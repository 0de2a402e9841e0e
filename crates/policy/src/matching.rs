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

/// Compile `pattern`, substituting `${key}` / `${key, 'default'}` from `keys` when
/// `variables` is set (policy version 2012-10-17). Returns `None` when a variable has no
/// value and no default: AWS then treats the element as not matching.
pub fn compile(pattern: &str, keys: &Keys, variables: bool) -> Option<Vec<Tok>> {
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
fn variable(inner: &str, keys: &Keys) -> Option<String> {
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\''))?;
            (k.trim(), Some(d))
        }
        None => (inner.trim(), None),
    };
    match keys.get(&key.to_ascii_lowercase()).and_then(|v| v.first()) {
        Some(v) => Some(v.clone()),
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
    // Iterative wildcard matching with a single backtrack point.
    let (mut p, mut t) = (0usize, 0usize);
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
    compile(pattern, &Keys::new(), false).is_some_and(|toks| matches(&toks, action, true))
}

/// ARN patterns: the five leading colon-separated segments are matched one by one (a
/// wildcard never spans a segment), the resource part (which may itself hold colons)
/// as a whole; case-sensitive. `*` alone matches everything.
pub fn arn_matches(pattern: &[Tok], arn: &str) -> bool {
    if pattern == [Tok::Star] {
        return true;
    }
    let mut p_parts: Vec<&[Tok]> = Vec::with_capacity(6);
    let mut start = 0;
    for (i, t) in pattern.iter().enumerate() {
        if *t == Tok::Lit(':') && p_parts.len() < 5 {
            p_parts.push(&pattern[start..i]);
            start = i + 1;
        }
    }
    p_parts.push(&pattern[start..]);
    let a_parts: Vec<&str> = arn.splitn(6, ':').collect();
    p_parts.len() == 6
        && a_parts.len() == 6
        && p_parts
            .iter()
            .zip(&a_parts)
            .all(|(p, a)| matches(p, a, false))
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
}
