//! The axes' ticks and labels: dates for the time axis (days, or months for long ranges), round
//! values with thousands separators for the value axis. Pure arithmetic, tested without drawing.

pub const DAY_MS: i64 = 86_400_000;

/// A tick on the date axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTick {
    pub mts: i64,
    pub label: String,
}

/// At most `max` ticks between `from` and `to` (milliseconds, inclusive): every 1, 2, 7 or 14
/// days at the end of the labelled day (where that day's point is), else every 1, 2, 3, 6 or 12
/// months at the month's start, labelled `YYYY-MM` (`YYYY` yearly). When none falls inside, the
/// two ends.
pub fn date_ticks(from: i64, to: i64, max: usize) -> Vec<DateTick> {
    let max = max.max(2) as i64;
    let days = (to - from) / DAY_MS + 1;
    let mut ticks = Vec::new();
    if let Some(every) = [1i64, 2, 7, 14].into_iter().find(|k| days / k <= max) {
        let mut day = from.div_euclid(DAY_MS);
        day += (every - day.rem_euclid(every)) % every;
        while let Some(end) = day.checked_mul(DAY_MS).map(|s| s + DAY_MS - 1)
            && end <= to
            && ticks.len() <= max as usize
        {
            if end >= from {
                ticks.push(DateTick { mts: end, label: date_of(end) });
            }
            day += every;
        }
    } else {
        let months = days / 30 + 1;
        let every = [1i64, 2, 3, 6, 12]
            .into_iter()
            .find(|k| months / k <= max)
            .unwrap_or(12 * (months / max / 12 + 1));
        let (mut year, mut month) = year_month(from);
        // The first month start at or after `from` whose index is a multiple of `every`.
        while let Some(start) = month_start(year, month)
            && start <= to
            && ticks.len() <= max as usize
        {
            let index = year * 12 + month - 1;
            if start >= from && index % every == 0 {
                let label = match every % 12 {
                    0 => format!("{year:04}"),
                    _ => format!("{year:04}-{month:02}"),
                };
                ticks.push(DateTick { mts: start, label });
            }
            (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        }
    }
    if ticks.is_empty() {
        ticks.push(DateTick { mts: from, label: date_of(from) });
        if to > from {
            ticks.push(DateTick { mts: to, label: date_of(to) });
        }
    }
    ticks
}

fn date_of(mts: i64) -> String {
    jiff::Timestamp::from_millisecond(mts)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

fn year_month(mts: i64) -> (i64, i64) {
    jiff::Timestamp::from_millisecond(mts)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .map_or((1970, 1), |d| (i64::from(d.year()), i64::from(d.month())))
}

fn month_start(year: i64, month: i64) -> Option<i64> {
    let date = jiff::civil::Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, 1).ok()?;
    let zoned = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// Round values covering `low..=high`, about `target` of them, and how many decimals they need.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueTicks {
    pub values: Vec<f64>,
    pub decimals: usize,
}

pub fn value_ticks(low: f64, high: f64, target: usize) -> ValueTicks {
    let (low, high) = if high > low { (low, high) } else { (low - 1.0, low + 1.0) };
    let raw = (high - low) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    // The fewest decimals that show the step exactly (2.5 → 1, 0.25 → 2), at most 8.
    let decimals = (0..=8usize).find(|d| {
        let scaled = step * 10f64.powi(*d as i32);
        (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
    });
    let first = (low / step).floor() as i64;
    let last = (high / step).ceil() as i64;
    let values = (first..=last).take(100).map(|i| i as f64 * step).collect();
    ValueTicks { values, decimals: decimals.unwrap_or(8) }
}

/// `1234567.5` with 1 decimal → `1,234,567.5`; negatives with a minus sign.
pub fn format_value(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if let Some(frac) = frac {
        grouped.push('.');
        grouped.push_str(frac);
    }
    let zero = text.chars().all(|c| c == '0' || c == '.');
    match value < 0.0 && !zero {
        true => format!("−{grouped}"),
        false => grouped,
    }
}
