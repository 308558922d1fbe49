//! `bantime.increment`: an address banned before is banned for longer.
//!
//! fail2ban counts each address's earlier bans (in its database) and
//! computes the next ban time from the jail's `bantime` and that count:
//! with `bantime.multipliers`, `bantime * factor * multipliers[count]`
//! (the last one repeating); otherwise the formula, by default
//! `bantime * 2^min(count, 20) * factor`, never below `bantime`; then
//! capped by `bantime.maxtime` and mixed with up to `bantime.rndtime`
//! random seconds. fail2ban evaluates formulas with Python's `eval`; we
//! never evaluate configuration text as code, so a custom formula other
//! than the default is refused with a message and the default is used.

/// fail2ban's default formula, the only one accepted.
pub const DEFAULT_FORMULA: &str = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";

#[derive(Clone, Debug, PartialEq)]
pub struct Increment {
    pub factor: f64,
    /// Empty: the formula.
    pub multipliers: Vec<f64>,
    pub max_time: Option<f64>,
    pub rnd_time: Option<f64>,
}

impl Default for Increment {
    fn default() -> Self {
        Increment {
            factor: 1.0,
            multipliers: Vec::new(),
            max_time: None,
            rnd_time: None,
        }
    }
}

impl Increment {
    /// The ban time for an address banned `count` times before, from the
    /// jail's `base` ban time; `random` is in [0, 1).
    pub fn ban_time(&self, base: f64, count: u32, random: f64) -> f64 {
        let mut t = if self.multipliers.is_empty() {
            let shift = count.min(20);
            (base * f64::from(1u32 << shift) * self.factor).max(base)
        } else {
            let i = (count as usize).min(self.multipliers.len() - 1);
            base * self.factor * self.multipliers[i]
        };
        if let Some(max) = self.max_time {
            t = t.min(max);
        }
        if let Some(r) = self.rnd_time {
            t += random * r;
        }
        t
    }
}

/// Reads `bantime.multipliers` (space-separated integers, as fail2ban).
pub fn parse_multipliers(text: &str) -> Result<Vec<f64>, String> {
    text.split_whitespace()
        .map(|w| {
            w.parse::<i64>()
                .map(|n| n as f64)
                .map_err(|_| format!("bantime.multipliers: {w:?} is not an integer"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_and_multipliers_like_fail2ban() {
        let d = Increment::default();
        assert_eq!(d.ban_time(600.0, 1, 0.0), 1200.0);
        assert_eq!(d.ban_time(600.0, 3, 0.0), 4800.0);
        assert_eq!(d.ban_time(600.0, 40, 0.0), 600.0 * f64::from(1u32 << 20));
        let half = Increment {
            factor: 0.25,
            ..Increment::default()
        };
        // Never below the base ban time.
        assert_eq!(half.ban_time(600.0, 1, 0.0), 600.0);
        let m = Increment {
            multipliers: parse_multipliers("1 5 30").expect("integers"),
            max_time: Some(10_000.0),
            rnd_time: Some(100.0),
            ..Increment::default()
        };
        assert_eq!(m.ban_time(600.0, 1, 0.0), 3000.0);
        assert_eq!(m.ban_time(600.0, 9, 0.0), 10_000.0);
        assert_eq!(m.ban_time(600.0, 0, 0.5), 650.0);
        assert!(parse_multipliers("1 x").is_err());
    }
}
