//! The Patchline control plane: the HTTP API (axum, rustls), the store
//! (SQLite by default, PostgreSQL for scale, one code path through sqlx's
//! `Any` driver), enrolment and node credentials, operator roles, the audit
//! log, and the compliance engine that evaluates each distinct inventory
//! once.

pub mod auth;
pub mod compliance;
pub mod store;
