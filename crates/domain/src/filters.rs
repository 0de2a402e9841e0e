//! ListSecrets (and BatchGetSecretValue) filters, and ListSecrets sorting.
//!
//! Matching, per key (API reference `Filter`, user guide "Find secrets", and moto's tests run
//! against real AWS):
//! - `name`, `tag-key`, `tag-value`, `primary-region`, `owning-service`: case-sensitive prefix
//!   of the whole string (`tag-key: Prod` matches `Production`, not `prod` or `1 Prod`);
//! - `description`: the API reference says "prefix match, not case-sensitive", but the user
//!   guide and observed AWS behaviour are word matching: the value is split into words and
//!   every word must be a prefix of some word of the description, case-insensitively
//!   (`My Description` matches "Description of my secret"; `o t` matches "one two");
//! - `all`: the same word matching over the name, description, tag keys and tag values
//!   together;
//! - words split at anything not alphanumeric, at lower→upper case changes, between letters
//!   and digits, and before the last capital of an acronym followed by lowercase
//!   (`credsDatabase#892` → creds, Database, 892; `COMPANYthings` → COMPAN, Ythings);
//! - a value starting with `!` negates; the values of one filter are OR'd, filters are AND'd.
//!
//! Sorting: SortBy is `created-date` (the documented default), `last-accessed-date`,
//! `last-changed-date` or `name`; SortOrder `asc` or `desc`. The web console also sorts by
//! `description` and `next-rotation-date` ([`SortBy::parse_console`]): never ListSecrets
//! values, whose wire enum stays AWS's.

use std::cmp::Ordering;

pub const MAX_FILTERS: usize = 10;
pub const MAX_FILTER_VALUES: usize = 10;
pub const MAX_FILTER_VALUE_LEN: usize = 512;
pub const FILTER_VALUE_PATTERN: &str = r"^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$";

/// The attributes of a secret that filters look at.
#[derive(Debug, Clone, Copy)]
pub struct FilterView<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// (key, value) pairs.
    pub tags: &'a [(String, String)],
    pub primary_region: Option<&'a str>,
    pub owning_service: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterKey {
    Description,
    Name,
    TagKey,
    TagValue,
    PrimaryRegion,
    OwningService,
    All,
}

impl FilterKey {
    /// In FilterNameStringType's order.
    pub const ALL: [FilterKey; 7] = [
        FilterKey::Description,
        FilterKey::Name,
        FilterKey::TagKey,
        FilterKey::TagValue,
        FilterKey::PrimaryRegion,
        FilterKey::OwningService,
        FilterKey::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FilterKey::Description => "description",
            FilterKey::Name => "name",
            FilterKey::TagKey => "tag-key",
            FilterKey::TagValue => "tag-value",
            FilterKey::PrimaryRegion => "primary-region",
            FilterKey::OwningService => "owning-service",
            FilterKey::All => "all",
        }
    }

    /// Exact, case-sensitive, as the wire enum is.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub key: FilterKey,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// ValidationException (FiltersListType max 10)
    #[error(
        "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to {MAX_FILTERS}"
    )]
    TooManyFilters,
    /// InvalidParameterException (moto's wording for a filter without Key; an empty key is
    /// taken to be a missing one)
    #[error("Invalid filter key")]
    MissingKey,
    /// ValidationException. `index` is 1-based, as Coral reports member paths.
    #[error(
        "1 validation error detected: Value '{key}' at 'filters.{index}.member.key' failed to satisfy constraint: Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]"
    )]
    UnknownKey { index: usize, key: String },
    /// InvalidParameterException (moto's wording for a filter without Values)
    #[error("Invalid filter values for key: {key}")]
    MissingValues { key: &'static str },
    /// ValidationException (FilterValuesStringList max 10)
    #[error(
        "1 validation error detected: Value at 'filters.{index}.member.values' failed to satisfy constraint: Member must have length less than or equal to {MAX_FILTER_VALUES}"
    )]
    TooManyValues { index: usize },
    /// ValidationException: a value longer than 512 or outside the allowed characters.
    /// The values are not echoed.
    #[error(
        "1 validation error detected: Value at 'filters.{index}.member.values' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to {MAX_FILTER_VALUE_LEN}, Member must satisfy regular expression pattern: {FILTER_VALUE_PATTERN}]"
    )]
    InvalidValue { index: usize },
    /// ValidationException
    #[error(
        "1 validation error detected: Value '{0}' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]"
    )]
    UnknownSortBy(String),
    /// ValidationException
    #[error(
        "1 validation error detected: Value '{0}' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]"
    )]
    UnknownSortOrder(String),
}

/// FilterValueStringType's pattern, by hand: the optional leading `!` is redundant with `!`
/// being in the class, so this is just a character set.
fn is_filter_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c)
}

/// Validate raw `(Key, Values)` pairs. Checks run in Coral's order: list sizes, then each
/// filter's key, then its values. An empty `Values` list is reported as a missing one.
pub fn parse_filters(raw: &[(String, Vec<String>)]) -> Result<Vec<Filter>, FilterError> {
    if raw.len() > MAX_FILTERS {
        return Err(FilterError::TooManyFilters);
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, (key, values)) in raw.iter().enumerate() {
        let index = i + 1;
        if key.is_empty() {
            return Err(FilterError::MissingKey);
        }
        let key = FilterKey::parse(key).ok_or_else(|| FilterError::UnknownKey {
            index,
            key: key.clone(),
        })?;
        if values.is_empty() {
            return Err(FilterError::MissingValues { key: key.as_str() });
        }
        if values.len() > MAX_FILTER_VALUES {
            return Err(FilterError::TooManyValues { index });
        }
        let bad = values.iter().any(|v| {
            v.chars().count() > MAX_FILTER_VALUE_LEN || !v.chars().all(is_filter_value_char)
        });
        if bad {
            return Err(FilterError::InvalidValue { index });
        }
        out.push(Filter {
            key,
            values: values.clone(),
        });
    }
    Ok(out)
}

/// A prefix every secret passing `filters` has in the `key` attribute (for an index range):
/// the longest single, positive value among the filters of that key. `None` when no filter
/// narrows the key that way (values are OR'd, so several values give no one prefix).
pub fn index_prefix(filters: &[Filter], key: FilterKey) -> Option<&str> {
    filters
        .iter()
        .filter(|f| f.key == key)
        .filter_map(|f| match f.values.as_slice() {
            [v] if !v.starts_with('!') && !v.is_empty() => Some(v.as_str()),
            _ => None,
        })
        .max_by_key(|v| v.len())
}

/// Whether the secret passes every filter (AND); no filters pass everything.
pub fn matches(filters: &[Filter], s: &FilterView) -> bool {
    filters.iter().all(|f| filter_matches(f, s))
}

/// One filter: its values are OR'd. A `!value` is satisfied by a secret that does *not*
/// match `value`, so `["!a", "!b"]` keeps everything that lacks `a` or lacks `b`.
fn filter_matches(f: &Filter, s: &FilterView) -> bool {
    f.values.iter().any(|v| match v.strip_prefix('!') {
        Some(pattern) => !value_matches(f.key, pattern, s),
        None => value_matches(f.key, v, s),
    })
}

fn value_matches(key: FilterKey, pattern: &str, s: &FilterView) -> bool {
    match key {
        FilterKey::Name => s.name.starts_with(pattern),
        FilterKey::TagKey => s.tags.iter().any(|(k, _)| k.starts_with(pattern)),
        FilterKey::TagValue => s.tags.iter().any(|(_, v)| v.starts_with(pattern)),
        FilterKey::PrimaryRegion => s.primary_region.is_some_and(|r| r.starts_with(pattern)),
        FilterKey::OwningService => s.owning_service.is_some_and(|o| o.starts_with(pattern)),
        FilterKey::Description => words_match(pattern, s.description.into_iter()),
        FilterKey::All => {
            let texts = std::iter::once(s.name)
                .chain(s.description)
                .chain(s.tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]));
            words_match(pattern, texts)
        }
    }
}

/// Every word of `pattern` is a case-insensitive prefix of some word of `texts`. A pattern
/// with no words (e.g. `+`) matches nothing, as observed on AWS.
fn words_match<'a>(pattern: &str, texts: impl Iterator<Item = &'a str>) -> bool {
    let wanted = words(pattern);
    if wanted.is_empty() {
        return false;
    }
    let have: Vec<String> = texts.flat_map(words).collect();
    wanted
        .iter()
        .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
}

/// Split `s` into lowercased words (see the module docs for where words break).
pub fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if i > 0 && chars[i - 1].is_alphanumeric() {
            let prev = chars[i - 1];
            let next = chars.get(i + 1).copied();
            let camel = prev.is_lowercase() && c.is_uppercase();
            let digit_edge = prev.is_numeric() != c.is_numeric();
            let acronym_end =
                prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
            if (camel || digit_edge || acronym_end) && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// ListSecrets' SortBy (SortByType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortBy {
    /// The documented default: "If not specified, secrets are listed by CreatedDate."
    #[default]
    CreatedDate,
    LastAccessedDate,
    LastChangedDate,
    Name,
    /// The console's: by description (none as empty), bytes not locale.
    Description,
    /// The console's: by NextRotationDate; secrets without one last in either order.
    NextRotationDate,
}

impl SortBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::CreatedDate => "created-date",
            SortBy::LastAccessedDate => "last-accessed-date",
            SortBy::LastChangedDate => "last-changed-date",
            SortBy::Name => "name",
            SortBy::Description => "description",
            SortBy::NextRotationDate => "next-rotation-date",
        }
    }

    pub fn parse(s: &str) -> Result<Self, FilterError> {
        [
            SortBy::CreatedDate,
            SortBy::LastAccessedDate,
            SortBy::LastChangedDate,
            SortBy::Name,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
        .ok_or_else(|| FilterError::UnknownSortBy(s.to_string()))
    }

    /// The console's sorts: ListSecrets' and [`SortBy::Description`],
    /// [`SortBy::NextRotationDate`].
    pub fn parse_console(s: &str) -> Result<Self, FilterError> {
        [SortBy::Description, SortBy::NextRotationDate]
            .into_iter()
            .find(|b| b.as_str() == s)
            .map_or_else(|| Self::parse(s), Ok)
    }
}

/// ListSecrets' SortOrder (SortOrderType). The model gives no default; AWS lists in creation
/// order (oldest first) when none is given, as recordings against live AWS show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }

    pub fn parse(s: &str) -> Result<Self, FilterError> {
        match s {
            "asc" => Ok(SortOrder::Asc),
            "desc" => Ok(SortOrder::Desc),
            _ => Err(FilterError::UnknownSortOrder(s.to_string())),
        }
    }
}

/// How much of a description sorting looks at: an index entry must stay under PostgreSQL's
/// B-tree limit (~2.7 kB; a description may be 2,048 characters of up to 4 bytes each).
pub const DESCRIPTION_SORT_CHARS: usize = 200;

/// What [`SortBy::Description`] orders by: the description's first
/// [`DESCRIPTION_SORT_CHARS`] characters ("" for none); ties break by name.
pub fn description_sort_key(description: Option<&str>) -> &str {
    let d = description.unwrap_or_default();
    match d.char_indices().nth(DESCRIPTION_SORT_CHARS) {
        Some((end, _)) => &d[..end],
        None => d,
    }
}

/// The attributes of a secret that sorting looks at. Times are ms since the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub struct SortView<'a> {
    pub name: &'a str,
    /// Unique: the final tie-break, so pages never shuffle between calls.
    pub arn: &'a str,
    pub created_ms: i64,
    pub last_accessed_ms: Option<i64>,
    pub last_changed_ms: Option<i64>,
    pub description: Option<&'a str>,
    /// NextRotationDate: `None` when rotation is off.
    pub next_rotation_ms: Option<i64>,
}

/// A total order for ListSecrets: by `by` in `order`; a missing date sorts as older than any
/// date; ties break by name then ARN, in the same direction.
pub fn compare(by: SortBy, order: SortOrder, a: &SortView, b: &SortView) -> Ordering {
    let primary = match by {
        SortBy::CreatedDate => a.created_ms.cmp(&b.created_ms),
        // None < Some(_): never-accessed / never-changed secrets count as oldest.
        SortBy::LastAccessedDate => a.last_accessed_ms.cmp(&b.last_accessed_ms),
        SortBy::LastChangedDate => a.last_changed_ms.cmp(&b.last_changed_ms),
        SortBy::Name => Ordering::Equal,
        SortBy::Description => {
            description_sort_key(a.description).cmp(description_sort_key(b.description))
        }
        // Secrets that do not rotate come last whatever the order.
        SortBy::NextRotationDate => match (a.next_rotation_ms, b.next_rotation_ms) {
            (Some(x), Some(y)) => x.cmp(&y),
            (None, None) => Ordering::Equal,
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
        },
    };
    let ord = primary
        .then_with(|| a.name.cmp(b.name))
        .then_with(|| a.arn.cmp(b.arn));
    match order {
        SortOrder::Asc => ord,
        SortOrder::Desc => ord.reverse(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(key: &str, values: &[&str]) -> (String, Vec<String>) {
        (
            key.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        )
    }

    fn f(key: FilterKey, values: &[&str]) -> Filter {
        Filter {
            key,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    struct S {
        name: &'static str,
        description: Option<&'static str>,
        tags: Vec<(String, String)>,
        region: Option<&'static str>,
        owner: Option<&'static str>,
    }

    impl S {
        fn new(name: &'static str) -> Self {
            S {
                name,
                description: None,
                tags: vec![],
                region: None,
                owner: None,
            }
        }
        fn desc(mut self, d: &'static str) -> Self {
            self.description = Some(d);
            self
        }
        fn tag(mut self, k: &str, v: &str) -> Self {
            self.tags.push((k.into(), v.into()));
            self
        }
        fn view(&self) -> FilterView<'_> {
            FilterView {
                name: self.name,
                description: self.description,
                tags: &self.tags,
                primary_region: self.region,
                owning_service: self.owner,
            }
        }
    }

    fn names<'a>(secrets: &'a [S], filters: &[Filter]) -> Vec<&'a str> {
        secrets
            .iter()
            .filter(|s| matches(filters, &s.view()))
            .map(|s| s.name)
            .collect()
    }

    #[test]
    fn parse_accepts_every_key() {
        for key in FilterKey::ALL {
            let parsed = parse_filters(&[raw(key.as_str(), &["x"])]).unwrap();
            assert_eq!(parsed, vec![f(key, &["x"])]);
        }
        assert_eq!(parse_filters(&[]), Ok(vec![]));
    }

    #[test]
    fn parse_errors() {
        let err = parse_filters(&[raw("name", &["a"]), raw("Name", &["a"])]).unwrap_err();
        assert_eq!(
            err,
            FilterError::UnknownKey {
                index: 2,
                key: "Name".into()
            }
        );
        assert!(err.to_string().contains("'filters.2.member.key'"));
        assert!(err.to_string().contains("owning-service"));
        assert_eq!(
            parse_filters(&[raw("", &["a"])]),
            Err(FilterError::MissingKey)
        );
        let err = parse_filters(&[raw("description", &[])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid filter values for key: description"
        );
        let eleven: Vec<(String, Vec<String>)> = (0..11).map(|_| raw("name", &["a"])).collect();
        assert_eq!(parse_filters(&eleven), Err(FilterError::TooManyFilters));
        assert!(parse_filters(&eleven[..10]).is_ok());
        let vals: Vec<&str> = vec!["a"; 11];
        assert_eq!(
            parse_filters(&[raw("name", &vals)]),
            Err(FilterError::TooManyValues { index: 1 })
        );
        assert!(parse_filters(&[raw("name", &vals[..10])]).is_ok());
        let long = "a".repeat(513);
        assert_eq!(
            parse_filters(&[raw("name", &[&long])]),
            Err(FilterError::InvalidValue { index: 1 })
        );
        assert!(parse_filters(&[raw("name", &[&"a".repeat(512)])]).is_ok());
        for bad in ["a#b", "a*", "é", "a,b", "a\tb"] {
            assert_eq!(
                parse_filters(&[raw("all", &[bad])]),
                Err(FilterError::InvalidValue { index: 1 }),
                "{bad:?}"
            );
        }
        for good in ["", "!", "!prod", "a b:c_d@e/f+g=h.i-j!k", "!!x"] {
            assert!(parse_filters(&[raw("all", &[good])]).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn index_prefix_is_implied_by_the_filters() {
        let name = |v: &[&str]| f(FilterKey::Name, v);
        assert_eq!(index_prefix(&[], FilterKey::Name), None);
        assert_eq!(
            index_prefix(&[name(&["prod/"])], FilterKey::Name),
            Some("prod/")
        );
        // OR'd values, negations and other keys imply no prefix.
        assert_eq!(index_prefix(&[name(&["a", "b"])], FilterKey::Name), None);
        assert_eq!(index_prefix(&[name(&["!a"])], FilterKey::Name), None);
        assert_eq!(
            index_prefix(&[f(FilterKey::TagKey, &["a"])], FilterKey::Name),
            None
        );
        // Filters AND: the longest prefix holds for every secret passing them.
        assert_eq!(
            index_prefix(
                &[name(&["p"]), name(&["!x"]), name(&["prod"])],
                FilterKey::Name
            ),
            Some("prod")
        );
        // Whatever passes the filters has the prefix.
        let secrets = [S::new("prod/a"), S::new("pro"), S::new("dev/prod")];
        let filters = [name(&["prod"])];
        let p = index_prefix(&filters, FilterKey::Name).unwrap();
        assert!(names(&secrets, &filters).iter().all(|n| n.starts_with(p)));
    }

    #[test]
    fn name_is_a_case_sensitive_prefix() {
        // The user guide's example.
        let secrets = [
            S::new("DatabaseSecret"),
            S::new("databaseSecret"),
            S::new("MyData"),
        ];
        assert_eq!(
            names(&secrets, &[f(FilterKey::Name, &["Data"])]),
            ["DatabaseSecret"]
        );
        let secrets = [S::new("foo"), S::new("bar"), S::new("baz")];
        assert_eq!(
            names(&secrets, &[f(FilterKey::Name, &["foo", "bar"])]),
            ["foo", "bar"]
        );
        assert_eq!(
            names(&secrets, &[f(FilterKey::Name, &["ba"])]),
            ["bar", "baz"]
        );
    }

    #[test]
    fn tag_filters_are_case_sensitive_prefixes_of_the_whole_string() {
        // The user guide's example: Prod matches Production and Prod1, not prod or "1 Prod".
        let secrets = [
            S::new("a").tag("Production", "x"),
            S::new("b").tag("Prod1", "x"),
            S::new("c").tag("prod", "x"),
            S::new("d").tag("1 Prod", "x"),
            S::new("e"),
        ];
        assert_eq!(
            names(&secrets, &[f(FilterKey::TagKey, &["Prod"])]),
            ["a", "b"]
        );
        let secrets = [
            S::new("a").tag("k", "Production"),
            S::new("b").tag("Prod1", "prod"),
            S::new("c").tag("x", "1 Prod"),
        ];
        assert_eq!(names(&secrets, &[f(FilterKey::TagValue, &["Prod"])]), ["a"]);
    }

    #[test]
    fn multiple_filters_and() {
        let secrets = [
            S::new("foo").tag("right", "right"),
            S::new("bar").tag("right", "wrong"),
            S::new("baz").tag("wrong", "right"),
            S::new("qux").tag("wrong", "wrong"),
        ];
        let filters = [
            f(FilterKey::TagKey, &["right"]),
            f(FilterKey::TagValue, &["right"]),
        ];
        assert_eq!(names(&secrets, &filters), ["foo"]);
        assert_eq!(names(&secrets, &[]).len(), 4);
    }

    #[test]
    fn description_matches_words_case_insensitively() {
        // The user guide's example.
        let secrets = [
            S::new("a").desc("My Description"),
            S::new("b").desc("my description"),
            S::new("c").desc("My basic description"),
            S::new("d").desc("Description of my secret"),
            S::new("e").desc("Mystery"),
            S::new("f"),
        ];
        assert_eq!(
            names(&secrets, &[f(FilterKey::Description, &["My Description"])]),
            ["a", "b", "c", "d"]
        );
        // moto's AWS-verified cases.
        let secrets = [
            S::new("foo").desc("one two"),
            S::new("bar").desc("one and two"),
            S::new("baz").desc("one"),
            S::new("qux").desc("two"),
            S::new("none").desc("unrelated"),
        ];
        let d = |v: &[&str]| names(&secrets, &[f(FilterKey::Description, v)]);
        assert_eq!(d(&["one two"]), ["foo", "bar"]);
        assert_eq!(d(&["o t"]), ["foo", "bar"]);
        assert_eq!(d(&["t"]), ["foo", "bar", "qux"]);
        // Two description filters AND (AWS-verified too).
        let both = [
            f(FilterKey::Description, &["one"]),
            f(FilterKey::Description, &["two"]),
        ];
        assert_eq!(names(&secrets, &both), ["foo", "bar"]);
    }

    #[test]
    fn negation() {
        let secrets = [
            S::new("foo").desc("one two"),
            S::new("bar").desc("one and two"),
            S::new("baz").desc("one"),
            S::new("qux").desc("two"),
            S::new("none").desc("unrelated"),
            S::new("nodesc"),
        ];
        let d = |v: &[&str]| names(&secrets, &[f(FilterKey::Description, v)]);
        assert_eq!(d(&["!o"]), ["qux", "none", "nodesc"]);
        assert_eq!(d(&["one", "!two"]), ["foo", "bar", "baz", "none", "nodesc"]);
        let secrets = [S::new("prod/a"), S::new("dev/a"), S::new("test/a")];
        assert_eq!(
            names(&secrets, &[f(FilterKey::Name, &["!prod"])]),
            ["dev/a", "test/a"]
        );
        // Excluding two prefixes takes two filters (values OR, filters AND).
        let two = [
            f(FilterKey::Name, &["!prod"]),
            f(FilterKey::Name, &["!dev"]),
        ];
        assert_eq!(names(&secrets, &two), ["test/a"]);
        // A secret without tags has no tag key starting with anything.
        let secrets = [S::new("t").tag("team", "x"), S::new("u")];
        assert_eq!(names(&secrets, &[f(FilterKey::TagKey, &["!team"])]), ["u"]);
    }

    #[test]
    fn all_searches_every_attribute_by_words() {
        // moto's AWS-verified `test_with_all_filter`, with a fixed unique part.
        let u = "x9q";
        let first = format!("SecretOne{u}");
        let second = format!("SecretTwo{u}");
        let third = format!("Thirdsecret{u}");
        let tag_key = format!("SecretFTag{u}");
        let tag_val = format!("SecretFValue{u}");
        let no = format!("none{u}");
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let secrets = [
            S::new(leak(first.clone())),
            S::new(leak(second.clone())).desc("DescTwo"),
            S::new(leak(third.clone())),
            S::new(leak(tag_key.clone())).tag("1", "foo"),
            S::new(leak(tag_val.clone())).tag("foo", "v"),
            S::new(leak(no)),
        ];
        let all = |v: &[&str]| names(&secrets, &[f(FilterKey::All, v)]);
        assert_eq!(all(&["SecretOne"]), [first.as_str()]);
        assert_eq!(all(&["foo"]), [tag_key.as_str(), tag_val.as_str()]);
        let four = [
            first.as_str(),
            second.as_str(),
            tag_key.as_str(),
            tag_val.as_str(),
        ];
        assert_eq!(all(&["Secret"]), four);
        assert_eq!(all(&["secret"]), four);
        assert_eq!(all(&["sec"]), four);
        assert!(all(&["ret"]).is_empty());
        assert!(all(&["SomeSecret"]).is_empty());
        assert_eq!(all(&["d"]), [second.as_str()]);
        assert_eq!(all(&["d t"]), [second.as_str()]);
        assert_eq!(
            all(&["t"]),
            [second.as_str(), third.as_str(), tag_key.as_str()]
        );
    }

    #[test]
    fn all_with_special_characters() {
        // moto's AWS-verified `test_with_all_filter_special_characters`.
        let with_sep: Vec<&'static str> = vec![
            "prod/AppBeta/f00",
            "prod_AppBeta_f00",
            "prod+AppBeta+f00",
            "prod=AppBeta=f00",
            "prod.AppBeta.f00",
            "prod@AppBeta@f00",
            "prod-AppBeta-f00",
        ];
        let mut secrets: Vec<S> = with_sep.iter().map(|n| S::new(n)).collect();
        secrets.push(S::new("uat/COMPANY/f00"));
        secrets.push(S::new("uat/COMPANYthings/f00"));
        let all = |v: &[&str]| names(&secrets, &[f(FilterKey::All, v)]);
        assert_eq!(all(&["AppBeta"]), with_sep);
        assert_eq!(all(&["Beta"]), with_sep);
        assert_eq!(all(&["AppBeta", "prod"]), with_sep);
        assert!(all(&["+"]).is_empty());
        assert_eq!(all(&["f00"]).len(), 9);
        assert_eq!(all(&["company"]), ["uat/COMPANY/f00"]);
        assert!(all(&["things"]).is_empty());
        assert_eq!(all(&["Ythings"]), ["uat/COMPANYthings/f00"]);
        assert!(all(&["N"]).is_empty());
        assert!(all(&["pany"]).is_empty());
    }

    #[test]
    fn region_and_owning_service() {
        let mut a = S::new("a");
        a.region = Some("us-east-1");
        a.owner = Some("rds");
        let b = S::new("b");
        let secrets = [a, b];
        assert_eq!(
            names(&secrets, &[f(FilterKey::PrimaryRegion, &["us-east"])]),
            ["a"]
        );
        assert!(names(&secrets, &[f(FilterKey::PrimaryRegion, &["US"])]).is_empty());
        assert_eq!(
            names(&secrets, &[f(FilterKey::OwningService, &["rds"])]),
            ["a"]
        );
        assert!(names(&secrets, &[f(FilterKey::OwningService, &["n/a"])]).is_empty());
    }

    #[test]
    fn word_splitting() {
        let w = |s: &str| words(s);
        assert_eq!(w("credsDatabase#892"), ["creds", "database", "892"]);
        assert_eq!(w("MyTestPhrase"), ["my", "test", "phrase"]);
        assert_eq!(w("myTest"), ["my", "test"]);
        assert_eq!(w("Mytest"), ["mytest"]);
        assert_eq!(w("my test"), ["my", "test"]);
        assert_eq!(w("my/test"), ["my", "test"]);
        assert_eq!(w("COMPANYthings"), ["compan", "ythings"]);
        assert_eq!(w("COMPANY"), ["company"]);
        assert_eq!(w("SecretFTag"), ["secret", "f", "tag"]);
        assert_eq!(w("abc123def"), ["abc", "123", "def"]);
        assert_eq!(w("+"), Vec::<String>::new());
        assert_eq!(w(""), Vec::<String>::new());
    }

    #[test]
    fn sort_by_and_order_parse() {
        for by in [
            SortBy::CreatedDate,
            SortBy::LastAccessedDate,
            SortBy::LastChangedDate,
            SortBy::Name,
        ] {
            assert_eq!(SortBy::parse(by.as_str()), Ok(by));
        }
        assert_eq!(SortBy::default(), SortBy::CreatedDate);
        assert_eq!(
            SortOrder::default(),
            SortOrder::Asc,
            "AWS lists oldest first"
        );
        assert_eq!(SortOrder::parse("asc"), Ok(SortOrder::Asc));
        assert_eq!(SortOrder::parse("desc"), Ok(SortOrder::Desc));
        let err = SortBy::parse("CreatedDate").unwrap_err();
        assert!(err.to_string().contains("'sortBy'"));
        assert!(SortOrder::parse("DESC").is_err());
    }

    fn sv<'a>(
        name: &'a str,
        created: i64,
        accessed: Option<i64>,
        changed: Option<i64>,
    ) -> SortView<'a> {
        SortView {
            name,
            arn: name,
            created_ms: created,
            last_accessed_ms: accessed,
            last_changed_ms: changed,
            description: None,
            next_rotation_ms: None,
        }
    }

    fn sorted(by: SortBy, order: SortOrder, items: &[SortView]) -> Vec<String> {
        let mut v = items.to_vec();
        v.sort_by(|a, b| compare(by, order, a, b));
        v.into_iter().map(|s| s.name.to_string()).collect()
    }

    #[test]
    fn sorting() {
        let items = [
            sv("b", 2, None, Some(5)),
            sv("a", 3, Some(10), Some(4)),
            sv("c", 1, Some(20), None),
        ];
        assert_eq!(
            sorted(SortBy::CreatedDate, SortOrder::Asc, &items),
            ["c", "b", "a"]
        );
        assert_eq!(
            sorted(SortBy::CreatedDate, SortOrder::Desc, &items),
            ["a", "b", "c"]
        );
        assert_eq!(
            sorted(SortBy::Name, SortOrder::Asc, &items),
            ["a", "b", "c"]
        );
        assert_eq!(
            sorted(SortBy::LastAccessedDate, SortOrder::Asc, &items),
            ["b", "a", "c"]
        );
        assert_eq!(
            sorted(SortBy::LastChangedDate, SortOrder::Desc, &items),
            ["b", "a", "c"]
        );
        // Ties break by name.
        let tied = [sv("y", 1, None, None), sv("x", 1, None, None)];
        assert_eq!(
            sorted(SortBy::CreatedDate, SortOrder::Asc, &tied),
            ["x", "y"]
        );
    }

    #[test]
    fn the_consoles_sorts_by_description_and_next_rotation_without_rotation_last() {
        let with = |name, desc, next| SortView {
            description: desc,
            next_rotation_ms: next,
            ..sv(name, 0, None, None)
        };
        let items = [
            with("d", Some("beta"), None),
            with("c", None, Some(30)),
            with("b", Some("Alpha"), Some(10)),
            with("a", Some("alpha"), None),
        ];
        // Bytes: "" < "Alpha" < "alpha" < "beta".
        assert_eq!(
            sorted(SortBy::Description, SortOrder::Asc, &items),
            ["c", "b", "a", "d"]
        );
        assert_eq!(
            sorted(SortBy::Description, SortOrder::Desc, &items),
            ["d", "a", "b", "c"]
        );
        assert_eq!(
            sorted(SortBy::NextRotationDate, SortOrder::Asc, &items),
            ["b", "c", "a", "d"]
        );
        assert_eq!(
            sorted(SortBy::NextRotationDate, SortOrder::Desc, &items),
            ["c", "b", "d", "a"]
        );
        // ListSecrets never takes them; the console does, and ListSecrets' own values.
        assert!(SortBy::parse("description").is_err());
        assert!(SortBy::parse("next-rotation-date").is_err());
        for by in [SortBy::Description, SortBy::NextRotationDate, SortBy::Name] {
            assert_eq!(SortBy::parse_console(by.as_str()), Ok(by));
        }
        assert!(SortBy::parse_console("tags").is_err());
        // Only the first 200 characters count (what the stores index).
        let long = "é".repeat(250);
        assert_eq!(description_sort_key(Some(&long)).chars().count(), 200);
        assert_eq!(description_sort_key(Some("short")), "short");
        assert_eq!(description_sort_key(None), "");
    }

    proptest! {
        #[test]
        fn desc_is_exactly_asc_reversed(
            items in proptest::collection::vec(
                ("[a-c]{1,2}", 0i64..5, proptest::option::of(0i64..5), proptest::option::of(0i64..5)),
                0..20,
            ),
            by in 0usize..4,
        ) {
            let by = [SortBy::CreatedDate, SortBy::LastAccessedDate, SortBy::LastChangedDate, SortBy::Name][by];
            // Distinct ARNs make the order total.
            let arns: Vec<String> = (0..items.len()).map(|i| format!("arn{i:03}")).collect();
            let views: Vec<SortView> = items.iter().zip(&arns).map(|((n, c, a, ch), arn)| SortView {
                name: n, arn, created_ms: *c, last_accessed_ms: *a, last_changed_ms: *ch,
                description: None, next_rotation_ms: None,
            }).collect();
            let mut asc = views.clone();
            asc.sort_by(|a, b| compare(by, SortOrder::Asc, a, b));
            let mut desc = views.clone();
            desc.sort_by(|a, b| compare(by, SortOrder::Desc, a, b));
            desc.reverse();
            let key = |v: &Vec<SortView>| v.iter().map(|s| s.arn.to_string()).collect::<Vec<_>>();
            prop_assert_eq!(key(&asc), key(&desc));
        }

        #[test]
        fn a_value_and_its_negation_split_the_secrets(
            name in "[A-Za-z0-9/_+=.@-]{1,20}",
            desc in proptest::option::of("[A-Za-z0-9 ]{0,30}"),
            tag in proptest::option::of(("[A-Za-z]{1,8}", "[A-Za-z]{0,8}")),
            value in "[A-Za-z0-9 ]{0,10}",
            key in 0usize..7,
        ) {
            let key = FilterKey::ALL[key];
            let tags: Vec<(String, String)> = tag.into_iter().collect();
            let view = FilterView {
                name: &name,
                description: desc.as_deref(),
                tags: &tags,
                primary_region: None,
                owning_service: None,
            };
            let pos = matches(&[Filter { key, values: vec![value.clone()] }], &view);
            let neg = matches(&[Filter { key, values: vec![format!("!{value}")] }], &view);
            prop_assert_ne!(pos, neg);
        }

        #[test]
        fn parse_accepts_exactly_the_model_pattern(value in "[ -~]{0,20}") {
            let ok = parse_filters(&[("name".to_string(), vec![value.clone()])]).is_ok();
            let expected = value.chars().all(|c| c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c));
            prop_assert_eq!(ok, expected);
        }

        #[test]
        fn words_hold_no_separators(s in "\\PC{0,30}") {
            for w in words(&s) {
                prop_assert!(!w.is_empty());
                prop_assert!(!w.chars().any(|c| c.is_whitespace() || c.is_ascii_punctuation()), "{:?}", w);
            }
        }
    }
}
