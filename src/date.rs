//! Calendar dates written YYYY-MM-DD: validity, day arithmetic, and what
//! "today" is. Nothing here reads the clock or the environment: the CLI
//! passes them in.

/// Whether `s` is a real calendar date written YYYY-MM-DD.
pub fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[0..4].parse::<i64>(),
        s[5..7].parse::<u32>(),
        s[8..10].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Days since 1970-01-01 of a valid YYYY-MM-DD date (the inverse of
/// [`date_of_epoch`] on whole days).
pub fn days_of(s: &str) -> Option<i64> {
    if !valid_date(s) {
        return None;
    }
    let y: i64 = s[0..4].parse().ok()?;
    let m: i64 = s[5..7].parse().ok()?;
    let d: i64 = s[8..10].parse().ok()?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The UTC date of a Unix time, as YYYY-MM-DD.
pub fn date_of_epoch(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// "Today" (SPEC §2): `--today`, else `SOURCE_DATE_EPOCH` as a UTC date, else the clock.
pub fn today(
    flag: Option<&str>,
    source_date_epoch: Option<&str>,
    now_secs: i64,
) -> Result<String, String> {
    if let Some(t) = flag {
        return if valid_date(t) {
            Ok(t.to_string())
        } else {
            Err(format!("--today {t}: not a date (YYYY-MM-DD)"))
        };
    }
    if let Some(e) = source_date_epoch.filter(|e| !e.is_empty()) {
        return e
            .trim()
            .parse::<i64>()
            .map(date_of_epoch)
            .map_err(|_| format!("SOURCE_DATE_EPOCH={e}: not a number of seconds"));
    }
    Ok(date_of_epoch(now_secs))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
