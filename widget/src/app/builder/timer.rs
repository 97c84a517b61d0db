//! An action's timer: none; after N seconds to days; a date field ± days at a time; yearly on a
//! field's day.
