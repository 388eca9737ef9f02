//! Medians and spreads over rounds.

/// The median (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Half the range as a percentage of the median: "±x%" covers every round.
pub fn spread_pct(values: &[f64]) -> f64 {
    let m = median(values);
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    if values.len() < 2 || m == 0.0 {
        return 0.0;
    }
    (hi - lo) / 2.0 / m * 100.0
}
