//! Condition operators, their `IfExists` forms and the `ForAllValues:`/`ForAnyValue:`
//! set qualifiers, as the IAM reference defines them.

use std::net::IpAddr;

use crate::matching::{self, KeyLookup};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub base: Base,
    /// The `Not` forms (StringNotEquals, NotIpAddress, ArnNotLike, ...).
    pub negated: bool,
    pub if_exists: bool,
    pub qualifier: Option<Qualifier>,
}

impl Operator {
    /// Parse e.g. `ForAnyValue:StringNotLikeIfExists`. `None` for an unknown operator.
    pub fn parse(name: &str) -> Option<Self> {
        let (qualifier, rest) = match name.split_once(':') {
            Some(("ForAllValues", r)) => (Some(Qualifier::ForAllValues), r),
            Some(("ForAnyValue", r)) => (Some(Qualifier::ForAnyValue), r),
            Some(_) => return None,
            None => (None, name),
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        use Base::*;
        let (base, negated) = match rest {
            "StringEquals" => (StringEquals, false),
            "StringNotEquals" => (StringEquals, true),
            "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
            "StringLike" => (StringLike, false),
            "StringNotLike" => (StringLike, true),
            "NumericEquals" => (NumericEquals, false),
            "NumericNotEquals" => (NumericEquals, true),
            "NumericLessThan" => (NumericLessThan, false),
            "NumericLessThanEquals" => (NumericLessThanEquals, false),
            "NumericGreaterThan" => (NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
            "DateEquals" => (DateEquals, false),
            "DateNotEquals" => (DateEquals, true),
            "DateLessThan" => (DateLessThan, false),
            "DateLessThanEquals" => (DateLessThanEquals, false),
            "DateGreaterThan" => (DateGreaterThan, false),
            "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
            "Bool" => (Bool, false),
            "BinaryEquals" => (BinaryEquals, false),
            "IpAddress" => (IpAddress, false),
            "NotIpAddress" => (IpAddress, true),
            // ArnEquals and ArnLike behave the same: segment-wise, wildcards allowed.
            "ArnEquals" | "ArnLike" => (ArnLike, false),
            "ArnNotEquals" | "ArnNotLike" => (ArnLike, true),
            "Null" if !if_exists && qualifier.is_none() => (Null, false),
            _ => return None,
        };
        Some(Self {
            base,
            negated,
            if_exists,
            qualifier,
        })
    }
}

/// One `"Operator": {"key": [values]}` entry, with the key lowercased (keys are
/// case-insensitive) and values as strings (numbers and booleans are written as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    pub key: String,
    pub values: Vec<String>,
}

impl Condition {
    /// Whether the condition holds for the request's `keys`.
    pub fn holds(&self, keys: &dyn KeyLookup, variables: bool) -> bool {
        let request = keys.lookup(&self.key).filter(|v| !v.is_empty());
        let op = &self.operator;
        if op.base == Base::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return request.is_none() == want_absent;
        }
        let Some(request) = request else {
            return op.if_exists
                || op.qualifier == Some(Qualifier::ForAllValues)
                || (op.negated && op.qualifier.is_none());
        };
        // A request value "hits" when it matches any policy value under the base operator.
        let hit = |r: &str| {
            self.values
                .iter()
                .any(|p| base_match(op.base, r, p, keys, variables))
        };
        match (op.qualifier, op.negated) {
            (None | Some(Qualifier::ForAnyValue), false) => request.iter().any(&hit),
            (None, true) => !request.iter().any(&hit),
            (Some(Qualifier::ForAnyValue), true) => request.iter().any(|r| !hit(r)),
            (Some(Qualifier::ForAllValues), false) => request.iter().all(&hit),
            (Some(Qualifier::ForAllValues), true) => request.iter().all(|r| !hit(r)),
        }
    }
}

fn base_match(
    base: Base,
    request: &str,
    policy: &str,
    keys: &dyn KeyLookup,
    variables: bool,
) -> bool {
    use Base::*;
    match base {
        StringEquals | StringEqualsIgnoreCase | StringLike | ArnLike => {
            let Some(toks) = matching::compile(policy, keys, variables) else {
                return false;
            };
            match base {
                StringLike => matching::matches(&toks, request, false),
                ArnLike => matching::arn_matches(&toks, request),
                _ => {
                    let lit: Option<String> = toks
                        .iter()
                        .map(|t| match t {
                            matching::Tok::Lit(c) => Some(*c),
                            matching::Tok::Star => Some('*'),
                            matching::Tok::One => Some('?'),
                        })
                        .collect();
                    match (lit, base) {
                        (Some(l), StringEqualsIgnoreCase) => {
                            l.to_lowercase() == request.to_lowercase()
                        }
                        (Some(l), _) => l == request,
                        (None, _) => false,
                    }
                }
            }
        }
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => {
            let (Ok(r), Ok(p)) = (request.trim().parse::<f64>(), policy.trim().parse::<f64>())
            else {
                return false;
            };
            compare(base, r.partial_cmp(&p))
        }
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => {
            let (Some(r), Some(p)) = (parse_date(request), parse_date(policy)) else {
                return false;
            };
            compare(base, Some(r.cmp(&p)))
        }
        Bool => request.eq_ignore_ascii_case(policy),
        BinaryEquals => request == policy,
        IpAddress => ip_in_cidr(request, policy),
        Null => false,
    }
}

fn compare(base: Base, ord: Option<std::cmp::Ordering>) -> bool {
    use Base::*;
    use std::cmp::Ordering::*;
    match (base, ord) {
        (_, None) => false,
        (NumericEquals | DateEquals, Some(o)) => o == Equal,
        (NumericLessThan | DateLessThan, Some(o)) => o == Less,
        (NumericLessThanEquals | DateLessThanEquals, Some(o)) => o != Greater,
        (NumericGreaterThan | DateGreaterThan, Some(o)) => o == Greater,
        (NumericGreaterThanEquals | DateGreaterThanEquals, Some(o)) => o != Less,
        _ => false,
    }
}

/// ISO 8601 (`2024-01-02`, `2024-01-02T03:04:05Z`, with fractions or `+hh:mm`) or epoch
/// seconds, to milliseconds since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if s.as_bytes().get(4) != Some(&b'-')
        || s.as_bytes().get(7) != Some(&b'-')
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if s.len() == 10 {
        return Some(days * 86_400_000);
    }
    if !matches!(s.as_bytes().get(10), Some(b'T') | Some(b't') | Some(b' ')) {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = s.get(19..)?;
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        let padded = format!("{digits:0<3}");
        millis = padded.get(..3)?.parse().ok()?;
        rest = &frac[digits.len()..];
    }
    let offset_min = match rest {
        "" | "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 60 + o.get(4..6)?.parse::<i64>().ok()?)
        }
        _ => return None,
    };
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + millis)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn ip_in_cidr(ip: &str, cidr: &str) -> bool {
    let Ok(ip) = ip.trim().parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return false;
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return false;
            }
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::Keys;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition {
            operator: Operator::parse(op).unwrap_or_else(|| panic!("{op}")),
            key: key.to_ascii_lowercase(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn keys(pairs: &[(&str, &[&str])]) -> Keys {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn operator_names() {
        assert!(Operator::parse("StringEqualz").is_none());
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("Foo:StringEquals").is_none());
        let o = Operator::parse("ForAnyValue:StringNotLikeIfExists").unwrap();
        assert_eq!(
            (o.base, o.negated, o.if_exists, o.qualifier),
            (Base::StringLike, true, true, Some(Qualifier::ForAnyValue))
        );
    }

    #[test]
    fn strings_and_missing_keys() {
        let k = keys(&[("aws:ResourceTag/env", &["prod"])]);
        assert!(cond("StringEquals", "aws:ResourceTag/env", &["dev", "prod"]).holds(&k, true));
        assert!(!cond("StringEquals", "aws:ResourceTag/env", &["Prod"]).holds(&k, true));
        assert!(cond("StringEqualsIgnoreCase", "aws:ResourceTag/env", &["PROD"]).holds(&k, true));
        assert!(cond("StringLike", "aws:ResourceTag/env", &["p*"]).holds(&k, true));
        assert!(!cond("StringNotEquals", "aws:ResourceTag/env", &["prod"]).holds(&k, true));
        // Missing key: positive fails, IfExists passes, negated passes.
        assert!(!cond("StringEquals", "aws:ResourceTag/team", &["x"]).holds(&k, true));
        assert!(cond("StringEqualsIfExists", "aws:ResourceTag/team", &["x"]).holds(&k, true));
        assert!(cond("StringNotEquals", "aws:ResourceTag/team", &["x"]).holds(&k, true));
        assert!(cond("Null", "aws:ResourceTag/team", &["true"]).holds(&k, true));
        assert!(!cond("Null", "aws:ResourceTag/env", &["true"]).holds(&k, true));
        assert!(cond("Null", "aws:ResourceTag/env", &["false"]).holds(&k, true));
    }

    #[test]
    fn set_qualifiers() {
        let k = keys(&[("aws:TagKeys", &["env", "team"])]);
        assert!(
            cond(
                "ForAllValues:StringEquals",
                "aws:TagKeys",
                &["env", "team", "cost"]
            )
            .holds(&k, true)
        );
        assert!(!cond("ForAllValues:StringEquals", "aws:TagKeys", &["env"]).holds(&k, true));
        assert!(cond("ForAnyValue:StringEquals", "aws:TagKeys", &["team"]).holds(&k, true));
        assert!(!cond("ForAnyValue:StringEquals", "aws:TagKeys", &["cost"]).holds(&k, true));
        let none = keys(&[]);
        assert!(cond("ForAllValues:StringEquals", "aws:TagKeys", &["env"]).holds(&none, true));
        assert!(!cond("ForAnyValue:StringEquals", "aws:TagKeys", &["env"]).holds(&none, true));
    }

    #[test]
    fn numbers_dates_bools_ips_arns() {
        let k = keys(&[
            ("n", &["5"]),
            ("aws:CurrentTime", &["2024-06-01T12:00:00Z"]),
            ("aws:SecureTransport", &["true"]),
            ("aws:SourceIp", &["10.1.2.3"]),
            ("aws:PrincipalArn", &["arn:aws:iam::123456789012:role/app"]),
        ]);
        assert!(cond("NumericLessThan", "n", &["6"]).holds(&k, true));
        assert!(!cond("NumericGreaterThan", "n", &["5"]).holds(&k, true));
        assert!(cond("NumericGreaterThanEquals", "n", &["5"]).holds(&k, true));
        assert!(cond("DateLessThan", "aws:CurrentTime", &["2024-06-02"]).holds(&k, true));
        assert!(
            cond(
                "DateGreaterThan",
                "aws:CurrentTime",
                &["2024-06-01T11:59:59.999Z"]
            )
            .holds(&k, true)
        );
        assert!(cond("Bool", "aws:SecureTransport", &["true"]).holds(&k, true));
        assert!(!cond("Bool", "aws:SecureTransport", &["false"]).holds(&k, true));
        assert!(cond("IpAddress", "aws:SourceIp", &["10.0.0.0/8"]).holds(&k, true));
        assert!(!cond("IpAddress", "aws:SourceIp", &["192.168.0.0/16"]).holds(&k, true));
        assert!(cond("NotIpAddress", "aws:SourceIp", &["192.168.0.0/16"]).holds(&k, true));
        assert!(cond("ArnLike", "aws:PrincipalArn", &["arn:aws:iam::*:role/*"]).holds(&k, true));
        assert!(!cond("ArnLike", "aws:PrincipalArn", &["arn:aws:iam::*:user/*"]).holds(&k, true));
    }

    #[test]
    fn dates_parse() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(parse_date("86400"), Some(86_400_000));
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn variables_in_condition_values() {
        let k = keys(&[
            ("aws:username", &["alice"]),
            ("secretsmanager:ResourceTag/owner", &["alice"]),
        ]);
        assert!(
            cond(
                "StringEquals",
                "secretsmanager:ResourceTag/owner",
                &["${aws:username}"]
            )
            .holds(&k, true)
        );
        assert!(
            !cond(
                "StringEquals",
                "secretsmanager:ResourceTag/owner",
                &["${aws:username}"]
            )
            .holds(&k, false)
        );
    }
}
