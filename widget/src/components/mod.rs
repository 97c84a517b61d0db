//! Pieces shared by the pages.

pub mod controls;
pub mod copy;
mod error_notice;
pub mod trace;

pub use error_notice::{ErrorNotice, ErrorNoticeProps};
