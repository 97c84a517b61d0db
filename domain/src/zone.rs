//! The account's timezone, as the engine reads local dates and times in it.
//!
//! With the `tz` feature (on by default: the backend) a [`Zone`] is an IANA zone of chrono-tz's
//! database, exact for every date. The widget builds `domain` without it, so its wasm carries no
//! timezone database: there a zone is the table of UTC offsets ([`UtcOffsets`]) the backend puts
//! in the account's schema (`Schema::utc_offsets`, the years around now), enough to preview dates
//! and timers. Past either end of its table a zone keeps the offset in force at that end.

use std::fmt;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The UTC offsets of a zone over a span of time: the offset before the first change, then each
/// change (from that instant on, that offset).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UtcOffsets {
    /// Seconds east of UTC before the first change.
    pub initial: i32,
    /// `[unix seconds, seconds east of UTC]`: from that instant on, that offset; in time order.
    #[serde(default)]
    pub changes: Vec<(i64, i32)>,
}

impl UtcOffsets {
    /// The offset in force at an instant (unix seconds).
    fn at(&self, utc: i64) -> i32 {
        let after = self.changes.partition_point(|(at, _)| *at <= utc);
        match after {
            0 => self.initial,
            n => self.changes[n - 1].1,
        }
    }

    /// Each period as (start, end, offset): unbounded ends are `i64::MIN` / `i64::MAX`.
    fn periods(&self) -> impl Iterator<Item = (i64, i64, i32)> + '_ {
        let starts = std::iter::once((i64::MIN, self.initial)).chain(self.changes.iter().copied());
        let ends = self
            .changes
            .iter()
            .map(|(at, _)| *at)
            .chain(std::iter::once(i64::MAX));
        starts
            .zip(ends)
            .map(|((start, offset), end)| (start, end, offset))
    }
}

#[derive(Clone, PartialEq)]
enum Repr {
    #[cfg(feature = "tz")]
    Iana(chrono_tz::Tz),
    Offsets {
        name: String,
        offsets: UtcOffsets,
    },
}

/// A timezone: see the module's documentation. It is written and read in JSON as its IANA name.
#[derive(Clone, PartialEq)]
pub struct Zone(Repr);

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone::with_offsets("UTC", UtcOffsets::default())
    }

    /// A zone known by its table of offsets (without the `tz` feature, the only kind).
    pub fn with_offsets(name: impl Into<String>, offsets: UtcOffsets) -> Zone {
        Zone(Repr::Offsets {
            name: name.into(),
            offsets,
        })
    }

    /// The zone an account names, with the table of offsets its schema may carry: with `tz`, the
    /// database's zone of that name when there is one; otherwise the table (UTC without one).
    pub fn of_account(name: &str, offsets: Option<&UtcOffsets>) -> Zone {
        #[cfg(feature = "tz")]
        if let Some(zone) = Zone::named(name) {
            return zone;
        }
        match offsets {
            Some(offsets) => Zone::with_offsets(name, offsets.clone()),
            None => Zone::utc(),
        }
    }

    /// The zone's IANA name (`Europe/Berlin`).
    pub fn name(&self) -> &str {
        match &self.0 {
            #[cfg(feature = "tz")]
            Repr::Iana(tz) => tz.name(),
            Repr::Offsets { name, .. } => name,
        }
    }

    /// The offset from UTC in force at an instant.
    pub fn offset_at(&self, at: DateTime<Utc>) -> FixedOffset {
        match &self.0 {
            #[cfg(feature = "tz")]
            Repr::Iana(tz) => {
                use chrono::{Offset, TimeZone};
                tz.offset_from_utc_datetime(&at.naive_utc()).fix()
            }
            Repr::Offsets { offsets, .. } => fixed(offsets.at(at.timestamp())),
        }
    }

    /// The offsets a local date-time may have: one, two when clocks go back (the earlier
    /// instant first), none in the gap when clocks go forward.
    pub fn offset_from_local(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
        match &self.0 {
            #[cfg(feature = "tz")]
            Repr::Iana(tz) => {
                use chrono::{Offset, TimeZone};
                tz.offset_from_local_datetime(local).map(|o| o.fix())
            }
            Repr::Offsets { offsets, .. } => {
                let wall = local.and_utc().timestamp();
                let mut found = offsets.periods().filter_map(|(start, end, offset)| {
                    let utc = wall.checked_sub(i64::from(offset))?;
                    (start <= utc && utc < end).then_some(offset)
                });
                match (found.next(), found.next()) {
                    (None, _) => LocalResult::None,
                    (Some(one), None) => LocalResult::Single(fixed(one)),
                    // Periods come in time order, and the later instant has the smaller offset.
                    (Some(first), Some(second)) => {
                        let (early, late) = if first >= second {
                            (first, second)
                        } else {
                            (second, first)
                        };
                        LocalResult::Ambiguous(fixed(early), fixed(late))
                    }
                }
            }
        }
    }

    /// The zone of an IANA name (`Europe/Berlin`); `None` for a name the database lacks.
    #[cfg(feature = "tz")]
    pub fn named(name: &str) -> Option<Zone> {
        name.parse::<chrono_tz::Tz>().ok().map(Zone::from)
    }

    /// The zone's offsets from `from` to `to`: each change found to the second. Zones change at
    /// most once in six hours, so a change is looked for in each six-hour step, then bisected.
    #[cfg(feature = "tz")]
    pub fn utc_offsets(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> UtcOffsets {
        const STEP: i64 = 6 * 3600;
        let offset = |secs: i64| {
            DateTime::from_timestamp(secs, 0).map_or(0, |at| self.offset_at(at).local_minus_utc())
        };
        let (start, end) = (from.timestamp(), to.timestamp());
        let mut table = UtcOffsets {
            initial: offset(start),
            changes: Vec::new(),
        };
        let mut current = table.initial;
        let mut at = start;
        while at < end {
            let next = (at + STEP).min(end);
            let then = offset(next);
            if then != current {
                // The first second whose offset differs from `current`, within (at, next].
                let (mut lo, mut hi) = (at, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset(mid) == current {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                current = offset(hi);
                table.changes.push((hi, current));
                at = hi;
                continue;
            }
            at = next;
        }
        table
    }
}

#[cfg(feature = "tz")]
impl From<chrono_tz::Tz> for Zone {
    fn from(tz: chrono_tz::Tz) -> Zone {
        Zone(Repr::Iana(tz))
    }
}

fn fixed(seconds: i32) -> FixedOffset {
    FixedOffset::east_opt(seconds).unwrap_or(FixedOffset::east_opt(0).expect("UTC"))
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    /// With `tz`, a name the database lacks is refused. Without it, a zone read by name alone
    /// has no table yet and reads times as UTC: the widget gives it the schema's table
    /// ([`crate::schema::Schema::zone`]).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(deserializer)?;
        #[cfg(feature = "tz")]
        {
            Zone::named(&name)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown timezone {name:?}")))
        }
        #[cfg(not(feature = "tz"))]
        {
            Ok(Zone::with_offsets(name, UtcOffsets::default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    /// Berlin's table from 2024 to 2026 has its four changes, and reads every instant and local
    /// time (gaps and repeats included) exactly as the database does.
    #[cfg(feature = "tz")]
    #[test]
    fn a_table_of_offsets_reads_times_as_the_database_does() {
        let berlin = Zone::from(chrono_tz::Europe::Berlin);
        let offsets = berlin.utc_offsets(utc(2024, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0));
        assert_eq!(offsets.initial, 3600);
        assert_eq!(
            offsets.changes,
            vec![
                (utc(2024, 3, 31, 1, 0).timestamp(), 7200),
                (utc(2024, 10, 27, 1, 0).timestamp(), 3600),
                (utc(2025, 3, 30, 1, 0).timestamp(), 7200),
                (utc(2025, 10, 26, 1, 0).timestamp(), 3600),
            ]
        );
        let table = Zone::with_offsets("Europe/Berlin", offsets);
        let mut at = utc(2024, 1, 1, 0, 0);
        while at < utc(2026, 1, 1, 0, 0) {
            assert_eq!(table.offset_at(at), berlin.offset_at(at), "{at}");
            at += chrono::Duration::minutes(30);
        }
        for wall in [
            local(2024, 3, 31, 2, 30),  // the gap
            local(2024, 10, 27, 2, 30), // twice
            local(2025, 7, 1, 12, 0),
            local(2025, 12, 31, 23, 59),
        ] {
            assert_eq!(
                table.offset_from_local(&wall),
                berlin.offset_from_local(&wall),
                "{wall}"
            );
        }
        assert!(matches!(
            table.offset_from_local(&local(2024, 10, 27, 2, 30)),
            LocalResult::Ambiguous(early, late) if early.local_minus_utc() == 7200 && late.local_minus_utc() == 3600
        ));
    }

    #[test]
    fn past_its_table_a_zone_keeps_the_offset_at_that_end_and_is_written_as_its_name() {
        let zone = Zone::with_offsets(
            "Europe/Berlin",
            UtcOffsets {
                initial: 3600,
                changes: vec![(utc(2024, 3, 31, 1, 0).timestamp(), 7200)],
            },
        );
        assert_eq!(
            zone.offset_at(utc(1990, 1, 1, 0, 0)).local_minus_utc(),
            3600
        );
        assert_eq!(
            zone.offset_at(utc(2090, 1, 1, 0, 0)).local_minus_utc(),
            7200
        );
        assert_eq!(
            serde_json::to_string(&zone).unwrap(),
            "\"Europe/Berlin\"".to_string()
        );
        assert_eq!(
            Zone::utc()
                .offset_at(utc(2024, 6, 1, 0, 0))
                .local_minus_utc(),
            0
        );
    }
}
