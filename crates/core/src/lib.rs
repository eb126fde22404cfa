//! Patchline's pure domain core.
//!
//! Owns everything that can be decided without touching the outside world:
//! exact Debian and RPM version ordering, the patch and package model,
//! baseline evaluation into per-package compliance states, and schedule
//! expressions for maintenance windows. Nothing here performs I/O; callers
//! read files, talk to package managers and pass the bytes or values in.

pub mod baseline;
pub mod compliance;
pub mod orchestration;
pub mod os;
pub mod package;
pub mod schedule;
pub mod version;
