//! Fuzz target `webhook_parse`: no input may make the parser of Kommo's incoming traffic panic.

#![no_main]

use kommo::incoming::{parse_account_webhook, parse_dp_request, parse_form};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_form(data);
    let _ = parse_account_webhook(data);
    let _ = parse_dp_request(None, data);
    let _ = parse_dp_request(Some("application/json"), data);
});
