//! Microbenchmarks of ringpoll's executor and reactor (criterion). Filled in below.

fn main() {}
