//! Rotation schedules: `rate(...)`, AWS `cron(...)` expressions, `AutomaticallyAfterDays`
//! and `Duration` windows — validated, then the next rotation computed from several instants.
//! Input: `DAYS\nDURATION\nEXPRESSION`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_domain::rotation::{RotationRules, check, next_after};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let days = parts.next().and_then(|d| d.trim().parse::<i64>().ok());
    let duration = parts.next().filter(|d| !d.is_empty()).map(str::to_string);
    let expression = parts.next().filter(|e| !e.is_empty()).map(str::to_string);
    let rules = RotationRules {
        automatically_after_days: days,
        duration,
        schedule_expression: expression,
    };
    if check(&rules).is_err() {
        return;
    }
    for from in [0i64, 1_764_000_000_000, 4_102_444_800_000] {
        if let Ok(next) = next_after(&rules, from) {
            assert!(next > from, "next rotation {next} not after {from} for {rules:?}");
        }
    }
});
