//! The gallery of ready rules "New rule" offers, each built with the account's own pipelines and
//! users.
