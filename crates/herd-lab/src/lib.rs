//! herd-lab: offline science (evaluation, contamination, scaling laws, data
//! filtering). Its tools arrive with their own issues; until then the crate only fixes
//! its place in the dependency order (engine <- lab <- cli).
