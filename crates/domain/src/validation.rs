//! AWS's (Coral's) messages for violated model constraints, as a ValidationException carries
//! them: `1 validation error detected: Value 'x' at 'member' failed to satisfy constraint:
//! Member must ...`; several are counted (`2 validation errors detected: ...`) and joined
//! with `; `. A list is quoted as AWS quotes it, `'[a, b]'`; a missing member is `Value null`;
//! a value that must not be echoed (a secret) is left out: `Value at 'value' ...`.

/// How a violating value is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// The member was not given: `Value null at ...`.
    Null,
    /// `Value '<text>' at ...`.
    Quoted(String),
    /// Not echoed (it may be secret): `Value at ...`.
    Hidden,
}

impl Shown {
    pub fn text(s: &str) -> Self {
        Shown::Quoted(s.to_string())
    }

    /// A list as AWS prints it: `[a, b, c]`.
    pub fn list<S: AsRef<str>>(items: &[S]) -> Self {
        Shown::Quoted(list(items))
    }

    pub fn number(n: i64) -> Self {
        Shown::Quoted(n.to_string())
    }
}

/// `[a, b, c]`, the form AWS quotes a list in.
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", items.join(", "))
}

pub fn not_null() -> String {
    "Member must not be null".into()
}
pub fn max_length(n: usize) -> String {
    format!("Member must have length less than or equal to {n}")
}
pub fn min_length(n: usize) -> String {
    format!("Member must have length greater than or equal to {n}")
}
pub fn max_value(n: i64) -> String {
    format!("Member must have value less than or equal to {n}")
}
pub fn min_value(n: i64) -> String {
    format!("Member must have value greater than or equal to {n}")
}
pub fn one_of(values: &[&str]) -> String {
    format!("Member must satisfy enum value set: {}", list(values))
}
pub fn pattern(p: &str) -> String {
    format!("Member must satisfy regular expression pattern: {p}")
}
/// The constraints of a list's members, violated by some member: AWS names them together.
pub fn members_satisfy(constraints: &[String]) -> String {
    format!("Member must satisfy constraint: {}", list(constraints))
}

/// The violations found in one request, in the order they were found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(Vec<String>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, value: Shown, member: &str, constraint: impl AsRef<str>) {
        let constraint = constraint.as_ref();
        self.0.push(match value {
            Shown::Null => {
                format!("Value null at '{member}' failed to satisfy constraint: {constraint}")
            }
            Shown::Quoted(v) => {
                format!("Value '{v}' at '{member}' failed to satisfy constraint: {constraint}")
            }
            Shown::Hidden => {
                format!("Value at '{member}' failed to satisfy constraint: {constraint}")
            }
        });
    }

    /// A string member's length (in characters, as Coral counts) within `min..=max`.
    pub fn length(&mut self, value: &str, shown: Shown, member: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.add(shown, member, min_length(min));
        } else if n > max {
            self.add(shown, member, max_length(max));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ValidationException message, if anything was violated.
    pub fn message(&self) -> Option<String> {
        match self.0.len() {
            0 => None,
            1 => Some(format!("1 validation error detected: {}", self.0[0])),
            n => Some(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            )),
        }
    }

    /// `Err(message)` if anything was violated.
    pub fn check(&self) -> Result<(), String> {
        self.message().map_or(Ok(()), Err)
    }
}

/// The message of a single violation.
pub fn one(value: Shown, member: &str, constraint: impl AsRef<str>) -> String {
    let mut v = Violations::new();
    v.add(value, member, constraint);
    v.message().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_violation() {
        assert_eq!(
            one(Shown::list(&["a", "b", "c"]), "names", max_length(10)),
            "1 validation error detected: Value '[a, b, c]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10"
        );
        assert_eq!(
            one(Shown::Null, "value", not_null()),
            "1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            one(Shown::Hidden, "value", min_length(1)),
            "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        assert_eq!(
            one(Shown::text("x"), "tier", one_of(&["Standard", "Advanced"])),
            "1 validation error detected: Value 'x' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced]"
        );
    }

    #[test]
    fn several_are_counted_and_joined() {
        let mut v = Violations::new();
        assert!(v.check().is_ok());
        v.add(Shown::number(0), "maxResults", min_value(1));
        v.length("", Shown::text(""), "name", 1, 2048);
        v.length("ok", Shown::text("ok"), "description", 0, 1024);
        assert_eq!(
            v.check().unwrap_err(),
            "2 validation errors detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1; Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn lengths_count_characters() {
        let mut v = Violations::new();
        v.length("ééé", Shown::Hidden, "x", 1, 3);
        assert!(v.is_empty());
        v.length("éééé", Shown::Hidden, "x", 1, 3);
        assert_eq!(
            v.message().unwrap(),
            "1 validation error detected: Value at 'x' failed to satisfy constraint: Member must have length less than or equal to 3"
        );
        assert_eq!(
            members_satisfy(&[max_length(1024), min_length(1)]),
            "Member must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1]"
        );
    }
}
