//! Rotation as AWS defines it: the configuration RotateSecret stores, the schedule it implies,
//! and the rule that says whether a rotation is still in progress.
//!
//! A rotation is *in progress* while some version carries AWSPENDING without also carrying
//! AWSCURRENT (RotateSecret's documentation): RotateSecret then refuses to start another. It
//! starts by adding a value-less AWSPENDING version whose id is the rotation's
//! ClientRequestToken; the rotation function's createSecret step fills it in with
//! PutSecretValue, and its finishSecret step moves AWSCURRENT onto it.

use serde::{Deserialize, Serialize};

use crate::secret::{AWSCURRENT, AWSPENDING, Millis, Version};

const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 24 * HOUR_MS;

/// RotationRules as given (and shown back by DescribeSecret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationRules {
    pub automatically_after_days: Option<i64>,
    pub duration: Option<String>,
    pub schedule_expression: Option<String>,
}

/// A secret's rotation configuration and history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub enabled: bool,
    pub lambda_arn: Option<String>,
    pub rules: Option<RotationRules>,
    pub last_rotated_ms: Option<Millis>,
    /// When the scheduler next looks at the secret: its next rotation, or while a rotation is
    /// in progress or failed, when it is retried (see [`Rotation::start`]).
    pub next_rotation_ms: Option<Millis>,
    /// NextRotationDate while a rotation is in progress or failed: the schedule's date, not
    /// the retry time in `next_rotation_ms`. `None`: the same as `next_rotation_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation_date_ms: Option<Millis>,
    /// The AWSPENDING copy of a RotateImmediately=false configuration test, while it exists:
    /// never a rotation in progress, and discarded wherever it is found (see [`discard_test`]).
    #[serde(default)]
    pub test_token: Option<String>,
    /// Until when the rotation in progress is claimed by the node running its steps: a
    /// retried RotateSecret (same token) reaching another node of a cluster must not start a
    /// second run while this one may still be going (see [`claim_run`]).
    #[serde(default)]
    pub running_until_ms: Option<Millis>,
    /// The node (its id) holding that claim.
    #[serde(default)]
    pub running_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// InvalidParameterException.
    #[error("{0}")]
    Invalid(String),
    /// InvalidRequestException: a version carries AWSPENDING but not AWSCURRENT.
    #[error("A previous rotation isn't complete. That rotation will be reattempted.")]
    InProgress,
    /// InvalidRequestException: the token names a version that already has a value.
    #[error(
        "A version with the ClientRequestToken {0} already exists and is not a pending rotation."
    )]
    TokenUsed(String),
}

impl Rotation {
    /// DescribeSecret's NextRotationDate: the schedule's date, "on or before" which the next
    /// rotation happens — while a rotation is in progress or being retried after a failure,
    /// the date it was started for, not the retry time (so it may lie in the past, as AWS
    /// says of a failed rotation). None when rotation is off (or nothing is due: a replica).
    pub fn next_rotation_date(&self) -> Option<Millis> {
        self.next_rotation_ms
            .filter(|_| self.enabled)
            .map(|due| self.next_rotation_date_ms.unwrap_or(due))
    }

    /// A rotation starts at `now`; the scheduler looks again at `now + retry` — or, if a run
    /// claimed it ([`claim_run`]), when that claim runs out, if sooner — so one whose server
    /// stopped in the middle of it (a node killed) is resumed, by whichever node runs the
    /// schedule, as soon as it can no longer be running. NextRotationDate stays the
    /// schedule's: for a rotation RotateSecret started, the rules' next date from now (what
    /// success will set); for one the schedule started, the date that fell due.
    pub fn start(&mut self, now: Millis, retry: Millis, requested: bool) {
        let shown = if requested {
            self.rules.as_ref().and_then(|r| next_after(r, now).ok())
        } else {
            self.next_rotation_date_ms.or(self.next_rotation_ms)
        };
        self.next_rotation_date_ms = shown;
        let claim_ends = self.running_until_ms.filter(|&t| t > now);
        self.next_rotation_ms = Some(claim_ends.map_or(now + retry, |t| t.min(now + retry)));
    }

    /// The rotation failed at `now`: retried at `now + retry` while rotation is on;
    /// NextRotationDate keeps the date the rotation was for.
    pub fn failed(&mut self, now: Millis, retry: Millis) {
        if self.enabled {
            self.next_rotation_date_ms = self.next_rotation_date_ms.or(self.next_rotation_ms);
            self.next_rotation_ms = Some(now + retry);
        }
    }

    /// Back to the schedule from `now` (a rotation succeeded or was abandoned, or rotation
    /// was configured without rotating): the rules' next date, or none without rules.
    pub fn schedule_from(&mut self, now: Millis) {
        self.next_rotation_ms = self.rules.as_ref().and_then(|r| next_after(r, now).ok());
        self.next_rotation_date_ms = None;
    }

    /// Rotation turned off: nothing is due.
    pub fn stop(&mut self) {
        self.enabled = false;
        self.next_rotation_ms = None;
        self.next_rotation_date_ms = None;
    }
}

/// How the rules schedule rotations.
#[derive(Debug, Clone)]
enum Schedule {
    Every(Millis),
    Cron(Box<croner::Cron>),
}

/// Check the rules as AWS does (InvalidParameterException with what is wrong).
pub fn check(rules: &RotationRules) -> Result<(), RotationError> {
    schedule(rules).map(|_| ())
}

/// When the rotation after one at `from` is due: `from` plus the interval, or the cron
/// expression's next time after `from` (UTC, as AWS evaluates them).
pub fn next_after(rules: &RotationRules, from: Millis) -> Result<Millis, RotationError> {
    match schedule(rules)? {
        Schedule::Every(ms) => Ok(from + ms),
        Schedule::Cron(cron) => next_cron(&cron, from).ok_or_else(|| {
            RotationError::Invalid("The ScheduleExpression never fires again.".into())
        }),
    }
}

fn next_cron(cron: &croner::Cron, from: Millis) -> Option<Millis> {
    let start = chrono::DateTime::from_timestamp_millis(from)?.naive_utc();
    let next = cron.find_next_occurrence(&start, false).ok()?;
    Some(next.and_utc().timestamp_millis())
}

fn schedule(rules: &RotationRules) -> Result<Schedule, RotationError> {
    let invalid = |m: &str| Err(RotationError::Invalid(m.to_string()));
    let schedule = match (rules.automatically_after_days, &rules.schedule_expression) {
        (Some(_), Some(_)) => {
            return invalid(
                "You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.",
            );
        }
        (None, None) => {
            return invalid("RotationRules must set AutomaticallyAfterDays or ScheduleExpression.");
        }
        (Some(days), None) => {
            if !(1..=1000).contains(&days) {
                return invalid("AutomaticallyAfterDays must be between 1 and 1000.");
            }
            Schedule::Every(days * DAY_MS)
        }
        (None, Some(expr)) if expr.trim_start().starts_with("cron(") => {
            Schedule::Cron(Box::new(parse_cron(expr)?))
        }
        (None, Some(expr)) => Schedule::Every(schedule_interval(expr)?),
    };
    // The shortest gap between rotations, for the window check.
    let interval = match &schedule {
        Schedule::Every(ms) => *ms,
        Schedule::Cron(cron) => {
            let first = next_cron(cron, 0).unwrap_or(0);
            let gap = next_cron(cron, first).map_or(DAY_MS, |second| second - first);
            if gap < 4 * HOUR_MS {
                return invalid(
                    "You can rotate a secret at most every four hours: the cron() expression fires more often.",
                );
            }
            gap
        }
    };
    if let Some(d) = &rules.duration {
        let hours = d
            .strip_suffix('h')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| (1..=24).contains(n))
            .ok_or_else(|| {
                RotationError::Invalid(format!(
                    "Duration {d:?} is not valid: give hours, 1h to 24h."
                ))
            })?;
        if hours * HOUR_MS > interval {
            return invalid("The rotation window (Duration) must not extend into the next one.");
        }
    }
    Ok(schedule)
}

/// AWS's `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: six fields, exactly one of
/// the day fields `?`, Quartz weekday numbers (1 = Sunday), `L`, `W` and `#` allowed.
fn parse_cron(expr: &str) -> Result<croner::Cron, RotationError> {
    let invalid = |why: &str| {
        RotationError::Invalid(format!("ScheduleExpression {expr:?} is not valid: {why}."))
    };
    let inner = expr
        .trim()
        .strip_prefix("cron(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| invalid("write cron(Minutes Hours Day-of-month Month Day-of-week Year)"))?;
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(invalid("a cron() expression has six fields"));
    }
    // `1,,2` or a lone `,` is an empty item, which the parser would take as "never" — and
    // searching for a "never" takes seconds.
    if fields.iter().any(|f| f.split(',').any(str::is_empty)) {
        return Err(invalid("a list in a cron() field has an empty item"));
    }
    if (fields[2] == "?") == (fields[4] == "?") {
        return Err(invalid(
            "exactly one of Day-of-month and Day-of-week must be ?",
        ));
    }
    // Names and `L` in any case (the parser would read a lowercase `l` as something else).
    let mut fields: Vec<String> = fields.iter().map(|f| f.to_ascii_uppercase()).collect();
    // Only AWS's grammar reaches the parser: it accepts more (`+`, stray names), and some of
    // what it accepts never fires, which made the next-rotation search run for seconds
    // (found by fuzzing, four times).
    if let Some(why) = fields
        .iter()
        .enumerate()
        .find_map(|(i, f)| bad_cron_field(i, f))
    {
        return Err(invalid(&why));
    }
    // A lone `L` as a Day-of-week item is AWS's "last day of the week", Saturday; croner
    // reads it as "no day" and its search then runs for seconds (found by fuzzing: `L`, then
    // `l`).
    // AWS's years end at 2199: a `*` Year is that range, so the next-rotation search of an
    // expression that never fires (31W in April, found by fuzzing) ends there, not at the
    // parser's own far limit.
    fields[5] = fields[5]
        .split(',')
        .map(|item| match item.strip_prefix('*') {
            Some(rest) => format!("1970-2199{rest}"),
            None => item.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    // AWS's `N/step` ("from N, every step") is `N-last/step` to the parser.
    const LAST: [u32; 6] = [59, 23, 31, 12, 7, 2199];
    for (field, last) in fields.iter_mut().zip(LAST) {
        *field = field
            .split(',')
            .map(|item| match item.split_once('/') {
                Some((from, step))
                    if !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    format!("{from}-{last}/{step}")
                }
                _ => item.to_string(),
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    fields[4] = fields[4]
        .split(',')
        .map(|item| if item == "L" { "SAT" } else { item })
        .collect::<Vec<_>>()
        .join(",");
    let inner = fields.join(" ");
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Required)
        .alternative_weekdays(true)
        .build()
        .parse(&format!("0 {inner}"))
        .map_err(|e| invalid(&e.to_string()))
}

/// Why field `index` (0 Minutes … 5 Year, upper-cased) is outside AWS's cron grammar, item by
/// item: `*`, a value, `a-b`, each optionally `/step`; `?` alone in Day-of-month or
/// Day-of-week; `L`, `LW` and `nW` in Day-of-month; `L`, `nL` and `n#k` in Day-of-week; month
/// names JAN–DEC and day names SUN–SAT as values; every number within its field's range (Year
/// 1970–2199, as AWS).
fn bad_cron_field(index: usize, field: &str) -> Option<String> {
    const NAMES: [&str; 6] = [
        "Minutes",
        "Hours",
        "Day-of-month",
        "Month",
        "Day-of-week",
        "Year",
    ];
    const RANGES: [(u32, u32); 6] = [(0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199)];
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let (lo, hi) = RANGES[index.min(5)];
    let number = |t: &str| -> bool {
        !t.is_empty()
            && t.len() <= 4
            && t.bytes().all(|b| b.is_ascii_digit())
            && t.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n))
    };
    let value = |t: &str| -> bool {
        number(t) || (index == 3 && MONTHS.contains(&t)) || (index == 4 && DAYS.contains(&t))
    };
    let range = |t: &str| -> bool {
        t == "*" || value(t) || t.split_once('-').is_some_and(|(a, b)| value(a) && value(b))
    };
    let item_ok = |item: &str| -> bool {
        match (index, item) {
            (2 | 4, "?") | (2, "L" | "LW") | (4, "L") => return true,
            _ => {}
        }
        if index == 2
            && let Some(day) = item.strip_suffix('W')
        {
            return number(day);
        }
        if index == 4 {
            if let Some(day) = item.strip_suffix('L') {
                return value(day);
            }
            if let Some((day, nth)) = item.split_once('#') {
                return value(day) && matches!(nth, "1" | "2" | "3" | "4" | "5");
            }
        }
        match item.split_once('/') {
            Some((base, step)) => {
                range(base)
                    && !step.is_empty()
                    && step.len() <= 4
                    && step.bytes().all(|b| b.is_ascii_digit())
                    && step.parse::<u32>().is_ok_and(|n| n >= 1)
            }
            None => range(item),
        }
    };
    let items: Vec<&str> = field.split(',').collect();
    let ok = items.iter().all(|i| item_ok(i)) && (items.len() == 1 || !items.contains(&"?"));
    (!ok).then(|| {
        format!(
            "{} field {field:?} is not in cron()'s syntax",
            NAMES.get(index).copied().unwrap_or("a")
        )
    })
}

/// `rate(N hours)` (at least 4) or `rate(N days)` (1–1000).
fn schedule_interval(expr: &str) -> Result<Millis, RotationError> {
    let invalid = |m: String| RotationError::Invalid(m);
    let inner = expr
        .trim()
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            invalid(format!(
                "ScheduleExpression {expr:?} is not valid: use rate(N hours) or rate(N days)."
            ))
        })?;
    let (n, unit) = inner
        .trim()
        .split_once(' ')
        .ok_or_else(|| invalid(format!("ScheduleExpression {expr:?} is not valid.")))?;
    let n: i64 = n
        .parse()
        .map_err(|_| invalid(format!("ScheduleExpression {expr:?} is not valid.")))?;
    match unit.trim() {
        // At most 1000 days, as AutomaticallyAfterDays (an unbounded N overflowed; fuzzing).
        "hour" | "hours" if (4..=24_000).contains(&n) => Ok(n * HOUR_MS),
        "hour" | "hours" if n > 24_000 => Err(invalid(format!(
            "ScheduleExpression {expr:?} is not valid: at most rate(24000 hours)."
        ))),
        "hour" | "hours" => Err(invalid(
            "You can rotate a secret at most every four hours: rate(4 hours) or longer.".into(),
        )),
        "day" | "days" if (1..=1000).contains(&n) => Ok(n * DAY_MS),
        _ => Err(invalid(format!(
            "ScheduleExpression {expr:?} is not valid."
        ))),
    }
}

/// The version of a rotation in progress, if one is.
pub fn in_progress(versions: &[Version]) -> Option<&Version> {
    versions
        .iter()
        .find(|v| v.has_stage(AWSPENDING) && !v.has_stage(AWSCURRENT))
}

/// What starting a rotation with `token` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Add a value-less AWSPENDING version with this id.
    New,
    /// The same token's rotation is already in progress: run its steps again.
    Resume,
}

pub fn begin(versions: &[Version], token: &str) -> Result<Begin, RotationError> {
    if let Some(p) = in_progress(versions) {
        return if p.id == token {
            Ok(Begin::Resume)
        } else {
            Err(RotationError::InProgress)
        };
    }
    if versions.iter().any(|v| v.id == token) {
        return Err(RotationError::TokenUsed(token.to_string()));
    }
    Ok(Begin::New)
}

/// Whether a start of the rotation (`begin`'s answer) on node `node` should run its steps
/// now, taking the claim until `now + bound` if so. A resumed rotation claimed by another
/// node, its claim not run out, may still be running there (a retried RotateSecret the load
/// balancer sent elsewhere): it must not run twice at once. A claim left by a node that died
/// runs out after `bound` (the longest a run of the four steps may take) and the rotation is
/// then resumed anywhere. A claim of this node's own is taken at once: either this process
/// holds it (its runner refuses a second run of a secret itself) or this node's previous
/// process, killed mid-rotation, left it.
pub fn claim_run(
    rotation: &mut Rotation,
    begin: Begin,
    now: Millis,
    bound: Millis,
    node: &str,
) -> bool {
    if begin == Begin::Resume
        && rotation.running_until_ms.is_some_and(|t| t > now)
        && rotation.running_on.as_deref().is_some_and(|n| n != node)
    {
        return false;
    }
    rotation.running_until_ms = Some(now + bound);
    rotation.running_on = Some(node.to_string());
    true
}

/// The value-less version a new rotation starts with.
pub fn pending_version(token: &str, now: Millis, kms_key_id: Option<String>) -> Version {
    Version {
        id: token.to_string(),
        stages: vec![AWSPENDING.to_string()],
        created_ms: now,
        last_accessed_ms: None,
        has_value: false,
        kms_key_id,
    }
}

/// Whether a rotation with `token` finished: its version is AWSCURRENT and has a value.
pub fn succeeded(versions: &[Version], token: &str) -> bool {
    versions
        .iter()
        .any(|v| v.id == token && v.has_value && v.has_stage(AWSCURRENT))
}

/// Whether a configuration test (RotateImmediately=false) is running at `now`: its run's
/// claim (taken as a rotation's, see [`claim_run`]) has not run out. Its AWSPENDING copy is
/// then a rotation in progress, as AWS has it; once the claim has run out (a server stopped
/// mid-test) the copy is a leftover, discarded where it is found.
pub fn test_running(rotation: &Rotation, now: Millis) -> bool {
    rotation.test_token.is_some() && rotation.running_until_ms.is_some_and(|t| t > now)
}

/// What a configuration test means to a rotation or test about to start with `token`
/// (`test`: RotateImmediately=false) at `now`. A test still running is a rotation in
/// progress: refused — except the same RotateImmediately=false request again (the test's own
/// token, a retried call), which answers as the first did and starts nothing (`Ok(false)`).
/// A leftover test copy is discarded (`Ok(true)`: go on).
pub fn before_start(
    versions: &mut Vec<Version>,
    rotation: &mut Rotation,
    token: &str,
    test: bool,
    now: Millis,
) -> Result<bool, RotationError> {
    if test_running(rotation, now) {
        return if test && rotation.test_token.as_deref() == Some(token) {
            Ok(false)
        } else {
            Err(RotationError::InProgress)
        };
    }
    discard_test(versions, rotation);
    Ok(true)
}

/// Remove a configuration test's AWSPENDING copy (whatever left it: the test's end, a server
/// stopped mid-test, a write, a new rotation). Only a copy that is still nothing but a test —
/// at most the AWSPENDING label — is removed. Returns whether a version went.
pub fn discard_test(versions: &mut Vec<Version>, rotation: &mut Rotation) -> bool {
    let Some(token) = rotation.test_token.take() else {
        return false;
    };
    let before = versions.len();
    versions.retain(|v| !(v.id == token && v.stages.iter().all(|s| s == AWSPENDING)));
    versions.len() != before
}

/// A write that makes a new version AWSCURRENT while a rotation is in progress abandons the
/// rotation (AWS's RotationAbandoned: "a manual change to a secret instead of automated
/// rotation"): the rotation's version loses AWSPENDING, so it is no longer in progress and the
/// rotation function's remaining steps cannot promote it. Returns the abandoned version's id.
pub fn abandon(versions: &mut [Version], new_current: &str) -> Option<String> {
    let current_moved = versions
        .iter()
        .any(|v| v.id == new_current && v.has_stage(AWSCURRENT));
    if !current_moved {
        return None;
    }
    let pending = versions
        .iter_mut()
        .find(|v| v.id != new_current && v.has_stage(AWSPENDING) && !v.has_stage(AWSCURRENT))?;
    pending.stages.retain(|s| s != AWSPENDING);
    Some(pending.id.clone())
}

/// Whether the rotation `token` was abandoned: its version no longer carries AWSPENDING and
/// did not become AWSCURRENT.
pub fn abandoned(versions: &[Version], token: &str) -> bool {
    versions
        .iter()
        .find(|v| v.id == token)
        .is_none_or(|v| !v.has_stage(AWSPENDING) && !v.has_stage(AWSCURRENT))
}

#[cfg(test)]
mod tests {

    /// Found by the `schedule` fuzz target: a list with an empty item (`,` as Day-of-month)
    /// parsed as "no day", and finding the next time then searched for seconds — a
    /// RotateSecret request spinning a core. Such lists are refused; expressions that can
    /// never fire (Feb 30) are answered at once. Each case must decide quickly.
    #[test]
    fn cron_expressions_that_match_nothing_are_refused_quickly() {
        let rules = |e: &str| RotationRules {
            automatically_after_days: None,
            duration: None,
            schedule_expression: Some(e.to_string()),
        };
        for e in [
            "cron(1 11,15 , * ? *)",
            "cron(1 10,12 , * ? *)",
            "cron(0 , * * ? *)",
            "cron(0 1, * * ? *)",
            "cron(0 0 ? * ,MON *)",
            "cron(0 0 1 , ? *)",
            "cron(0 0 1 1 ? ,)",
            "cron(0 0 30 2 ? *)",
            "cron(0 0 31 4 ? *)",
            "cron(0 0 1 1 ? 1999)",
            // Outside AWS's grammar (the fifth fuzz finding was `+` as Day-of-week).
            "cron(0 0 ? * + *)",
            "cron(0 0 ? * \u{b}+ *)",
            "cron(0 0 ? * FOO *)",
            "cron(0 0 ? MON * *)",
            "cron(0 0 W * ? *)",
            "cron(0 0 ? * MON L)",
            "cron(0 0 1 1 ? 2026%)",
            // Sixth finding: `31W****` as Day-of-month; and forms that are valid syntax but
            // never fire, which the search must give up on quickly (years end at 2199).
            "cron(0 5 31W**** 4 ? */1)",
            "cron(0 5 31W 4 ? *)",
            "cron(0 5 31 4 ? */1)",
            "cron(0 0 30 FEB ? */1)",
            "cron(0 0 1 1 ? 2200)",
            "cron(0 0 1 13 ? *)",
            "cron(0 0 ?,1 * ? *)",
            "cron(0 0 ? * 8 *)",
            "cron(0 0 ? * 1#6 *)",
        ] {
            let started = std::time::Instant::now();
            let got = next_after(&rules(e), 1_700_000_000_000);
            assert!(got.is_err(), "{e} was accepted: {got:?}");
            assert!(
                started.elapsed() < std::time::Duration::from_millis(500),
                "{e} took {:?}",
                started.elapsed()
            );
        }
        // AWS's `L` (last day of the week, or of the month) and `nL` (the last weekday n of
        // the month) fire; the fuzzer's lone `L` as Day-of-week in January hung the search.
        for e in [
            "cron(0 0 ? 1 L *)",
            "cron(0 0 ? * L *)",
            // Lowercase too (fourth fuzz finding), and `L` as one item of a list; names.
            "cron(0 0 ? 2 l *)",
            "cron(0 0 ? * mon,l *)",
            "cron(0 0 ? jan sat *)",
            "cron(0 0 ? * MON-FRI *)",
            "cron(0 0 ? * 6#3 *)",
            "cron(0 0 LW * ? *)",
            "cron(0 0 15W * ? *)",
            // AWS's "from N, every step".
            "cron(15 0/6 1-5 JAN-MAR ? 2026-2030)",
            "cron(0 12 ? * MON#1 *)",
            "cron(0 12 ? * 5L *)",
            "cron(0 12 1,15 * ? */2)",
            "cron(0 0 ? * 6L *)",
            "cron(0 0 L * ? *)",
        ] {
            let started = std::time::Instant::now();
            let got = next_after(&rules(e), 1_700_000_000_000);
            assert!(
                started.elapsed() < std::time::Duration::from_millis(500),
                "{e} took {:?}",
                started.elapsed()
            );
            assert!(got.is_ok(), "{e}: {got:?}");
        }
        // Rare but real dates still work: Feb 29 (leap years), the last year AWS allows.
        assert!(next_after(&rules("cron(0 0 29 2 ? *)"), 1_700_000_000_000).is_ok());
        assert!(next_after(&rules("cron(0 0 1 1 ? 2199)"), 1_700_000_000_000).is_ok());
    }
    use super::*;
    use crate::secret::AWSPREVIOUS;

    #[test]
    fn a_configuration_test_copy_is_discarded_not_resumed() {
        let mut vs = vec![
            v("cur", &[AWSCURRENT], true),
            v("test", &[AWSPENDING], true),
        ];
        let mut r = Rotation {
            test_token: Some("test".into()),
            ..Default::default()
        };
        assert!(
            in_progress(&vs).is_some(),
            "looks like a rotation until discarded"
        );
        assert!(discard_test(&mut vs, &mut r));
        assert!(in_progress(&vs).is_none() && r.test_token.is_none());
        assert!(!discard_test(&mut vs, &mut r), "once");
        // A copy something else made more of (a label) stays.
        let mut vs = vec![v("test", &[AWSPENDING, "keep"], true)];
        r.test_token = Some("test".into());
        assert!(!discard_test(&mut vs, &mut r));
        assert_eq!(vs.len(), 1);
    }

    #[test]
    fn a_manual_write_abandons_the_rotation_in_progress() {
        let mut vs = vec![
            v("old", &[AWSCURRENT], true),
            v("rot", &[AWSPENDING], false),
            v("manual", &[], true),
        ];
        // Not yet current: nothing is abandoned.
        assert_eq!(abandon(&mut vs, "manual"), None);
        vs[0].stages = vec![AWSPREVIOUS.into()];
        vs[2].stages = vec![AWSCURRENT.into()];
        assert_eq!(abandon(&mut vs, "manual").as_deref(), Some("rot"));
        assert!(vs[1].stages.is_empty());
        assert!(abandoned(&vs, "rot"));
        assert!(in_progress(&vs).is_none(), "a new rotation may start");
        // The rotation's own promotion is not an abandonment.
        let mut vs = vec![
            v("old", &[AWSPREVIOUS], true),
            v("rot", &[AWSCURRENT, AWSPENDING], true),
        ];
        assert_eq!(abandon(&mut vs, "rot"), None);
        assert!(!abandoned(&vs, "rot"));
    }

    fn v(id: &str, stages: &[&str], has_value: bool) -> Version {
        Version {
            id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created_ms: 0,
            last_accessed_ms: None,
            has_value,
            kms_key_id: None,
        }
    }

    fn rules(days: Option<i64>, expr: Option<&str>, duration: Option<&str>) -> RotationRules {
        RotationRules {
            automatically_after_days: days,
            schedule_expression: expr.map(str::to_string),
            duration: duration.map(str::to_string),
        }
    }

    // 2026-12-02T00:00:00Z, a Wednesday.
    const T0: Millis = 1_796_169_600_000;

    #[test]
    fn schedules() {
        let next = |r: RotationRules| next_after(&r, T0);
        assert_eq!(next(rules(Some(30), None, None)), Ok(T0 + 30 * DAY_MS));
        assert_eq!(
            next(rules(None, Some("rate(10 days)"), None)),
            Ok(T0 + 10 * DAY_MS)
        );
        assert_eq!(
            next(rules(None, Some("rate(12 hours)"), Some("2h"))),
            Ok(T0 + 12 * HOUR_MS)
        );
        // AWS's examples: 16:00 UTC on the 1st and 15th; 08:00 every Monday (2 = Monday).
        assert_eq!(
            next(rules(None, Some("cron(0 16 1,15 * ? *)"), None)),
            Ok(T0 + 13 * DAY_MS + 16 * HOUR_MS)
        );
        assert_eq!(
            next(rules(None, Some("cron(0 8 ? * 2 *)"), Some("3h"))),
            Ok(T0 + 5 * DAY_MS + 8 * HOUR_MS)
        );
        // The last day of the month.
        assert_eq!(
            next(rules(None, Some("cron(0 0 L * ? *)"), None)),
            Ok(T0 + 29 * DAY_MS)
        );
        for bad in [
            rules(Some(0), None, None),
            rules(Some(1001), None, None),
            rules(Some(1), Some("rate(1 days)"), None),
            rules(None, None, None),
            rules(None, Some("rate(3 hours)"), None),
            rules(None, Some("rate(ten days)"), None),
            rules(None, Some("every day"), None),
            rules(None, Some("rate(4 hours)"), Some("5h")),
            rules(Some(1), None, Some("25h")),
            rules(Some(1), None, Some("3")),
            rules(None, Some("cron(0 16 1,15 * *)"), None),
            rules(None, Some("cron(0 16 1 * 2 *)"), None),
            rules(None, Some("cron(0 16 ? * ? *)"), None),
            rules(None, Some("cron(0 */2 * * ? *)"), None),
            rules(None, Some("cron(0 99 * * ? *)"), None),
            rules(None, Some("cron(0 16 1 * ? *"), None),
        ] {
            assert!(
                matches!(check(&bad), Err(RotationError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn next_rotation_date_is_the_schedules_while_a_rotation_is_in_progress_or_retried() {
        let mut r = Rotation {
            enabled: true,
            rules: Some(rules(Some(30), None, None)),
            ..Default::default()
        };
        r.schedule_from(T0);
        assert_eq!(r.next_rotation_date(), Some(T0 + 30 * DAY_MS));
        // RotateSecret at T0 + 1 h: the scheduler looks again an hour on (a resume if the
        // server stops), but the date shown is the schedule's from now.
        let now = T0 + HOUR_MS;
        r.start(now, HOUR_MS, true);
        assert_eq!(r.next_rotation_ms, Some(now + HOUR_MS));
        assert_eq!(r.next_rotation_date(), Some(now + 30 * DAY_MS));
        // It fails: retried an hour later; the date stays.
        r.failed(now + 60_000, HOUR_MS);
        assert_eq!(r.next_rotation_ms, Some(now + 60_000 + HOUR_MS));
        assert_eq!(r.next_rotation_date(), Some(now + 30 * DAY_MS));
        // The schedule's retry starts it again: still that date.
        r.start(now + 2 * HOUR_MS, HOUR_MS, false);
        assert_eq!(r.next_rotation_date(), Some(now + 30 * DAY_MS));
        // It succeeds: the schedule from then.
        let done = now + 3 * HOUR_MS;
        r.schedule_from(done);
        assert_eq!(r.next_rotation_ms, Some(done + 30 * DAY_MS));
        assert_eq!(r.next_rotation_date(), Some(done + 30 * DAY_MS));
        assert_eq!(r.next_rotation_date_ms, None);

        // A rotation the schedule starts shows the date that fell due, in the past once it
        // has failed (as AWS says of a failed rotation).
        let due = r.next_rotation_ms.unwrap();
        r.start(due + 1_000, HOUR_MS, false);
        r.failed(due + 5_000, HOUR_MS);
        assert_eq!(r.next_rotation_date(), Some(due));
        assert_eq!(r.next_rotation_ms, Some(due + 5_000 + HOUR_MS));

        // Off: no date; a record written before the field existed shows what is due.
        r.stop();
        assert_eq!((r.next_rotation_date(), r.next_rotation_ms), (None, None));
        let old: Rotation =
            serde_json::from_str(r#"{"enabled":true,"lambda_arn":null,"rules":null,"last_rotated_ms":null,"next_rotation_ms":5}"#)
                .unwrap();
        assert_eq!(old.next_rotation_date(), Some(5));
    }

    #[test]
    fn a_run_cut_short_is_due_again_when_its_claim_runs_out() {
        let mut r = Rotation {
            enabled: true,
            rules: Some(rules(Some(30), None, None)),
            ..Default::default()
        };
        r.schedule_from(T0);
        let now = T0 + HOUR_MS;
        // The run claims the rotation for 3 minutes: if its node dies, the schedule looks
        // again then (and claim_run lets it resume), not an hour later.
        assert!(claim_run(&mut r, Begin::New, now, 180_000, "a"));
        r.start(now, HOUR_MS, true);
        assert_eq!(r.next_rotation_ms, Some(now + 180_000));
        assert!(claim_run(
            &mut r,
            Begin::Resume,
            now + 180_000,
            180_000,
            "b"
        ));
        // A claim longer than the retry does not delay it.
        let mut long = Rotation::default();
        assert!(claim_run(&mut long, Begin::New, now, 2 * HOUR_MS, "a"));
        long.start(now, HOUR_MS, true);
        assert_eq!(long.next_rotation_ms, Some(now + HOUR_MS));
        // No claim (or one already run out): the retry.
        let mut free = Rotation::default();
        free.start(now, HOUR_MS, false);
        assert_eq!(free.next_rotation_ms, Some(now + HOUR_MS));
    }

    #[test]
    fn a_running_configuration_test_is_a_rotation_in_progress_until_its_claim_runs_out() {
        let mut vs = vec![
            v("cur", &[AWSCURRENT], true),
            v("test", &[AWSPENDING], true),
        ];
        let mut r = Rotation {
            test_token: Some("test".into()),
            ..Default::default()
        };
        assert!(claim_run(&mut r, Begin::New, 1_000, 500, "a"));
        assert!(test_running(&r, 1_499));
        // Another rotation, or another test, is refused; nothing changes.
        for (token, test) in [("other", false), ("other", true), ("test", false)] {
            assert_eq!(
                before_start(&mut vs, &mut r, token, test, 1_200),
                Err(RotationError::InProgress),
                "{token} {test}"
            );
        }
        assert_eq!(vs.len(), 2);
        // The same RotateImmediately=false request again: answered, nothing started.
        assert_eq!(
            before_start(&mut vs, &mut r, "test", true, 1_200),
            Ok(false)
        );
        assert_eq!(vs.len(), 2);
        // Its claim ran out (a server stopped mid-test): the copy is a leftover, discarded.
        assert!(!test_running(&r, 1_500));
        assert_eq!(
            before_start(&mut vs, &mut r, "other", false, 1_500),
            Ok(true)
        );
        assert_eq!(vs.len(), 1);
        assert!(r.test_token.is_none() && !test_running(&r, 1_000));
    }

    #[test]
    fn a_claimed_run_is_not_resumed_elsewhere_until_its_claim_runs_out() {
        let mut r = Rotation::default();
        assert!(claim_run(&mut r, Begin::New, 1_000, 500, "a"));
        assert_eq!(r.running_until_ms, Some(1_500));
        // The same token retried on another node while the run may still be going.
        assert!(!claim_run(&mut r, Begin::Resume, 1_200, 500, "b"));
        assert_eq!(r.running_until_ms, Some(1_500), "the claim is unchanged");
        assert_eq!(r.running_on.as_deref(), Some("a"));
        // Node a restarted after a kill: its own claim is its previous life's.
        assert!(claim_run(&mut r, Begin::Resume, 1_300, 500, "a"));
        assert_eq!(r.running_until_ms, Some(1_800));
        // Node a died for good: after the bound node b resumes, with a new claim.
        assert!(!claim_run(&mut r, Begin::Resume, 1_799, 500, "b"));
        assert!(claim_run(&mut r, Begin::Resume, 1_800, 500, "b"));
        assert_eq!(r.running_on.as_deref(), Some("b"));
        // A new rotation (the previous one ended or was abandoned) always runs.
        assert!(claim_run(&mut r, Begin::New, 1_900, 500, "a"));
    }

    #[test]
    fn a_pending_version_not_current_is_a_rotation_in_progress() {
        let done = vec![v("a", &["AWSCURRENT", "AWSPENDING"], true)];
        assert_eq!(in_progress(&done), None);
        assert_eq!(begin(&done, "b"), Ok(Begin::New));
        let going = vec![
            v("a", &["AWSCURRENT"], true),
            v("b", &["AWSPENDING"], false),
        ];
        assert_eq!(in_progress(&going).map(|v| v.id.as_str()), Some("b"));
        assert_eq!(begin(&going, "b"), Ok(Begin::Resume));
        assert_eq!(begin(&going, "c"), Err(RotationError::InProgress));
        assert_eq!(begin(&done, "a"), Err(RotationError::TokenUsed("a".into())));
    }

    #[test]
    fn success_means_the_token_version_is_current_with_a_value() {
        let mut vs = vec![
            v("a", &["AWSCURRENT"], true),
            v("b", &["AWSPENDING"], false),
        ];
        assert!(!succeeded(&vs, "b"));
        vs[1].has_value = true;
        assert!(!succeeded(&vs, "b"));
        vs[0].stages = vec!["AWSPREVIOUS".into()];
        vs[1].stages = vec!["AWSCURRENT".into(), "AWSPENDING".into()];
        assert!(succeeded(&vs, "b"));
    }
}
