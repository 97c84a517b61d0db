//! Benchmark `timers`: being written.

fn main() {}
