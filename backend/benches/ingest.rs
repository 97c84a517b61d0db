//! Benchmark `ingest`: being written.

fn main() {}
